//! Database connection and the few helpers every data module shares.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, RuntimeErr, SqlErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use secrecy::ExposeSecret;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Settings;

pub mod batches;
pub mod retry;
pub mod scope;

/// Opens the connection pool for `settings.database_url`.
///
/// SQLite runs in WAL mode with `synchronous=FULL`, so an acknowledged write
/// survives a power cut, and waits up to five seconds for a busy writer.
pub async fn connect(settings: &Settings) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(settings.database_url.expose_secret().to_owned());
    options
        .max_connections(settings.db_max_connections)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                // Checkpoints run in the background (started by `startup::loop_services`),
                // not inside whichever commit happens to fill the WAL.
                .pragma("wal_autocheckpoint", "0")
                // 256 KiB of page cache per connection instead of SQLite's 2 MiB: the
                // kernel caches the file as well, and a pool of 2 MiB caches grew with
                // every device touched (measured with `replenish-load bench`).
                .pragma("cache_size", "-256")
        });
    Database::connect(options).await
}

/// Copies the WAL back into the SQLite database file without blocking
/// writers (a passive checkpoint). Does nothing on Postgres.
pub async fn checkpoint(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await?;
    }
    Ok(())
}

/// SQLite lets one connection write at a time, and a connection that finds the
/// lock taken backs off in sleeps of up to 100 ms. Writers of this process
/// queue here instead, one gate per database file, and are woken the moment
/// the previous one commits.
static SQLITE_WRITE_GATES: LazyLock<Mutex<HashMap<PathBuf, Arc<Semaphore>>>> = LazyLock::new(Mutex::default);

fn sqlite_gate(file: &Path) -> Arc<Semaphore> {
    let mut gates = SQLITE_WRITE_GATES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match gates.get(file) {
        Some(gate) => gate.clone(),
        None => gates.entry(file.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(1))).clone(),
    }
}

/// Waits for this process's turn to write to `db` (SQLite only; Postgres
/// needs no gate). Hold the permit until the write is committed.
pub async fn write_turn(db: &DatabaseConnection) -> Option<OwnedSemaphorePermit> {
    if db.get_database_backend() != DbBackend::Sqlite {
        return None;
    }
    let file = db.get_sqlite_connection_pool().connect_options();
    sqlite_gate(file.get_filename()).acquire_owned().await.ok()
}

/// A transaction that writes: on SQLite it holds the file's write turn until
/// it commits or is dropped.
pub struct WriteTxn {
    // Declared first so it is dropped (rolled back) before the turn is passed on.
    txn: DatabaseTransaction,
    _turn: Option<OwnedSemaphorePermit>,
}

impl WriteTxn {
    /// Commits, then lets the next writer in.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for WriteTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}

/// Starts a transaction that will write. On SQLite it first waits for the
/// process's write turn, then takes the write lock at `BEGIN IMMEDIATE`, so a
/// read transaction never has to upgrade; Postgres ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTxn, DbErr> {
    let turn = write_turn(db).await;
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    Ok(WriteTxn { txn, _turn: turn })
}

/// True when `err` is a unique-constraint violation (a concurrent insert won).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// True when retrying the whole transaction may succeed: a concurrent writer
/// won a uniqueness race, SQLite was busy, or Postgres aborted a serialization
/// or deadlock victim.
pub fn is_transient(err: &DbErr) -> bool {
    if is_unique_violation(err) {
        return true;
    }
    let (DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    let code = e.as_database_error().and_then(|d| d.code().map(|c| c.into_owned()));
    matches!(code.as_deref(), Some("5" | "6" | "261" | "262" | "517" | "40001" | "40P01"))
}

/// The system clock's time, truncated to microseconds so it round-trips
/// through Postgres and SQLite unchanged. For bookkeeping timestamps only:
/// decisions that depend on time (TTLs, cooldowns, expiry, grace) read the
/// injected [`crate::clock::Clock`] so tests can move it.
pub fn now() -> DateTime<Utc> {
    crate::clock::Clock::system().now()
}
