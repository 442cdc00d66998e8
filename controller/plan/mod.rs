/*! Plan: a pure diff of desired against observed state, each action with a typed reason.

[`plan_stack`] and [`plan_removal`] decide everything from one snapshot of the engine; the
executor (`apply`) carries no decision logic. Output is deterministic (sorted by kind, then
name), so a plan can be compared as text.

- [`types`]: operations, reasons, conflicts, the per-stack plan and its summary counts;
- [`diff`]: the diff itself;
- [`access`]: the host binds and user of new containers, with their warnings;
- [`fingerprint`]: what a saved plan is checked against before it is applied;
- [`render`](mod@render): the Terraform-style text.
*/

pub mod access;
pub mod diff;
pub mod fingerprint;
pub mod render;
pub mod types;

pub use access::{Bind, HostAccess};
pub use diff::{plan_removal, plan_stack};
pub use render::render;
pub use types::{
    Action, ActionReason, ChangeKind, Conflict, ConflictKind, Op, PlanFile, PlanOptions, StackPlan,
    Summary,
};
