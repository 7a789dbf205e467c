//! Activation in batches: a replica that starts under load (a deploy, an
//! eviction) meets thousands of devices it has no actor for within a second.
//! Loading each alone costs three round trips per device and lets the
//! activation storm take every pooled connection while warm devices wait.
//!
//! Instead, activations queue here; a loader takes whatever has queued up
//! and reads every device's context and memory in three statements, with at
//! most [`LOADERS`] batches in flight, so activation never holds more than
//! that many connections. Concurrent activations of one device share one
//! load. Warm devices never come here.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

use crate::clock::Clock;
use crate::db::scope::DeviceScope;
use crate::devices::context::DeviceContext;
use crate::error::Error;
use crate::intents::model::ProductMemory;
use crate::telemetry::Metrics;
use crate::tenants::cache::TenantCache;

/// Most devices loaded in one batch.
const MAX_BATCH: usize = 256;
/// Batches loading at once: the most connections activation holds.
const LOADERS: usize = 2;
/// Queue length before activations wait for room.
const QUEUE: usize = 8_192;

/// A device as its new actor starts: who it is, what it remembers, and its
/// rate limit per minute.
#[derive(Debug, Clone)]
pub struct Activation {
    /// The device.
    pub device: DeviceContext,
    /// Its memory per product.
    pub memory: HashMap<String, ProductMemory>,
    /// The tenant's device limit per minute when it loaded.
    pub quota_per_minute: u32,
}

/// `None`: the device does not exist (any more).
type Reply = oneshot::Sender<Result<Option<Activation>, Error>>;

/// The handle the fleet uses to load devices for activation.
#[derive(Clone)]
pub struct ActivationLoader {
    queue: mpsc::Sender<(DeviceScope, Reply)>,
}

/// What a batch load reads from, and where it reports.
pub struct Sources {
    /// The database.
    pub db: DatabaseConnection,
    /// Tenant snapshots (limits, cooldowns).
    pub tenants: Arc<TenantCache>,
    /// Time for the memory's windows.
    pub clock: Clock,
    /// Batch sizes and durations.
    pub metrics: Arc<Metrics>,
}

impl ActivationLoader {
    /// Starts the loader on the current tokio runtime.
    pub fn spawn(sources: Sources) -> Self {
        let (queue, inbox) = mpsc::channel(QUEUE);
        tokio::spawn(run(Arc::new(sources), inbox));
        Self { queue }
    }

    /// Loads `device` for a new actor (with others queued meanwhile).
    pub async fn load(&self, device: DeviceScope) -> Result<Option<Activation>, Error> {
        let stopped = || Error::Unavailable("the activation loader stopped".into());
        let (reply, answer) = oneshot::channel();
        self.queue.send((device, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(sources: Arc<Sources>, inbox: mpsc::Receiver<(DeviceScope, Reply)>) {
    crate::db::batches::run_batches(inbox, MAX_BATCH, LOADERS, move |batch| {
        let sources = sources.clone();
        async move { answer(&sources, batch).await }
    })
    .await;
}

/// Loads one batch and answers every request in it.
async fn answer(sources: &Sources, batch: Vec<(DeviceScope, Reply)>) {
    let mut waiting: HashMap<(String, String), Vec<Reply>> = HashMap::new();
    let mut devices = Vec::new();
    for (scope, reply) in batch {
        let key = (scope.tenant().as_str().to_owned(), scope.device_id().to_owned());
        let replies = waiting.entry(key).or_default();
        if replies.is_empty() {
            devices.push(scope);
        }
        replies.push(reply);
    }
    let started = std::time::Instant::now();
    let loaded = load(sources, &devices).await;
    sources.metrics.activation_batch(devices.len(), started.elapsed().as_secs_f64());
    match loaded {
        Ok(mut loaded) => {
            for (key, replies) in waiting {
                let activation = loaded.remove(&key);
                for reply in replies {
                    let _ = reply.send(Ok(activation.clone()));
                }
            }
        }
        Err(err) => {
            tracing::warn!(error = ?err, devices = devices.len(), "activation batch failed");
            // Every waiter gets the batch's failure; a database that is away is a 503 for each.
            let unavailable = err.is_unavailable();
            for reply in waiting.into_values().flatten() {
                let each = if unavailable {
                    Error::Unavailable("the database is unreachable".into())
                } else {
                    Error::Internal(format!("activation failed: {err}"))
                };
                let _ = reply.send(Err(each));
            }
        }
    }
}

/// Every device's context, its tenant's snapshot (cached) and its memory.
async fn load(sources: &Sources, devices: &[DeviceScope]) -> Result<HashMap<(String, String), Activation>, Error> {
    let contexts = crate::devices::repo::contexts(&sources.db, devices).await?;
    let mut snapshots = HashMap::new();
    for context in contexts.values() {
        if !snapshots.contains_key(&context.tenant_id) {
            let snapshot = sources.tenants.get(&context.tenant_id).await?;
            snapshots.insert(context.tenant_id.clone(), snapshot);
        }
    }
    let cooldowns: Vec<(&DeviceContext, chrono::Duration)> = contexts
        .values()
        .filter_map(|d| {
            let limits = &snapshots.get(&d.tenant_id)?.limits;
            Some((d, chrono::Duration::seconds(i64::from(limits.cooldown_seconds))))
        })
        .collect();
    let mut memories = crate::detections::repo::load_memories(&sources.db, &cooldowns, sources.clock.now()).await?;
    let mut loaded = HashMap::with_capacity(contexts.len());
    for (key, device) in contexts {
        let Some(snapshot) = snapshots.get(&device.tenant_id) else { continue };
        let memory = memories.remove(&key).unwrap_or_default();
        loaded.insert(key, Activation { device, memory, quota_per_minute: snapshot.limits.device_per_minute });
    }
    Ok(loaded)
}
