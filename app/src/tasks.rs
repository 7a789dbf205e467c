//! Background tasks that run for as long as their owner lives.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Runs `tick` every `period` on the current tokio runtime for as long as
/// `owner` lives; the task ends once the owner is dropped.
pub fn spawn_periodic<T, F, Fut>(owner: &Arc<T>, period: Duration, tick: F)
where
    T: Send + Sync + 'static,
    F: Fn(Arc<T>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let owner = Arc::downgrade(owner);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        loop {
            ticker.tick().await;
            let Some(live) = owner.upgrade() else { return };
            tick(live).await;
        }
    });
}

/// Background work that lasts as long as this value: the application state
/// holds it, so the sweeper and friends stop when the application does.
#[derive(Debug, Default)]
pub struct TaskScope(Arc<()>);

impl TaskScope {
    /// Runs `tick` every `period` until the scope is dropped.
    pub fn every<F, Fut>(&self, period: Duration, tick: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        spawn_periodic(&self.0, period, move |_| tick());
    }
}
