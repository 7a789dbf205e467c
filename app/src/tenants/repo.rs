//! Tenant and API-key queries. Only this module writes SQL for them.

use chrono::{DateTime, Duration, Utc};
use replenish_api::EventType;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::auth::{TokenKind, issue_token};
use crate::catalog::entity::{product, variant};
use crate::catalog::model::FillLevel;
use crate::changes::{Change, Changed, announce};
use crate::db::now;
use crate::db::retry::{UPSERT_ATTEMPTS, lost_unique_race, retry};
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::devices;
use crate::error::Error;
use crate::events::{self, NewEvent};
use crate::http::PageRequest;
use crate::tenants::entity::{api_key, tenant};
use crate::tenants::model::TenantViewExt as _;
use crate::tenants::model::{Plan, RotateKeyRequest, RotatedKey, TenantLimits, TenantSpec, TenantView};
use crate::tenants::repo::active::require_active;
use crate::tenants::snapshot::{CatalogEntry, TenantSnapshot};
use std::collections::HashMap;

pub mod active;

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
    id: &TenantScope,
    spec: &TenantSpec,
) -> Result<Changed<(UpsertOutcome, TenantView)>, Error> {
    // Two creators raced on the primary key: the loser now sees the row and updates it.
    retry(UPSERT_ATTEMPTS, lost_unique_race, || try_upsert(db, id, spec)).await
}

async fn try_upsert(
    db: &DatabaseConnection,
    id: &TenantScope,
    spec: &TenantSpec,
) -> Result<Changed<(UpsertOutcome, TenantView)>, Error> {
    let limits = serde_json::to_string(&spec.limits).map_err(|e| Error::Internal(e.to_string()))?;
    let display_name = spec.display_name.trim().to_owned();
    let txn = crate::db::begin_write(db).await?;
    let existing = id.find::<tenant::Entity>().one(&txn).await?;
    let now = now();
    let (outcome, model, key) = match existing {
        None => {
            let model = tenant::ActiveModel {
                id: Set(id.as_str().to_owned()),
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
            let key = insert_api_key(&txn, id).await?;
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
                    let key = insert_api_key(&txn, id).await?;
                    (UpsertOutcome::Issued, model, Some(key))
                } else {
                    (UpsertOutcome::Updated, model, None)
                }
            }
        }
    };
    let tenant = || id.to_string();
    let changes = match outcome {
        UpsertOutcome::Issued => vec![Change::Credentials { tenant: tenant() }, Change::Tenant { tenant: tenant() }],
        UpsertOutcome::Updated => vec![Change::Tenant { tenant: tenant() }],
        UpsertOutcome::Unchanged => Vec::new(),
    };
    if outcome != UpsertOutcome::Unchanged {
        limits_changed(&txn, id, &model, now).await?;
    }
    announce(&txn, &changes).await?;
    txn.commit().await?;
    let mut view = TenantView::from_model(&model)?;
    view.api_key = key;
    Ok(Changed::new((outcome, view), changes))
}

/// Writes `tenant.limits_changed`, its snapshot the tenant as it now stands (without any key).
async fn limits_changed(
    txn: &impl ConnectionTrait,
    id: &TenantScope,
    model: &tenant::Model,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let event = NewEvent::of(EventType::TenantLimitsChanged, id, false, &TenantView::from_model(model)?)?;
    events::record(txn, id, event, now).await?;
    Ok(())
}

async fn insert_api_key(db: &impl ConnectionTrait, tenant: &TenantScope) -> Result<String, Error> {
    let token = issue_token(TokenKind::Tenant);
    api_key::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(tenant.as_str().to_owned()),
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
pub async fn get(db: &DatabaseConnection, id: &TenantScope) -> Result<TenantView, Error> {
    let model = id.find::<tenant::Entity>().one(db).await?.ok_or(Error::NotFound("tenant"))?;
    TenantView::from_model(&model)
}

/// A page of tenants ordered by id. Across tenants: it is the platform
/// admin's listing of them.
pub async fn list(db: &DatabaseConnection, _: AcrossTenants, page: &PageRequest) -> Result<Vec<TenantView>, Error> {
    let mut query = tenant::Entity::find().order_by_asc(tenant::Column::Id);
    if let Some(after) = &page.after {
        query = query.filter(tenant::Column::Id.gt(after.as_str()));
    }
    query.limit(page.limit + 1).all(db).await?.iter().map(TenantView::from_model).collect()
}

/// Issues a new API key; the previous ones stop at once or after the grace
/// period counted from `now`.
pub async fn rotate_api_key(
    db: &DatabaseConnection,
    id: &TenantScope,
    request: &RotateKeyRequest,
    now: DateTime<Utc>,
) -> Result<Changed<RotatedKey>, Error> {
    let txn = crate::db::begin_write(db).await?;
    require_active(&txn, id).await?;
    let cutoff = now + Duration::seconds(i64::from(request.grace_period_seconds));
    let live = id.find::<api_key::Entity>().filter(api_key::Column::RevokedAt.is_null()).all(&txn).await?;
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
    let api_key = insert_api_key(&txn, id).await?;
    let changes = vec![Change::Credentials { tenant: id.to_string() }];
    announce(&txn, &changes).await?;
    id.update::<tenant::Entity>().col_expr(tenant::Column::UpdatedAt, Expr::value(now)).exec(&txn).await?;
    txn.commit().await?;
    Ok(Changed::new(RotatedKey { tenant_id: id.to_string(), api_key, previous_keys_expire_at: cutoff }, changes))
}

/// Deactivates tenant `id`: in one transaction it is marked inactive and every
/// API key and device token it has is revoked. Data stays for audit.
pub async fn deactivate(db: &DatabaseConnection, id: &TenantScope) -> Result<Changed<()>, Error> {
    let txn = crate::db::begin_write(db).await?;
    // `FOR UPDATE` waits for registrations holding the row (`lock_active`) to
    // commit, so the revocation below sees their devices; later ones wait for
    // this commit and then find the tenant inactive.
    let current = id.find::<tenant::Entity>().lock_exclusive().one(&txn).await?.ok_or(Error::NotFound("tenant"))?;
    if !current.active {
        return Ok(Changed::new((), Vec::new()));
    }
    let now = now();
    let mut active: tenant::ActiveModel = current.into();
    active.active = Set(false);
    active.deactivated_at = Set(Some(now));
    active.updated_at = Set(now);
    let deactivated = active.update(&txn).await?;
    limits_changed(&txn, id, &deactivated, now).await?;
    id.update::<api_key::Entity>()
        .col_expr(api_key::Column::RevokedAt, Expr::value(now))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    devices::repo::revoke_all(&txn, id, now).await?;
    // Its devices' actors need no notice: their revoked tokens no longer reach them.
    let changes = vec![Change::Credentials { tenant: id.to_string() }, Change::Tenant { tenant: id.to_string() }];
    announce(&txn, &changes).await?;
    txn.commit().await?;
    Ok(Changed::new((), changes))
}

/// Loads `tenant_id`'s snapshot: its limits and, per object class, the
/// product and default variant offered.
pub async fn load_snapshot(db: &DatabaseConnection, scope: &TenantScope) -> Result<TenantSnapshot, Error> {
    let tenant_id = scope.as_str();
    let tenant = scope.find::<tenant::Entity>().one(db).await?.ok_or(Error::NotFound("tenant"))?;
    let plan = Plan::parse(&tenant.plan)?;
    let overrides: TenantLimits = serde_json::from_str(&tenant.limits)
        .map_err(|e| Error::Internal(format!("stored limits of {tenant_id} do not parse: {e}")))?;
    let products = scope.find::<product::Entity>().all(db).await?;
    let variants = scope.find::<variant::Entity>().all(db).await?;
    let mut catalog = HashMap::with_capacity(products.len());
    for p in products {
        let Some(v) = variants.iter().find(|v| v.product_id == p.id && v.sku == p.default_sku) else {
            continue;
        };
        catalog.insert(
            p.object_class.clone(),
            CatalogEntry {
                product_id: p.id.clone(),
                threshold: FillLevel::parse(&p.reorder_threshold)?,
                sku: v.sku.clone(),
                label: v.label.clone(),
                unit_price_cents: v.unit_price_cents,
            },
        );
    }
    Ok(TenantSnapshot { limits: overrides.effective(plan), catalog })
}
