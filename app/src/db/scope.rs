//! Tenant scope as a type. Every repository function over tenant data takes a
//! [`TenantScope`] (or a [`DeviceScope`]) and builds its queries through it, so
//! the `tenant_id = …` condition is written here once and a caller cannot
//! forget it. The few queries that read across tenants on purpose take
//! [`AcrossTenants`] instead, which makes them easy to find and review.

use std::sync::Arc;

use sea_orm::{ColumnTrait, Condition, DeleteMany, EntityTrait, QueryFilter, Select, UpdateMany};

use crate::error::Error;
use crate::http::ResourceId;

/// A table whose rows each belong to one tenant.
pub trait TenantOwned: EntityTrait {
    /// The column naming the owning tenant.
    fn tenant_column() -> Self::Column;
}

/// A table whose rows also belong to one device of their tenant.
pub trait DeviceOwned: TenantOwned {
    /// The column naming the owning device.
    fn device_column() -> Self::Column;
}

/// Declares which columns of the entity in scope (`Entity`, `Column`) name
/// the owning tenant and, for device-owned tables, the device:
/// `owned_by!(tenant: TenantId, device: DeviceId);`.
macro_rules! owned_by {
    (tenant: $tenant:ident) => {
        impl $crate::db::scope::TenantOwned for Entity {
            fn tenant_column() -> Column {
                Column::$tenant
            }
        }
    };
    (tenant: $tenant:ident, device: $device:ident) => {
        $crate::db::scope::owned_by!(tenant: $tenant);
        impl $crate::db::scope::DeviceOwned for Entity {
            fn device_column() -> Column {
                Column::$device
            }
        }
    };
}
pub(crate) use owned_by;

/// The tenant a piece of work acts for: a validated tenant id, cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantScope(Arc<str>);

impl TenantScope {
    /// The scope of a tenant named by a validated id (an authenticated
    /// caller's tenant, or an admin route's path id).
    pub fn new(tenant: &ResourceId) -> Self {
        Self(Arc::from(tenant.as_str()))
    }

    /// The scope of a tenant id that arrives as a string (read back from a row
    /// of an across-tenants query, or a cache key); checked again here so a
    /// scope always holds a valid id.
    pub fn parse(tenant: &str) -> Result<Self, Error> {
        Ok(Self::new(&ResourceId::parse(tenant)?))
    }

    /// The tenant id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `tenant_id = <this tenant>` over `E`.
    pub fn condition<E: TenantOwned>(&self) -> Condition {
        Condition::all().add(E::tenant_column().eq(self.as_str()))
    }

    /// `SELECT … FROM E WHERE tenant_id = <this tenant>`.
    pub fn find<E: TenantOwned>(&self) -> Select<E> {
        E::find().filter(self.condition::<E>())
    }

    /// `UPDATE E … WHERE tenant_id = <this tenant>`.
    pub fn update<E: TenantOwned>(&self) -> UpdateMany<E> {
        E::update_many().filter(self.condition::<E>())
    }

    /// `DELETE FROM E WHERE tenant_id = <this tenant>`.
    pub fn delete<E: TenantOwned>(&self) -> DeleteMany<E> {
        E::delete_many().filter(self.condition::<E>())
    }

    /// This tenant's rows of `E` that belong to `device`, or all of them for
    /// `None`. The tenant is this scope's even if `device` names another one
    /// (then nothing matches).
    pub fn narrowed<E: DeviceOwned>(&self, device: Option<&DeviceScope>) -> Condition {
        let condition = self.condition::<E>();
        match device {
            Some(device) => condition.add(device.condition::<E>()),
            None => condition,
        }
    }

    /// `SELECT … FROM E` over this tenant's rows, narrowed to `device`'s when given.
    pub fn find_narrowed<E: DeviceOwned>(&self, device: Option<&DeviceScope>) -> Select<E> {
        E::find().filter(self.narrowed::<E>(device))
    }
}

impl std::fmt::Display for TenantScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One device of one tenant: what a device token may see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeviceScope {
    tenant: TenantScope,
    device: Arc<str>,
}

impl DeviceScope {
    /// The scope of `device` within `tenant`.
    pub fn new(tenant: TenantScope, device: &ResourceId) -> Self {
        Self { tenant, device: Arc::from(device.as_str()) }
    }

    /// The scope of a (tenant, device) read back from a row.
    pub fn parse(tenant: &str, device: &str) -> Result<Self, Error> {
        Ok(Self::new(TenantScope::parse(tenant)?, &ResourceId::parse(device)?))
    }

    /// The device's tenant.
    pub fn tenant(&self) -> &TenantScope {
        &self.tenant
    }

    /// The device id.
    pub fn device_id(&self) -> &str {
        &self.device
    }

    /// `tenant_id = … AND device_id = …` over `E`.
    pub fn condition<E: DeviceOwned>(&self) -> Condition {
        self.tenant.condition::<E>().add(E::device_column().eq(self.device_id()))
    }

    /// `SELECT … FROM E WHERE tenant_id = … AND device_id = …`.
    pub fn find<E: DeviceOwned>(&self) -> Select<E> {
        E::find().filter(self.condition::<E>())
    }

    /// `UPDATE E … WHERE tenant_id = … AND device_id = …`.
    pub fn update<E: DeviceOwned>(&self) -> UpdateMany<E> {
        E::update_many().filter(self.condition::<E>())
    }
}

/// The marker of a query that reads or writes every tenant's rows on purpose
/// (the sweeper, credential lookups, the admin's tenant listing). Each such
/// function says in its doc comment why it may.
#[derive(Debug, Clone, Copy)]
pub struct AcrossTenants;

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, QueryTrait};

    use super::*;

    /// A stand-in tenant table, so the test does not depend on a domain's entities.
    mod row {
        use sea_orm::entity::prelude::*;

        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "rows")]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: i64,
            pub tenant_id: String,
            pub device_id: String,
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}

        impl super::TenantOwned for Entity {
            fn tenant_column() -> Column {
                Column::TenantId
            }
        }

        impl super::DeviceOwned for Entity {
            fn device_column() -> Column {
                Column::DeviceId
            }
        }
    }

    #[test]
    fn every_query_names_the_tenant() {
        let scope = TenantScope::parse("acme").unwrap();
        let sql = scope.find::<row::Entity>().build(DbBackend::Postgres).to_string();
        assert!(sql.contains(r#""rows"."tenant_id" = 'acme'"#), "{sql}");
        let sql = scope.update::<row::Entity>().build(DbBackend::Postgres).to_string();
        assert!(sql.contains(r#""tenant_id" = 'acme'"#), "{sql}");
        let sql = scope.delete::<row::Entity>().build(DbBackend::Postgres).to_string();
        assert!(sql.contains(r#""tenant_id" = 'acme'"#), "{sql}");
    }

    #[test]
    fn a_device_scope_names_tenant_and_device() {
        let scope = DeviceScope::parse("acme", "glasses-1").unwrap();
        let sql = scope.find::<row::Entity>().build(DbBackend::Sqlite).to_string();
        assert!(sql.contains(r#""tenant_id" = 'acme'"#) && sql.contains(r#""device_id" = 'glasses-1'"#), "{sql}");
        let sql = scope.tenant().find::<row::Entity>().build(DbBackend::Sqlite).to_string();
        assert!(!sql.contains("device_id\" ="), "{sql}");
    }

    #[test]
    fn a_device_of_another_tenant_narrows_to_nothing() {
        let acme = TenantScope::parse("acme").unwrap();
        let other = DeviceScope::parse("globex", "glasses-1").unwrap();
        let sql = row::Entity::find().filter(acme.narrowed::<row::Entity>(Some(&other)));
        let sql = sql.build(DbBackend::Sqlite).to_string();
        assert!(sql.contains(r#""tenant_id" = 'acme'"#) && sql.contains(r#""tenant_id" = 'globex'"#), "{sql}");
    }

    #[test]
    fn an_invalid_tenant_id_is_no_scope() {
        assert!(TenantScope::parse("Not Valid").is_err());
    }
}
