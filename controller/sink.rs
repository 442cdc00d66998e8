/*! Where the controller's outputs go: plans before they are applied, apply progress, and
status changes. The caller chooses the sink — the CLI prints plans to stdout and progress to
its log; the HTTP API's event stream will subscribe to the same calls. Nothing inside the
controller prints. */

use crate::apply::Progress;
use crate::plan::StackPlan;
use crate::status::StackStatus;

/// A consumer of the controller's outputs. Called from reconcile tasks, possibly
/// concurrently for different stacks: be quick. Never given secret values.
pub trait Sink: Progress {
    /// A plan with changes (or conflicts) of `stack`, before it is applied; `why` lists what
    /// enqueued the stack ("manifests changed, engine event die").
    fn plan(&self, stack: &str, why: &str, plan: &StackPlan);

    /// `stack`'s status changed (it has just been written under `--home`); `None` when its
    /// status was dropped (the stack is gone).
    fn status(&self, _stack: &str, _status: Option<&StackStatus>) {}
}

/// A sink that drops everything (benchmarks, tests, embedding without output).
pub struct Discard;

impl Progress for Discard {
    fn event(&self, _e: &crate::apply::Event) {}
}

impl Sink for Discard {
    fn plan(&self, _stack: &str, _why: &str, _plan: &StackPlan) {}
}
