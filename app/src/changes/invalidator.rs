//! The invalidator: applies changes to this replica's caches, those made here
//! right after their commit and those made elsewhere as their notices arrive.
//!
//! A replica whose listener is not connected could miss a notice, so while
//! it is down every cache is told it is not trusted (and must not serve what
//! a notice could have made stale), and when it is back every cache forgets
//! everything once: notices sent in between are lost. Degraded speed, never
//! stale data.

use std::sync::Arc;
use std::time::Duration;

use super::{CHANNEL, Change};

/// How long the listener waits before reconnecting after a failure.
const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);

/// A cache that changes can make stale. Each cache decides which changes
/// concern it, so no writer needs to know which caches exist.
pub trait ChangeSink: Send + Sync {
    /// Drops whatever `change` made stale.
    fn apply(&self, change: &Change);
    /// Drops everything.
    fn forget_all(&self);
    /// Whether notices are known to arrive. While `false` the cache must not
    /// serve anything another replica's change could have made stale.
    fn set_trusted(&self, trusted: bool);
}

/// The caches of one replica, kept in step with every replica's changes.
pub struct Invalidator {
    sinks: Vec<Arc<dyn ChangeSink>>,
}

impl Invalidator {
    /// An invalidator over `sinks`, trusting them until [`Invalidator::listen`] says otherwise.
    pub fn new(sinks: Vec<Arc<dyn ChangeSink>>) -> Self {
        Self { sinks }
    }

    /// Applies changes committed through this replica.
    pub fn apply_all(&self, changes: &[Change]) {
        for change in changes {
            for sink in &self.sinks {
                sink.apply(change);
            }
        }
    }

    fn forget_all(&self) {
        for sink in &self.sinks {
            sink.forget_all();
        }
    }

    fn set_trusted(&self, trusted: bool) {
        for sink in &self.sinks {
            sink.set_trusted(trusted);
        }
    }

    /// Applies a notice another replica (or this one) sent.
    fn hear(&self, payload: &str) {
        match Change::decode(payload) {
            Some(change) => self.apply_all(std::slice::from_ref(&change)),
            None => {
                // Perhaps a newer release's kind of change: forgetting everything is always safe.
                tracing::warn!(payload, "unknown change notice; forgetting every cached entry");
                self.forget_all();
            }
        }
    }

    /// Listens on Postgres at `url` for every replica's notices until the
    /// invalidator is dropped. The caches are not trusted until the listener
    /// is connected, nor whenever it loses its connection.
    pub fn listen(self: &Arc<Self>, url: String) {
        self.set_trusted(false);
        let invalidator = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                match connect(&url).await {
                    Ok(mut listener) => {
                        let Some(live) = invalidator.upgrade() else { return };
                        live.forget_all();
                        live.set_trusted(true);
                        drop(live);
                        let lost = loop {
                            match listener.try_recv().await {
                                Ok(Some(notice)) => match invalidator.upgrade() {
                                    Some(live) => live.hear(notice.payload()),
                                    None => return,
                                },
                                Ok(None) => break "connection lost".to_owned(),
                                Err(err) => break err.to_string(),
                            }
                        };
                        tracing::warn!(reason = %lost, "change notices interrupted; caches off until reconnected");
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot listen for change notices; caches off"),
                }
                match invalidator.upgrade() {
                    Some(live) => live.set_trusted(false),
                    None => return,
                }
                tokio::time::sleep(RECONNECT_BACKOFF).await;
            }
        });
    }
}

async fn connect(url: &str) -> Result<sea_orm::sqlx::postgres::PgListener, sea_orm::sqlx::Error> {
    let mut listener = sea_orm::sqlx::postgres::PgListener::connect(url).await?;
    // Report a lost connection at once instead of silently reconnecting: notices
    // sent in between are gone, and the caches must hear about that.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl ChangeSink for Recorder {
        fn apply(&self, change: &Change) {
            self.0.lock().unwrap().push(change.encode());
        }
        fn forget_all(&self) {
            self.0.lock().unwrap().push("all".into());
        }
        fn set_trusted(&self, trusted: bool) {
            self.0.lock().unwrap().push(format!("trusted={trusted}"));
        }
    }

    #[test]
    fn every_sink_hears_every_change_and_unknown_notices_clear_everything() {
        let (a, b) = (Arc::new(Recorder::default()), Arc::new(Recorder::default()));
        let invalidator = Invalidator::new(vec![a.clone(), b.clone()]);
        invalidator.apply_all(&[Change::Tenant { tenant: "acme".into() }]);
        invalidator.hear("d:acme:glasses");
        invalidator.hear("z:from-the-future");
        for sink in [a, b] {
            assert_eq!(*sink.0.lock().unwrap(), ["t:acme", "d:acme:glasses", "all"]);
        }
    }
}
