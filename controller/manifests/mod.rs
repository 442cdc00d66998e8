/*! Manifests: load, parse and validate Stack, Instance and Template documents.

[`load`] finds and parses the files ([`yaml`], checked against [`schema`]) into the resource
types ([`types`], with [`service`], [`ports`] and [`quantity`]); [`validate`] checks the whole
folder and builds the model resolve works from, with [`values`] catching what the engine would
refuse at apply and [`danger`] warning of risky host access; [`compose_hints`] says what to write for keys pasted from Compose; [`diagnostics`] carries every problem with its
file, line and column. */
pub mod bounded_pattern;
pub mod compose_hints;
pub mod danger;
pub mod diagnostics;
pub mod edit;
pub mod load;
pub mod ports;
pub mod quantity;
pub mod schema;
pub mod service;
pub mod splice;
pub mod types;
pub mod validate;
pub mod values;
pub mod yaml;
