//! The SQL of webhook endpoints; every query is scoped to a tenant.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::http::PageRequest;
use crate::webhooks::entity::endpoint;

/// One endpoint of the tenant.
pub async fn find(db: &impl ConnectionTrait, tenant: &TenantScope, id: &str) -> Result<Option<endpoint::Model>, Error> {
    Ok(tenant.find::<endpoint::Entity>().filter(endpoint::Column::Id.eq(id)).one(db).await?)
}

/// Up to `page.limit + 1` of the tenant's endpoints, by id.
pub async fn list(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    page: &PageRequest,
) -> Result<Vec<endpoint::Model>, Error> {
    let mut query = tenant.find::<endpoint::Entity>().order_by_asc(endpoint::Column::Id);
    if let Some(after) = &page.after {
        query = query.filter(endpoint::Column::Id.gt(after.as_str()));
    }
    Ok(query.limit(page.limit + 1).all(db).await?)
}

/// The tenant's enabled endpoints (the dispatcher's fan-out reads them).
pub async fn enabled(db: &impl ConnectionTrait, tenant: &TenantScope) -> Result<Vec<endpoint::Model>, Error> {
    Ok(tenant.find::<endpoint::Entity>().filter(endpoint::Column::Enabled.eq(true)).all(db).await?)
}

/// Inserts a new endpoint row.
pub async fn insert(db: &impl ConnectionTrait, row: endpoint::Model) -> Result<endpoint::Model, Error> {
    Ok(endpoint::ActiveModel::from(row).insert(db).await?)
}

/// Writes every column of `row` (an endpoint read earlier in the same transaction).
pub async fn save(db: &impl ConnectionTrait, row: endpoint::Model) -> Result<endpoint::Model, Error> {
    Ok(row.into_active_model().reset_all().update(db).await?)
}

/// Deletes an endpoint (its deliveries go with it); whether it existed.
pub async fn delete(db: &DatabaseConnection, tenant: &TenantScope, id: &str) -> Result<bool, Error> {
    let deleted = tenant.delete::<endpoint::Entity>().filter(endpoint::Column::Id.eq(id)).exec(db).await?;
    Ok(deleted.rows_affected == 1)
}

/// Disables an endpoint with `reason`, if it is still enabled; whether this call did.
pub async fn disable(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let result = tenant
        .update::<endpoint::Entity>()
        .set(endpoint::ActiveModel {
            enabled: Set(false),
            disabled_reason: Set(Some(reason.to_owned())),
            updated_at: Set(now),
            ..Default::default()
        })
        .filter(endpoint::Column::Id.eq(id))
        .filter(endpoint::Column::Enabled.eq(true))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
