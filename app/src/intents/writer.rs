//! Group commit for detections: concurrent requests hand their rows to one
//! writer task, which inserts whatever has queued up in a single statement and
//! transaction, then answers each request. A request is acknowledged only
//! after its row is committed; throughput grows with the batch size instead of
//! being capped by the database's commit rate.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use sea_orm::sea_query::{OnConflict, Query, Returning};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Iden};
use tokio::sync::{mpsc, oneshot};

use crate::error::Error;
use crate::intents::entity::detection;
use crate::telemetry::Metrics;

/// Most rows in one batch (8 bind parameters each, far below every backend's limit).
const MAX_BATCH: usize = 512;
/// Queue length before callers wait for room (backpressure, not loss).
const QUEUE: usize = 8_192;

/// What became of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Committed.
    Inserted,
    /// A row with the same (tenant, device, event id) already existed.
    Duplicate,
}

type Reply = oneshot::Sender<Result<Written, String>>;

/// The handle requests use to queue detection rows.
#[derive(Clone)]
pub struct DetectionWriter {
    queue: mpsc::Sender<(detection::Model, Reply)>,
}

impl DetectionWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(db: DatabaseConnection, metrics: Arc<Metrics>) -> Self {
        let (queue, inbox) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, inbox, metrics));
        Self { queue }
    }

    /// Queues `row` and waits until it is committed (or found to be a duplicate).
    pub async fn write(&self, row: detection::Model) -> Result<Written, Error> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((row, reply)).await.map_err(|_| Error::Unavailable("the detection writer stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Unavailable("the detection writer stopped".into()))?
            .map_err(|e| Error::Unavailable(format!("detections could not be written: {e}")))
    }
}

async fn run(db: DatabaseConnection, mut inbox: mpsc::Receiver<(detection::Model, Reply)>, metrics: Arc<Metrics>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while inbox.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<&detection::Model> = batch.iter().map(|(row, _)| row).collect();
        let started = Instant::now();
        let written = insert(&db, &rows).await;
        metrics.detection_batch(rows.len(), started.elapsed().as_secs_f64());
        match written {
            Ok(inserted) => {
                for (row, reply) in batch.drain(..) {
                    let key = (row.tenant_id, row.device_id, row.event_id);
                    let _ =
                        reply.send(Ok(if inserted.contains(&key) { Written::Inserted } else { Written::Duplicate }));
                }
            }
            Err(err) => {
                tracing::error!(error = %err, rows = batch.len(), "detection batch failed");
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Err(err.to_string()));
                }
            }
        }
    }
}

type Key = (String, String, String);

/// One multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING` key columns: the
/// keys returned are the rows inserted; the rest were duplicates (also within
/// the batch itself, where the first occurrence wins).
async fn insert(db: &DatabaseConnection, rows: &[&detection::Model]) -> Result<HashSet<Key>, DbErr> {
    use detection::Column as C;
    let mut statement = Query::insert();
    statement
        .into_table(detection::Entity)
        .columns([
            C::TenantId,
            C::DeviceId,
            C::EventId,
            C::ProductId,
            C::Reason,
            C::IntentId,
            C::Response,
            C::CreatedAt,
        ])
        .on_conflict(OnConflict::columns([C::TenantId, C::DeviceId, C::EventId]).do_nothing().to_owned())
        .returning(Returning::new().columns([C::TenantId, C::DeviceId, C::EventId]));
    for row in rows {
        statement.values_panic([
            row.tenant_id.clone().into(),
            row.device_id.clone().into(),
            row.event_id.clone().into(),
            row.product_id.clone().into(),
            row.reason.clone().into(),
            row.intent_id.into(),
            row.response.clone().into(),
            row.created_at.into(),
        ]);
    }
    // On SQLite the batch waits for the write turn like any other writer.
    let _turn = crate::db::write_turn(db).await;
    let returned = db.query_all(&statement).await?;
    let mut inserted = HashSet::with_capacity(returned.len());
    for row in returned {
        inserted.insert((
            row.try_get::<String>("", &C::TenantId.to_string())?,
            row.try_get::<String>("", &C::DeviceId.to_string())?,
            row.try_get::<String>("", &C::EventId.to_string())?,
        ));
    }
    Ok(inserted)
}
