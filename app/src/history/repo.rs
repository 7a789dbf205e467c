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
