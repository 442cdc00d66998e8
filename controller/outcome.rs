/*! What reconciling one stack came to, as a type: the controller's reconciler returns it,
[`crate::status`] turns it into conditions, the requeue policy decides on it. Failures are
[`crate::reconcile::ReconcileError`]s, not outcomes. */

use crate::plan::{Conflict, Summary};
use crate::reconcile::Skip;

/// The result of reconciling one stack that did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The engine already matched the manifests: nothing was done.
    UpToDate,
    /// A plan with changes was applied completely.
    Applied(Summary),
    /// The stack is gone from the manifests and its containers and network are gone from the
    /// engine (removed now, with this summary, or already). Its status and host port records
    /// are dropped; its volumes stay.
    Removed(Summary),
    /// Names (or host ports) the stack needs are held by objects devarch does not own: nothing
    /// was applied, and nothing of theirs was touched.
    Conflicts(Vec<Conflict>),
    /// The stack was left as it is, because of the manifests folder.
    Skipped(Skip),
    /// Watch runs with `--plan-only`: the plan was shown, not applied.
    PlanOnly(Summary),
}
