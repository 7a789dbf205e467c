//! Whether a tenant is active: the check every write for a tenant and every
//! credential lookup makes. A repository of its own so that the device and
//! credential repositories can use it without depending on the tenant
//! repository, which depends on them.

use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, QuerySelect};

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::tenants::entity::tenant;

/// Whether tenant `id` exists and is active; 404 / 409 otherwise.
pub async fn require_active(db: &impl ConnectionTrait, id: &TenantScope) -> Result<(), Error> {
    active_or_refuse(id, id.find::<tenant::Entity>().one(db).await?)
}

/// Like [`require_active`], inside the write transaction `txn` that adds
/// credentials to the tenant (registers devices): it also holds the tenant
/// row (`FOR SHARE`) until `txn` ends.
///
/// A deactivation locks the row to mark it inactive, so it waits for this
/// transaction and then revokes what it wrote; or it went first, and this
/// check, made after the lock was granted, sees the tenant inactive. Without
/// the lock a registration could read "active", commit after the
/// deactivation's revocation, and stay active into a later reactivation.
/// Registrations do not block one another (shared locks). On SQLite writers
/// are serialised by the write transaction itself and there is no row lock.
pub async fn lock_active(txn: &impl ConnectionTrait, id: &TenantScope) -> Result<(), Error> {
    active_or_refuse(id, id.find::<tenant::Entity>().lock_shared().one(txn).await?)
}

fn active_or_refuse(id: &TenantScope, found: Option<tenant::Model>) -> Result<(), Error> {
    match found {
        None => Err(Error::NotFound("tenant")),
        Some(t) if !t.active => Err(Error::Conflict {
            kind: "tenant-deactivated",
            detail: format!("tenant {id} is deactivated; PUT it again to reactivate"),
        }),
        Some(_) => Ok(()),
    }
}

/// `SELECT id FROM tenants WHERE active`, for credential lookups (which read
/// across tenants: the token is what names the tenant).
pub fn active_tenant_ids() -> SelectStatement {
    Query::select()
        .column(tenant::Column::Id)
        .from(tenant::Entity)
        .and_where(tenant::Column::Active.eq(true))
        .to_owned()
}
