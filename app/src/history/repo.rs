//! The SQL half of history listings: the filters every listing query over
//! intents or orders adds to its tenant scope.

/// The filters of a history listing over `$entity` (which has device, status,
/// created_at and id columns), for a query already scoped to the tenant (and,
/// for a device caller, to `$device`). Expanded only in repositories.
macro_rules! history_filters {
    ($entity:ident, $device:expr, $h:expr) => {{
        let mut condition = sea_orm::Condition::all();
        if let (None, Some(device)) = ($device, $h.device.as_deref()) {
            condition = condition.add($entity::Column::DeviceId.eq(device));
        }
        if let Some(status) = &$h.status {
            condition = condition.add($entity::Column::Status.eq(status.as_str()));
        }
        if let Some(since) = $h.since {
            condition = condition.add($entity::Column::CreatedAt.gte(since));
        }
        if let Some(until) = $h.until {
            condition = condition.add($entity::Column::CreatedAt.lt(until));
        }
        if let Some((at, id)) = $h.after {
            condition =
                condition.add(sea_orm::Condition::any().add($entity::Column::CreatedAt.lt(at)).add(
                    sea_orm::Condition::all().add($entity::Column::CreatedAt.eq(at)).add($entity::Column::Id.lt(id)),
                ));
        }
        condition
    }};
}
pub(crate) use history_filters;

/// The two queries every history listing has, over `$entity` (an entity
/// module with device, status, created_at and id columns): a page of the
/// tenant's rows (only `device`'s when given), newest first, and one row by
/// id. Expanded once per listed table, so the two listings cannot drift.
macro_rules! history_queries {
    ($entity:ident) => {
        /// Up to `h.limit + 1` of the tenant's rows (only `device`'s when given),
        /// newest first: the extra one tells the caller there is another page.
        pub async fn history(
            db: &sea_orm::DatabaseConnection,
            tenant: &$crate::db::scope::TenantScope,
            device: Option<&$crate::db::scope::DeviceScope>,
            h: &$crate::history::History,
        ) -> Result<Vec<$entity::Model>, $crate::error::Error> {
            use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
            Ok(tenant
                .find_narrowed::<$entity::Entity>(device)
                .filter($crate::history::repo::history_filters!($entity, device, h))
                .order_by_desc($entity::Column::CreatedAt)
                .order_by_desc($entity::Column::Id)
                .limit(h.limit + 1)
                .all(db)
                .await?)
        }

        /// One row of the tenant (and, for a device, of that device).
        pub async fn find(
            db: &sea_orm::DatabaseConnection,
            tenant: &$crate::db::scope::TenantScope,
            device: Option<&$crate::db::scope::DeviceScope>,
            id: uuid::Uuid,
        ) -> Result<Option<$entity::Model>, $crate::error::Error> {
            use sea_orm::{ColumnTrait, QueryFilter};
            Ok(tenant.find_narrowed::<$entity::Entity>(device).filter($entity::Column::Id.eq(id)).one(db).await?)
        }
    };
}
pub(crate) use history_queries;
