//! Group commit for detections: concurrent requests hand their rows to one
//! writer task, which inserts whatever has queued up in a single statement and
//! transaction, then answers each request. A request is acknowledged only
//! after its row is committed; throughput grows with the batch size instead of
//! being capped by the database's commit rate.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::SecondsFormat;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::error::Error;
use crate::intents::entity::detection;
use crate::telemetry::Metrics;

/// Most rows in one batch (one JSON parameter of ~200 KB at most).
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

async fn run(db: DatabaseConnection, inbox: mpsc::Receiver<(detection::Model, Reply)>, metrics: Arc<Metrics>) {
    let in_flight = crate::db::batches::write_batches_in_flight(&db);
    crate::db::batches::run_batches(inbox, MAX_BATCH, in_flight, move |batch| {
        write_batch(db.clone(), batch, metrics.clone())
    })
    .await;
}

/// Inserts one batch and answers each of its requests.
async fn write_batch(db: DatabaseConnection, batch: Vec<(detection::Model, Reply)>, metrics: Arc<Metrics>) {
    let rows: Vec<&detection::Model> = batch.iter().map(|(row, _)| row).collect();
    let started = Instant::now();
    let written = insert(&db, &rows).await;
    metrics.detection_batch(rows.len(), started.elapsed().as_secs_f64());
    match written {
        Ok(inserted) => {
            for (row, reply) in batch {
                let key = (row.tenant_id, row.device_id, row.event_id);
                let _ = reply.send(Ok(if inserted.contains(&key) { Written::Inserted } else { Written::Duplicate }));
            }
        }
        Err(err) => {
            tracing::error!(error = %err, rows = batch.len(), "detection batch failed");
            for (_, reply) in batch {
                let _ = reply.send(Err(err.to_string()));
            }
        }
    }
}

type Key = (String, String, String);

/// One statement text per backend whatever the batch size, so it is prepared
/// once per connection: the rows travel as one JSON array parameter.
/// (`WHERE true` lets SQLite tell the upsert's `ON CONFLICT` from a join's `ON`.)
const INSERT_SQLITE: &str = "INSERT INTO detections \
    (tenant_id, device_id, event_id, product_id, reason, intent_id, response, created_at) \
    SELECT value ->> '$.tenant_id', value ->> '$.device_id', value ->> '$.event_id', value ->> '$.product_id', \
    value ->> '$.reason', unhex(replace(value ->> '$.intent_id', '-', '')), value ->> '$.response', \
    value ->> '$.created_at' \
    FROM json_each(?) WHERE true \
    ON CONFLICT (tenant_id, device_id, event_id) DO NOTHING \
    RETURNING tenant_id, device_id, event_id";
const INSERT_POSTGRES: &str = "INSERT INTO detections \
    (tenant_id, device_id, event_id, product_id, reason, intent_id, response, created_at) \
    SELECT tenant_id, device_id, event_id, product_id, reason, intent_id, response, created_at \
    FROM json_to_recordset($1::json) AS r(tenant_id text, device_id text, event_id text, product_id text, \
    reason text, intent_id uuid, response text, created_at timestamptz) \
    ON CONFLICT (tenant_id, device_id, event_id) DO NOTHING \
    RETURNING tenant_id, device_id, event_id";

/// A row as the JSON parameter carries it.
#[derive(Serialize)]
struct JsonRow<'a> {
    tenant_id: &'a str,
    device_id: &'a str,
    event_id: &'a str,
    product_id: Option<&'a str>,
    reason: &'a str,
    intent_id: Option<Uuid>,
    response: &'a str,
    /// The text form sqlx itself writes to SQLite, so reads and range filters agree.
    created_at: String,
}

/// One `INSERT … SELECT FROM <json rows> ON CONFLICT DO NOTHING RETURNING`
/// key columns: the keys returned are the rows inserted; the rest were
/// duplicates (also within the batch itself, where the first occurrence wins).
async fn insert(db: &DatabaseConnection, rows: &[&detection::Model]) -> Result<HashSet<Key>, DbErr> {
    let json: Vec<JsonRow<'_>> = rows
        .iter()
        .map(|row| JsonRow {
            tenant_id: &row.tenant_id,
            device_id: &row.device_id,
            event_id: &row.event_id,
            product_id: row.product_id.as_deref(),
            reason: &row.reason,
            intent_id: row.intent_id,
            response: &row.response,
            created_at: row.created_at.to_rfc3339_opts(SecondsFormat::AutoSi, false),
        })
        .collect();
    let json = serde_json::to_string(&json).map_err(|e| DbErr::Custom(format!("detection batch as JSON: {e}")))?;
    let backend = db.get_database_backend();
    let sql = if backend == DbBackend::Postgres { INSERT_POSTGRES } else { INSERT_SQLITE };
    let statement = Statement::from_sql_and_values(backend, sql, [json.into()]);
    // On SQLite the batch waits for the write turn like any other writer.
    let _turn = crate::db::write_turn(db).await;
    let returned = db.query_all_raw(statement).await?;
    let mut inserted = HashSet::with_capacity(returned.len());
    for row in returned {
        inserted.insert((
            row.try_get::<String>("", "tenant_id")?,
            row.try_get::<String>("", "device_id")?,
            row.try_get::<String>("", "event_id")?,
        ));
    }
    Ok(inserted)
}
