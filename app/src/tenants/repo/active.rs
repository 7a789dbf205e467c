//! Whether a tenant is active: the check every write for a tenant and every
//! credential lookup makes. A repository of its own so that the device and
//! credential repositories can use it without depending on the tenant
//! repository, which depends on them.

use sea_orm::sea_query::{Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait};

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::tenants::entity::tenant;

/// Whether tenant `id` exists and is active; 404 / 409 otherwise.
pub async fn require_active(db: &impl ConnectionTrait, id: &TenantScope) -> Result<(), Error> {
    match id.find::<tenant::Entity>().one(db).await? {
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
