/*! The config hash of a desired container.

Each container-affecting field of the [`ContainerSpec`] (and the resolved environment, and the
config files) is hashed on its own; the per-field hashes go into the `devarch.config_fields`
label and their combination, with [`HASH_VERSION`], into `devarch.config_hash`. A plan compares
the hash to decide on a recreate and the per-field hashes to say which fields force it.
Bumping [`HASH_VERSION`] is the only thing that recreates everything after an upgrade, so what
goes into the hash must not change otherwise.
*/

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::desired::MaterializedFile;
use crate::identity::{LABEL_CONFIG_FIELDS, LABEL_CONFIG_HASH, LABEL_LIMITS};
use crate::runtime::ContainerSpec;
use crate::state::secrets::HashKey;

/// Version of the hash format; part of every config hash.
pub const HASH_VERSION: &str = "1";

fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Per-field hashes (12 hex characters each) of everything in a spec that affects the
/// container: every serialized field of the spec but its labels, the labels without the two
/// hash labels, the environment (secret values included, so a changed secret recreates the
/// container; only hashes are ever shown), and the config files' paths, contents and modes.
///
/// With `key` (an environment that holds a secret value) the environment's hash is an
/// HMAC under it: the hash labels go into shared outputs (compose, kube), and an unkeyed hash
/// of a weak secret could be checked against guesses offline.
pub fn field_hashes(
    spec: &ContainerSpec,
    files: &[MaterializedFile],
    key: Option<&HashKey>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let value = serde_json::to_value(spec).expect("a container spec serializes");
    if let serde_json::Value::Object(fields) = value {
        for (k, v) in fields {
            if k == "labels" {
                continue;
            }
            out.insert(k, hash_hex(v.to_string().as_bytes())[..12].to_string());
        }
    }
    let labels: BTreeMap<&String, &String> = spec
        .labels
        .iter()
        .filter(|(k, _)| {
            ![LABEL_CONFIG_HASH, LABEL_CONFIG_FIELDS, LABEL_LIMITS].contains(&k.as_str())
        })
        .collect();
    out.insert(
        "labels".into(),
        hash_hex(
            serde_json::to_string(&labels)
                .expect("labels serialize")
                .as_bytes(),
        )[..12]
            .to_string(),
    );
    let mut env = Vec::new();
    for (k, v) in &spec.env {
        env.extend_from_slice(k.as_bytes());
        env.push(0);
        env.extend_from_slice(v.as_bytes());
        env.push(0);
    }
    let env_hash = match key {
        Some(key) => key.sign_hex(&env),
        None => hash_hex(&env),
    };
    out.insert("env".into(), env_hash[..12].to_string());
    let mut f = Sha256::new();
    for file in files {
        f.update(file.host_path.display().to_string().as_bytes());
        f.update([0]);
        f.update(file.content.as_bytes());
        f.update(file.mode.to_be_bytes());
    }
    out.insert(
        "configFiles".into(),
        hex::encode(f.finalize())[..12].to_string(),
    );
    out
}

/// The `devarch.config_hash` value of some per-field hashes: `v{HASH_VERSION}-` and 32 hex
/// characters.
pub fn combine(fields: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(HASH_VERSION.as_bytes());
    for (k, v) in fields {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update(b";");
    }
    format!("v{HASH_VERSION}-{}", &hex::encode(h.finalize())[..32])
}
