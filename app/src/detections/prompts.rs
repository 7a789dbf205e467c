//! Group commit for prompt candidates: device actors hand their candidates to
//! one writer task, which decides whatever has queued up in one transaction
//! ([`candidates::record_batch`]) and then answers each. A candidate costs a
//! share of a dozen statements instead of a dozen round trips of its own, and
//! the write turn (SQLite) or commit (Postgres) is paid once per batch.
//!
//! When a batch fails — most often a conflict with another replica writing
//! the same device — each of its candidates is decided again alone, with the
//! usual retries, so one candidate's conflict never fails the others.

use std::sync::Arc;
use std::time::Instant;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

use crate::db::retry::{CONTENDED_ATTEMPTS, failed_transiently, retry};
use crate::detections::candidates::{self, Candidate};
use crate::error::Error;
use crate::intents::model::DetectionResponse;
use crate::telemetry::Metrics;

/// Most candidates in one batch: the reads carry one condition per
/// candidate, and a few hundred keep every statement small.
const MAX_BATCH: usize = 256;
/// Queue length before callers wait for room (backpressure, not loss).
const QUEUE: usize = 4_096;

type Reply = oneshot::Sender<Result<DetectionResponse, Error>>;
/// A queued candidate and where its answer goes.
type Queued = (Candidate, Reply);

/// The handle device actors use to queue prompt candidates.
#[derive(Clone)]
pub struct PromptWriter {
    queue: mpsc::Sender<Queued>,
}

impl PromptWriter {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(db: DatabaseConnection, metrics: Arc<Metrics>) -> Self {
        let (queue, inbox) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, inbox, metrics));
        Self { queue }
    }

    /// Queues `candidate` and waits until its outcome is committed.
    pub async fn decide(&self, candidate: Candidate) -> Result<DetectionResponse, Error> {
        let stopped = || Error::Unavailable("the prompt writer stopped".into());
        let (reply, answer) = oneshot::channel();
        self.queue.send((candidate, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(db: DatabaseConnection, inbox: mpsc::Receiver<Queued>, metrics: Arc<Metrics>) {
    // Batches in flight at once hold distinct devices too: a device's actor
    // sends its next candidate only once the last one was answered.
    let in_flight = crate::db::batches::write_batches_in_flight(&db);
    crate::db::batches::run_batches(inbox, MAX_BATCH, in_flight, move |queued| {
        decide_batch(db.clone(), queued, metrics.clone())
    })
    .await;
}

/// Decides one batch and answers each candidate.
async fn decide_batch(db: DatabaseConnection, queued: Vec<Queued>, metrics: Arc<Metrics>) {
    let (batch, alone) = split_by_device(queued);
    for (candidate, reply) in alone {
        tokio::spawn(decide_alone(db.clone(), candidate, reply));
    }
    let (candidates, replies): (Vec<Candidate>, Vec<Reply>) = batch.into_iter().unzip();
    let started = Instant::now();
    let decided = candidates::record_batch(&db, &candidates).await;
    metrics.prompt_batch(candidates.len(), started.elapsed().as_secs_f64());
    match decided {
        Ok(answers) => {
            for (answer, reply) in answers.into_iter().zip(replies) {
                let _ = reply.send(Ok(answer));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, candidates = candidates.len(), "prompt batch failed; deciding each alone");
            for (candidate, reply) in candidates.into_iter().zip(replies) {
                tokio::spawn(decide_alone(db.clone(), candidate, reply));
            }
        }
    }
}

/// Splits the queue into a batch with one candidate per device and the rest.
/// A device's actor sends one candidate at a time, so the rest is empty
/// unless two replicas' worth of requests reached one process.
fn split_by_device(queued: Vec<Queued>) -> (Vec<Queued>, Vec<Queued>) {
    let mut seen = std::collections::HashSet::with_capacity(queued.len());
    queued.into_iter().partition(|(c, _)| seen.insert((c.device.tenant_id.clone(), c.device.device_id.clone())))
}

/// Decides one candidate in a transaction of its own, retrying conflicts.
async fn decide_alone(db: DatabaseConnection, candidate: Candidate, reply: Reply) {
    let one = std::slice::from_ref(&candidate);
    let decided = retry(CONTENDED_ATTEMPTS, failed_transiently, || candidates::record_batch(&db, one)).await;
    let answer = decided.and_then(|mut answers| answers.pop().ok_or_else(|| Error::Internal("no answer".into())));
    let _ = reply.send(answer);
}
