/*! The startup pass and the periodic resync of watch mode.

Both re-read the folder, observe the engine once and plan every stack from that snapshot
([`Reconciler::survey`]): only the stacks that are not up to date are scheduled, so a
converged folder costs one observation (three list calls) whatever the number of stacks. At
startup the stacks found up to date get their status; the resync also catches what file and
engine events missed (Podman sends no network events at all).
*/

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::reconciler::{Reconciler, Trigger};
use super::scheduler::Handle;

/// The startup pass: reads the folder, records the stacks found up to date and schedules the
/// others with [`Trigger::Startup`].
pub async fn startup(reconciler: &Arc<Reconciler>, handle: &Handle<String, Trigger>) {
    let r = reconciler.clone();
    let _ = tokio::task::spawn_blocking(move || r.rescan()).await;
    let survey = reconciler.survey().await;
    reconciler.record_up_to_date(&survey.up_to_date);
    for stack in survey.all.difference(&survey.up_to_date) {
        let _ = handle.schedule_now(stack.clone(), Trigger::Startup);
    }
}

/// Runs the periodic resync every `period` until `token` is cancelled: stacks whose manifests
/// changed (a missed file event) and stacks out of sync are scheduled with
/// [`Trigger::Resync`]. Each round ends with a debug line (target `devarch::resync`) counting
/// them, which tests wait on.
pub async fn run(
    reconciler: Arc<Reconciler>,
    handle: Handle<String, Trigger>,
    period: Duration,
    token: CancellationToken,
) {
    let start = tokio::time::Instant::now() + period;
    let mut tick = tokio::time::interval_at(start, period);
    loop {
        tokio::select! { _ = token.cancelled() => return, _ = tick.tick() => {} }
        let r = reconciler.clone();
        let changed = tokio::task::spawn_blocking(move || r.rescan())
            .await
            .unwrap_or_default();
        let survey = reconciler.survey().await;
        reconciler.record_up_to_date_if_stale(&survey.up_to_date);
        let due: Vec<&String> = survey.all.difference(&survey.up_to_date).collect();
        let (stacks, due_count) = (survey.all.len(), due.len());
        for stack in changed.iter().chain(due) {
            let _ = handle.schedule_now(stack.clone(), Trigger::Resync);
        }
        tracing::debug!(target: "devarch::resync", stacks, due = due_count, "resync done");
    }
}
