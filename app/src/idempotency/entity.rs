//! The `idempotency_keys` table: one row per `Idempotency-Key` of one caller.

use sea_orm::entity::prelude::*;

/// A key, in progress (`status` NULL) or holding the response to replay.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// Whose key: `tenant:<id>` or `admin`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub principal: String,
    /// The client's key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idem_key: String,
    /// Which request holds the key, so only it completes or releases the row.
    pub claim_id: Uuid,
    /// Method of the first request.
    pub method: String,
    /// Path (and query) of the first request.
    pub path: String,
    /// Hex SHA-256 of the first request's body.
    pub fingerprint: String,
    /// The stored response's status; NULL while in progress.
    pub status: Option<i32>,
    /// The stored response's replayed headers, a JSON array of `[name, value]`.
    pub headers: Option<String>,
    /// The stored response's body.
    pub body: Option<Vec<u8>>,
    /// When the key was (last) claimed.
    pub created_at: DateTimeUtc,
    /// When the key lapses and may be reused.
    pub expires_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
