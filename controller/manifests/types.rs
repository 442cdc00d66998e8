/*! The resource model: `Template`, `Stack` and `Instance` of `devarch.io/v1alpha1`.

These types are the single source of truth for the JSON Schemas in `schemas/` and the
CustomResourceDefinitions in `crds/`. Raw documents are validated against those schemas
first (for located error messages), then deserialized into these types, which accept the
Compose-style short forms and normalise them into one canonical shape.

This file holds the documents and their metadata; the service fields they share live in
[`super::service`], ports and volumes (with their short forms) in [`super::ports`], bounded
quantities in [`super::quantity`], all re-exported here.
*/

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::ports::*;
pub use super::quantity::*;
pub use super::service::*;

/// The only API version this build understands.
pub const API_VERSION: &str = "devarch.io/v1alpha1";

/// `apiVersion` of every devarch resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// `devarch.io/v1alpha1`
    #[default]
    #[serde(rename = "devarch.io/v1alpha1")]
    V1Alpha1,
}

/// Standard object metadata, as in Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// Name of the resource: a DNS label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`).
    pub name: String,
    /// Free-form key/value labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// Free-form key/value annotations.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: IndexMap<String, String>,
}

macro_rules! kind_enum {
    ($name:ident, $variant:ident) => {
        #[doc = concat!("The `kind` of a ", stringify!($variant), ".")]
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
        )]
        pub enum $name {
            #[doc = concat!("`", stringify!($variant), "`")]
            #[default]
            $variant,
        }
    };
}
kind_enum!(TemplateKind, Template);
kind_enum!(StackKind, Stack);
kind_enum!(InstanceKind, Instance);

/// A reusable service definition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Template {
    /// Always `devarch.io/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Template`.
    pub kind: TemplateKind,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// The service definition.
    #[serde(default)]
    pub spec: TemplateSpec,
}

/// What a Template defines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TemplateSpec {
    /// One-line human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The service fields.
    #[serde(flatten)]
    pub service: ServiceSpec,
}

/// An isolated environment: a set of instances on their own network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Stack {
    /// Always `devarch.io/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Stack`.
    pub kind: StackKind,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// The stack definition.
    #[serde(default)]
    pub spec: StackSpec,
}

pub(super) fn default_true() -> bool {
    true
}

pub(super) fn is_true(b: &bool) -> bool {
    *b
}

pub(super) fn is_false(b: &bool) -> bool {
    !*b
}

/// What a Stack defines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackSpec {
    /// One-line human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `false` stops the stack's containers and deletes nothing.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Inline instances, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub instances: IndexMap<String, InstanceBody>,
    /// Explicit wires per consumer instance: `{consumer: {import: provider}}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub wires: IndexMap<String, IndexMap<String, String>>,
    /// `false`: instances that export `http` get no `{instance}.{stack}.localhost` name of
    /// their own (their `domains` still get routed).
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub default_domains: bool,
}

impl Default for StackSpec {
    fn default() -> Self {
        Self {
            description: None,
            enabled: true,
            instances: IndexMap::new(),
            wires: IndexMap::new(),
            default_domains: true,
        }
    }
}

/// One service of a stack, as a separate document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Instance {
    /// Always `devarch.io/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Instance`.
    pub kind: InstanceKind,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// Stack, template and overrides.
    pub spec: InstanceSpec,
}

/// What an Instance document defines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct InstanceSpec {
    /// The stack this instance belongs to.
    pub stack: String,
    /// Template and overrides.
    #[serde(flatten)]
    pub body: InstanceBody,
}

/// A template reference plus overrides; the value of `Stack.spec.instances.NAME`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct InstanceBody {
    /// The template this instance is built from (built-in or from the folder).
    pub template: String,
    /// Explicit wires: import name -> provider instance in the same stack.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub wires: IndexMap<String, String>,
    /// Overrides of template fields. Maps merge by key (`null` deletes a key),
    /// keyed lists merge by their natural key, scalars replace.
    #[serde(flatten)]
    pub overrides: ServiceSpec,
}
