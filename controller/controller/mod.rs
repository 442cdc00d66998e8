/*! Watch mode: the controller that keeps reconciling stacks as their manifests and the
engine change.

The generic mechanism lives in [`scheduler`] and knows nothing of stacks, manifests or
engines: one pending slot per key, delays, per-key backoff, at most one reconcile per key at
a time, a bound on parallel keys and graceful shutdown. The domain policy (what a key is, how
one is reconciled, when to retry) is passed in as closures.
*/

pub mod scheduler;
pub mod triggers;
pub mod watch;
