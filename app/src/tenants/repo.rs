//! Tenant and API-key queries. Only this module writes SQL for them.

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::auth::{TokenKind, issue_token};
use crate::db::{is_unique_violation, now};
use crate::devices;
use crate::error::Error;
use crate::http::{PageRequest, ResourceId};
use crate::tenants::entity::{api_key, tenant};
use crate::tenants::model::TenantViewExt as _;
use crate::tenants::model::{RotateKeyRequest, RotatedKey, TenantSpec, TenantView};

/// What an idempotent tenant upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// A new tenant (or a deactivated one brought back) with a new API key.
    Issued,
    /// The stored tenant was changed.
    Updated,
    /// The stored tenant already matched.
    Unchanged,
}

/// Creates, updates or reactivates tenant `id` to match `spec`.
///
/// A reconciler may call this again and again: the same spec changes nothing
/// and issues no key. Creating a tenant, or reactivating a deactivated one,
/// issues a fresh API key (old keys stay revoked).
pub async fn upsert(
    db: &DatabaseConnection,
    id: &ResourceId,
    spec: &TenantSpec,
) -> Result<(UpsertOutcome, TenantView), Error> {
    match try_upsert(db, id, spec).await {
        // Two creators raced on the primary key: the loser now sees the row and updates it.
        Err(Error::Database(err)) if is_unique_violation(&err) => try_upsert(db, id, spec).await,
        other => other,
    }
}

async fn try_upsert(
    db: &DatabaseConnection,
    id: &ResourceId,
    spec: &TenantSpec,
) -> Result<(UpsertOutcome, TenantView), Error> {
    let limits = serde_json::to_string(&spec.limits).map_err(|e| Error::Internal(e.to_string()))?;
    let display_name = spec.display_name.trim().to_owned();
    let txn = crate::db::begin_write(db).await?;
    let existing = tenant::Entity::find_by_id(id.as_str()).one(&txn).await?;
    let now = now();
    let (outcome, model, key) = match existing {
        None => {
            let model = tenant::ActiveModel {
                id: Set(id.to_string()),
                display_name: Set(display_name),
                plan: Set(spec.plan.as_str().to_owned()),
                limits: Set(limits),
                active: Set(true),
                created_at: Set(now),
                updated_at: Set(now),
                deactivated_at: Set(None),
            }
            .insert(&txn)
            .await?;
            let key = insert_api_key(&txn, id.as_str()).await?;
            (UpsertOutcome::Issued, model, Some(key))
        }
        Some(current) => {
            let unchanged = current.active
                && current.display_name == display_name
                && current.plan == spec.plan.as_str()
                && current.limits == limits;
            if unchanged {
                (UpsertOutcome::Unchanged, current, None)
            } else {
                let reactivating = !current.active;
                let mut active: tenant::ActiveModel = current.into();
                active.display_name = Set(display_name);
                active.plan = Set(spec.plan.as_str().to_owned());
                active.limits = Set(limits);
                active.active = Set(true);
                active.updated_at = Set(now);
                let model = active.update(&txn).await?;
                if reactivating {
                    let key = insert_api_key(&txn, id.as_str()).await?;
                    (UpsertOutcome::Issued, model, Some(key))
                } else {
                    (UpsertOutcome::Updated, model, None)
                }
            }
        }
    };
    txn.commit().await?;
    let mut view = TenantView::from_model(&model)?;
    view.api_key = key;
    Ok((outcome, view))
}

async fn insert_api_key(db: &impl ConnectionTrait, tenant_id: &str) -> Result<String, Error> {
    let token = issue_token(TokenKind::Tenant);
    api_key::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(tenant_id.to_owned()),
        token_hash: Set(token.hash),
        created_at: Set(now()),
        expires_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(token.secret.expose_secret().to_owned())
}

/// One tenant, active or not.
pub async fn get(db: &DatabaseConnection, id: &ResourceId) -> Result<TenantView, Error> {
    let model = tenant::Entity::find_by_id(id.as_str()).one(db).await?.ok_or(Error::NotFound("tenant"))?;
    TenantView::from_model(&model)
}

/// A page of tenants ordered by id.
pub async fn list(db: &DatabaseConnection, page: &PageRequest) -> Result<Vec<TenantView>, Error> {
    let mut query = tenant::Entity::find().order_by_asc(tenant::Column::Id);
    if let Some(after) = &page.after {
        query = query.filter(tenant::Column::Id.gt(after.as_str()));
    }
    query.limit(page.limit + 1).all(db).await?.iter().map(TenantView::from_model).collect()
}

/// Whether tenant `id` exists and is active; 404 / 409 otherwise.
pub async fn require_active(db: &impl ConnectionTrait, id: &str) -> Result<(), Error> {
    match tenant::Entity::find_by_id(id).one(db).await? {
        None => Err(Error::NotFound("tenant")),
        Some(t) if !t.active => Err(Error::Conflict {
            kind: "tenant-deactivated",
            detail: format!("tenant {id} is deactivated; PUT it again to reactivate"),
        }),
        Some(_) => Ok(()),
    }
}

/// Issues a new API key; the previous ones stop at once or after the grace period.
pub async fn rotate_api_key(
    db: &DatabaseConnection,
    id: &ResourceId,
    request: &RotateKeyRequest,
) -> Result<RotatedKey, Error> {
    let txn = crate::db::begin_write(db).await?;
    require_active(&txn, id.as_str()).await?;
    let now = now();
    let cutoff = now + Duration::seconds(i64::from(request.grace_period_seconds));
    let live = api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(id.as_str()))
        .filter(api_key::Column::RevokedAt.is_null())
        .all(&txn)
        .await?;
    for key in live {
        // A grace period can only shorten a key's life, never extend an earlier one.
        let expires = key.expires_at.map_or(cutoff, |e| e.min(cutoff));
        let mut active: api_key::ActiveModel = key.into();
        if request.grace_period_seconds == 0 {
            active.revoked_at = Set(Some(now));
        } else {
            active.expires_at = Set(Some(expires));
        }
        active.update(&txn).await?;
    }
    let api_key = insert_api_key(&txn, id.as_str()).await?;
    crate::auth::credentials::announce_change(&txn, id.as_str()).await?;
    tenant::Entity::update_many()
        .col_expr(tenant::Column::UpdatedAt, Expr::value(now))
        .filter(tenant::Column::Id.eq(id.as_str()))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(RotatedKey { tenant_id: id.to_string(), api_key, previous_keys_expire_at: cutoff })
}

/// Deactivates tenant `id`: in one transaction it is marked inactive and every
/// API key and device token it has is revoked. Data stays for audit.
pub async fn deactivate(db: &DatabaseConnection, id: &ResourceId) -> Result<(), Error> {
    let txn = crate::db::begin_write(db).await?;
    let current = tenant::Entity::find_by_id(id.as_str()).one(&txn).await?.ok_or(Error::NotFound("tenant"))?;
    if !current.active {
        return Ok(());
    }
    let now = now();
    let mut active: tenant::ActiveModel = current.into();
    active.active = Set(false);
    active.deactivated_at = Set(Some(now));
    active.updated_at = Set(now);
    active.update(&txn).await?;
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now))
        .filter(api_key::Column::TenantId.eq(id.as_str()))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    devices::repo::revoke_all(&txn, id.as_str(), now).await?;
    crate::auth::credentials::announce_change(&txn, id.as_str()).await?;
    txn.commit().await?;
    Ok(())
}

/// `SELECT id FROM tenants WHERE active`, for credential lookups.
pub fn active_tenant_ids() -> SelectStatement {
    Query::select()
        .column(tenant::Column::Id)
        .from(tenant::Entity)
        .and_where(tenant::Column::Active.eq(true))
        .to_owned()
}

/// The tenant owning the live API key with this hash, if any.
///
/// A key is live when it is neither revoked nor past its grace period and its
/// tenant is active; the tenant check is a subquery of the same statement, so
/// deactivation is instant even for a request racing the deactivating transaction.
///
/// Returns the tenant and, for a rotated key in its grace period, when it stops.
pub async fn authenticate_api_key(
    db: &DatabaseConnection,
    token_hash: &str,
) -> Result<Option<(ResourceId, Option<DateTime<Utc>>)>, Error> {
    let found = api_key::Entity::find()
        .filter(api_key::Column::TokenHash.eq(token_hash))
        .filter(api_key::Column::RevokedAt.is_null())
        .filter(api_key::Column::TenantId.in_subquery(active_tenant_ids()))
        .one(db)
        .await?;
    match found {
        Some(key)
            if key.expires_at.is_none_or(|at| at > now()) && crate::auth::hashes_match(&key.token_hash, token_hash) =>
        {
            Ok(Some((ResourceId::parse(&key.tenant_id)?, key.expires_at)))
        }
        _ => Ok(None),
    }
}
