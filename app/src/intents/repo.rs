//! Intent queries outside a detection: expiry of lapsed prompts, and the
//! intent history.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, UpdateMany};

use crate::db::scope::{AcrossTenants, DeviceScope, TenantScope};
use crate::error::Error;
use crate::intents::entity::intent;
use crate::orders::model::IntentStatus;

/// Marks this device's lapsed PENDING intents (optionally for one product) EXPIRED.
pub async fn expire_lapsed(
    db: &impl ConnectionTrait,
    device: &DeviceScope,
    product_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let mut update = lapsed_to_expired(device.update::<intent::Entity>(), now);
    if let Some(product_id) = product_id {
        update = update.filter(intent::Column::ProductId.eq(product_id));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Marks every lapsed PENDING intent of every tenant EXPIRED. Across tenants
/// because one sweeper serves them all; it touches only rows already lapsed.
pub async fn expire_all_lapsed(db: &DatabaseConnection, _: AcrossTenants, now: DateTime<Utc>) -> Result<u64, Error> {
    Ok(lapsed_to_expired(intent::Entity::update_many(), now).exec(db).await?.rows_affected)
}

/// Marks every lapsed PENDING intent of one tenant EXPIRED: the sweeper of a
/// dedicated tenant's app, which touches no other tenant's rows.
pub async fn expire_tenant_lapsed(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    Ok(lapsed_to_expired(tenant.update::<intent::Entity>(), now).exec(db).await?.rows_affected)
}

/// Narrows `update` to the PENDING intents lapsed at `now` and marks them
/// EXPIRED: what expiry means is written once, whichever scope (a device, a
/// tenant, every tenant) the update starts from.
fn lapsed_to_expired(update: UpdateMany<intent::Entity>, now: DateTime<Utc>) -> UpdateMany<intent::Entity> {
    update
        .col_expr(intent::Column::Status, Expr::value(IntentStatus::Expired.as_str()))
        .col_expr(intent::Column::UpdatedAt, Expr::value(now))
        .filter(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
        .filter(intent::Column::ExpiresAt.lte(now))
}

crate::history::repo::history_queries!(intent);
