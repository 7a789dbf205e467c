//! The only SQL over `idempotency_keys`: claim a key, complete or release a
//! claim, prune lapsed keys. Every query names its principal (a tenant or
//! the admin), so one tenant's keys never meet another's.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::idempotency::entity::{self, Column, Entity};

/// Whose keys: a tenant's (its merchant API keys share them) or the platform admin's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A tenant, through its API keys.
    Tenant(TenantScope),
    /// The platform admin.
    Admin,
}

impl Principal {
    /// The `principal` column's value; tenant ids never contain ':', so no tenant is `admin`'s twin.
    fn column_value(&self) -> String {
        match self {
            Principal::Tenant(tenant) => format!("tenant:{}", tenant.as_str()),
            Principal::Admin => "admin".to_owned(),
        }
    }
}

/// What identifies a request under a key.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    /// Whose key.
    pub principal: Principal,
    /// The validated key.
    pub key: String,
    /// The request's method.
    pub method: String,
    /// The request's path and query.
    pub path: String,
    /// Hex SHA-256 of the request's body.
    pub fingerprint: String,
}

/// A response kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Replayed headers (`content-type`, `location`).
    pub headers: Vec<(String, String)>,
    /// The body, as sent.
    pub body: Vec<u8>,
}

/// A live key somebody else holds (or held).
#[derive(Debug, Clone)]
pub struct Existing {
    /// Method of the request that holds the key.
    pub method: String,
    /// Its path.
    pub path: String,
    /// Its body's fingerprint.
    pub fingerprint: String,
    /// Its response, once it finished; `None` while it is in progress.
    pub response: Option<StoredResponse>,
}

/// The outcome of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// This request holds the key now, under this claim id.
    Claimed(Uuid),
    /// The key is live and held by the request described.
    Existing(Existing),
}

/// Claims `request.key` for this request until `expires_at`, unless a live
/// row holds it: a finished one, or one in progress claimed after
/// `stale_before` (an older claim's request died with its replica and is taken over).
pub async fn claim(
    db: &impl ConnectionTrait,
    request: &KeyedRequest,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<Claim, Error> {
    let principal = request.principal.column_value();
    // Insert-if-absent, then read: of two racing requests exactly one inserts.
    // A lapsed row is replaced by a compare-and-set on its claim id; the loop
    // runs again only when the row changed under us, which ends quickly.
    for _ in 0..4 {
        let claim_id = Uuid::new_v4();
        let row = entity::ActiveModel {
            principal: Set(principal.clone()),
            idem_key: Set(request.key.clone()),
            claim_id: Set(claim_id),
            method: Set(request.method.clone()),
            path: Set(request.path.clone()),
            fingerprint: Set(request.fingerprint.clone()),
            status: Set(None),
            headers: Set(None),
            body: Set(None),
            created_at: Set(now),
            expires_at: Set(expires_at),
        };
        let inserted = Entity::insert(row)
            .on_conflict(OnConflict::columns([Column::Principal, Column::IdemKey]).do_nothing().to_owned())
            .exec_without_returning(db)
            .await;
        let inserted = match inserted {
            Ok(rows) => rows,
            Err(DbErr::RecordNotInserted) => 0,
            Err(err) => return Err(err.into()),
        };
        if inserted == 1 {
            return Ok(Claim::Claimed(claim_id));
        }
        let Some(held) = Entity::find_by_id((principal.clone(), request.key.clone())).one(db).await? else {
            continue;
        };
        let lapsed = held.expires_at <= now || (held.status.is_none() && held.created_at <= stale_before);
        if !lapsed {
            return Ok(Claim::Existing(existing(held)?));
        }
        let taken = Entity::update_many()
            .col_expr(Column::ClaimId, Expr::value(claim_id))
            .col_expr(Column::Method, Expr::value(request.method.clone()))
            .col_expr(Column::Path, Expr::value(request.path.clone()))
            .col_expr(Column::Fingerprint, Expr::value(request.fingerprint.clone()))
            .col_expr(Column::Status, Expr::value(Option::<i32>::None))
            .col_expr(Column::Headers, Expr::value(Option::<String>::None))
            .col_expr(Column::Body, Expr::value(Option::<Vec<u8>>::None))
            .col_expr(Column::CreatedAt, Expr::value(now))
            .col_expr(Column::ExpiresAt, Expr::value(expires_at))
            .filter(Column::Principal.eq(principal.clone()))
            .filter(Column::IdemKey.eq(request.key.clone()))
            .filter(Column::ClaimId.eq(held.claim_id))
            .exec(db)
            .await?;
        if taken.rows_affected == 1 {
            return Ok(Claim::Claimed(claim_id));
        }
    }
    Err(Error::Conflict {
        kind: "idempotency-key-in-progress",
        detail: "another request with this Idempotency-Key is being processed; retry shortly".into(),
    })
}

fn existing(row: entity::Model) -> Result<Existing, Error> {
    let response = match row.status {
        None => None,
        Some(status) => {
            let status = u16::try_from(status).map_err(|_| Error::Internal(format!("stored status {status}")))?;
            let headers = match &row.headers {
                Some(json) => serde_json::from_str(json)
                    .map_err(|err| Error::Internal(format!("stored idempotent headers: {err}")))?,
                None => Vec::new(),
            };
            Some(StoredResponse { status, headers, body: row.body.unwrap_or_default() })
        }
    };
    Ok(Existing { method: row.method, path: row.path, fingerprint: row.fingerprint, response })
}

/// Stores the response of the request holding `claim_id`; false when the
/// claim was lost meanwhile (taken over as stale).
pub async fn complete(
    db: &impl ConnectionTrait,
    principal: &Principal,
    key: &str,
    claim_id: Uuid,
    response: &StoredResponse,
) -> Result<bool, Error> {
    let headers = serde_json::to_string(&response.headers)
        .map_err(|err| Error::Internal(format!("idempotent headers: {err}")))?;
    let result = Entity::update_many()
        .col_expr(Column::Status, Expr::value(i32::from(response.status)))
        .col_expr(Column::Headers, Expr::value(headers))
        .col_expr(Column::Body, Expr::value(response.body.clone()))
        .filter(Column::Principal.eq(principal.column_value()))
        .filter(Column::IdemKey.eq(key))
        .filter(Column::ClaimId.eq(claim_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Gives the key back (the request failed with a 5xx or never finished), so a
/// retry runs again; only while this claim still holds it in progress.
pub async fn release(db: &impl ConnectionTrait, principal: &Principal, key: &str, claim_id: Uuid) -> Result<(), Error> {
    Entity::delete_many()
        .filter(Column::Principal.eq(principal.column_value()))
        .filter(Column::IdemKey.eq(key))
        .filter(Column::ClaimId.eq(claim_id))
        .filter(Column::Status.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes every tenant's and the admin's lapsed keys; how many.
pub async fn prune_all(db: &impl ConnectionTrait, _: AcrossTenants, now: DateTime<Utc>) -> Result<u64, Error> {
    let result = Entity::delete_many().filter(Column::ExpiresAt.lte(now)).exec(db).await?;
    Ok(result.rows_affected)
}

/// Deletes `tenant`'s lapsed keys (a dedicated tenant's app); how many.
pub async fn prune_tenant(db: &impl ConnectionTrait, tenant: &TenantScope, now: DateTime<Utc>) -> Result<u64, Error> {
    let principal = Principal::Tenant(tenant.clone()).column_value();
    let result = Entity::delete_many()
        .filter(Column::Principal.eq(principal))
        .filter(Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
