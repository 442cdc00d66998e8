/*! devarch: a Kubernetes-operator-style reconciliation controller for local container runtimes.

The reconcile pipeline shows in the modules: [`manifests`] (load, parse, validate) →
[`resolve`] (templates, overrides, wiring → the pure desired state, given what
[`allocate`] decided: secret values and host ports under `--home`) → [`observe`] (one snapshot
of the runtime) → [`plan`] (pure diff, typed reasons) → [`apply`] (execute) → [`outcome`] and
[`status`] (what a reconcile came to, as conditions). [`reconcile`] chains them for the CLI and
the controller; [`watch`] is the controller loop (generic scheduler, triggers, reconciler),
whose outputs go to a [`sink`]. [`runtime`] holds the engine backends behind one trait;
[`identity`] spells every runtime name and label; [`catalog`] holds the built-in templates;
[`state`] is what lives under `--home`; [`workspace`] runs the first stages for a folder;
[`errors`] prints error chains; [`safe_fs`] is the one way a file is written; [`printable`] the one way input text reaches a terminal; [`timestamp`] the one way a time is written; [`cli`] is the thin layer on top.
*/
#![deny(missing_docs)]

pub mod allocate;
pub mod api;
pub mod apply;
pub mod catalog;
pub mod cli;
pub mod compose;
pub mod compose_import;
pub mod describe;
pub mod errors;
pub mod export;
pub mod folder_edit;
pub mod identity;
pub mod import;
pub mod kube;
pub mod manifests;
pub mod observe;
pub mod outcome;
pub mod plan;
pub mod printable;
pub mod reconcile;
pub mod resolve;
pub mod router;
pub mod runtime;
pub mod safe_fs;
pub mod sink;
pub mod state;
pub mod status;
pub mod swarm;
pub mod timestamp;
pub mod watch;
pub mod workspace;
