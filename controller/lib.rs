/*! devarch: a Kubernetes-operator-style reconciliation controller for local container runtimes.

The reconcile pipeline shows in the modules: [`manifests`] (load, parse, validate) →
[`resolve`] (templates, overrides, wiring → desired state); [`identity`] spells every
runtime name and label; [`catalog`] holds the built-in templates; [`workspace`] runs the
first stages for a folder; [`cli`] is the thin command-line layer on top.
*/
#![warn(missing_docs)]

pub mod catalog;
pub mod cli;
pub mod identity;
pub mod manifests;
pub mod resolve;
pub mod workspace;
