//! The credential repository: which tenant or device a token hash belongs to.
//! Both lookups read across tenants by design (they take [`AcrossTenants`]):
//! the token is what names the tenant.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::auth::tokens::hashes_match;
use crate::db::scope::AcrossTenants;
use crate::devices::entity as device;
use crate::error::Error;
use crate::http::ResourceId;
use crate::tenants::entity::api_key;
use crate::tenants::repo::active::active_tenant_ids;

/// The tenant owning the live API key with this hash, if any.
///
/// A key is live when it is neither revoked nor past its grace period and its
/// tenant is active; the tenant check is a subquery of the same statement, so
/// deactivation is instant even for a request racing the deactivating transaction.
///
/// Returns the tenant and, for a rotated key in its grace period (judged at
/// `now`), when it stops.
pub async fn authenticate_api_key(
    db: &DatabaseConnection,
    _: AcrossTenants,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(ResourceId, Option<DateTime<Utc>>)>, Error> {
    let found = api_key::Entity::find()
        .filter(api_key::Column::TokenHash.eq(token_hash))
        .filter(api_key::Column::RevokedAt.is_null())
        .filter(api_key::Column::TenantId.in_subquery(active_tenant_ids()))
        .one(db)
        .await?;
    match found {
        Some(key) if key.expires_at.is_none_or(|at| at > now) && hashes_match(&key.token_hash, token_hash) => {
            Ok(Some((ResourceId::parse(&key.tenant_id)?, key.expires_at)))
        }
        _ => Ok(None),
    }
}

/// The (tenant, device) of the active device token with this hash, if its tenant is active.
///
/// One round trip: the tenant check is a subquery, so deactivation is instant
/// even for a request racing the deactivating transaction.
pub async fn authenticate_token(
    db: &DatabaseConnection,
    _: AcrossTenants,
    token_hash: &str,
) -> Result<Option<(ResourceId, ResourceId)>, Error> {
    let found = device::Entity::find()
        .filter(device::Column::TokenHash.eq(token_hash))
        .filter(device::Column::Active.eq(true))
        .filter(device::Column::TenantId.in_subquery(active_tenant_ids()))
        .one(db)
        .await?;
    match found {
        Some(device) if hashes_match(&device.token_hash, token_hash) => {
            Ok(Some((ResourceId::parse(&device.tenant_id)?, ResourceId::parse(&device.id)?)))
        }
        _ => Ok(None),
    }
}
