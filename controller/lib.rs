/*! devarch: a Kubernetes-operator-style reconciliation controller for local container runtimes.

The reconcile pipeline shows in the modules: [`manifests`] (load, parse, validate) →
[`resolve`] (templates, overrides, wiring, secrets → desired state) → [`observe`] (one
snapshot of the runtime) → [`plan`] (pure diff, typed reasons) → [`apply`] (execute).
[`runtime`] holds the engine backends behind one trait; [`identity`] spells every runtime
name and label; [`catalog`] holds the built-in templates; [`state`] is what lives under
`--home`; [`workspace`] runs the first stages for a folder; [`cli`] is the thin layer on top.
*/
#![warn(missing_docs)]

pub mod apply;
pub mod catalog;
pub mod cli;
pub mod controller;
pub mod identity;
pub mod manifests;
pub mod observe;
pub mod plan;
pub mod reconcile;
pub mod resolve;
pub mod runtime;
pub mod state;
pub mod status;
pub mod workspace;
