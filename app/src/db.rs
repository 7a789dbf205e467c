//! Database connection and the few helpers every data module shares.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, RuntimeErr, SqlErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use secrecy::ExposeSecret;

use crate::config::Settings;

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
        });
    Database::connect(options).await
}

/// Starts a transaction that will write. On SQLite it takes the write lock at
/// `BEGIN IMMEDIATE`, so concurrent writers queue on the busy timeout instead
/// of failing when a read transaction tries to upgrade; Postgres ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
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

/// The current time, truncated to microseconds so it round-trips through
/// Postgres and SQLite unchanged (responses then equal what a later read returns).
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}
