//! The loop behind every group commit and batched load: take whatever has
//! queued up (at most a batch), hand it to a worker, and keep at most a few
//! batches in flight, so work arriving while one batch runs forms the next.

use std::future::Future;
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::{Semaphore, mpsc};

/// How many write batches may run at once on `db`: Postgres commits several
/// concurrently (one WAL flush serves them all), so a batch need not wait for
/// the previous one's commit; SQLite has a single writer, and batches there
/// would only queue for its write turn and come out smaller.
pub fn write_batches_in_flight(db: &DatabaseConnection) -> usize {
    if db.get_database_backend() == DbBackend::Postgres { 4 } else { 1 }
}

/// Runs `handle` on each batch of up to `max` queued items, with at most
/// `in_flight` batches running at once, until every sender is gone.
pub async fn run_batches<T, F, Fut>(mut inbox: mpsc::Receiver<T>, max: usize, in_flight: usize, handle: F)
where
    T: Send + 'static,
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(in_flight.max(1)));
    loop {
        // A free slot first: items keep queueing meanwhile and the next batch takes them all.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut batch = Vec::with_capacity(max);
        if inbox.recv_many(&mut batch, max).await == 0 {
            return;
        }
        let work = handle(batch);
        tokio::spawn(async move {
            work.await;
            drop(slot);
        });
    }
}
