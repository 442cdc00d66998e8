/*! Manifests: load, parse and validate Stack, Instance and Template documents. */
pub mod diagnostics;
pub mod load;
pub mod schema;
pub mod types;
pub mod validate;
pub mod yaml;
