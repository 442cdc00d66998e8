/*! Manifests: load, parse and validate Stack, Instance and Template documents. */
pub mod diagnostics;
pub mod load;
pub mod ports;
pub mod quantity;
pub mod schema;
pub mod service;
pub mod types;
pub mod validate;
pub mod yaml;
