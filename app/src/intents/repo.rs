//! Intent queries outside a detection: expiry of lapsed prompts, and the
//! intent history.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};

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
    let mut update = device
        .update::<intent::Entity>()
        .col_expr(intent::Column::Status, Expr::value(IntentStatus::Expired.as_str()))
        .col_expr(intent::Column::UpdatedAt, Expr::value(now))
        .filter(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
        .filter(intent::Column::ExpiresAt.lte(now));
    if let Some(product_id) = product_id {
        update = update.filter(intent::Column::ProductId.eq(product_id));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Marks every lapsed PENDING intent of every tenant EXPIRED. Across tenants
/// because one sweeper serves them all; it touches only rows already lapsed.
pub async fn expire_all_lapsed(db: &DatabaseConnection, _: AcrossTenants, now: DateTime<Utc>) -> Result<u64, Error> {
    let result = intent::Entity::update_many()
        .col_expr(intent::Column::Status, Expr::value(IntentStatus::Expired.as_str()))
        .col_expr(intent::Column::UpdatedAt, Expr::value(now))
        .filter(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
        .filter(intent::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Marks every lapsed PENDING intent of one tenant EXPIRED: the sweeper of a
/// dedicated tenant's app, which touches no other tenant's rows.
pub async fn expire_tenant_lapsed(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let result = tenant
        .update::<intent::Entity>()
        .col_expr(intent::Column::Status, Expr::value(IntentStatus::Expired.as_str()))
        .col_expr(intent::Column::UpdatedAt, Expr::value(now))
        .filter(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
        .filter(intent::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

crate::history::repo::history_queries!(intent);
