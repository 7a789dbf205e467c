//! The SQL half of history listings: the condition every listing query over
//! intents or orders is built from.

/// The `WHERE` of a history listing over `$entity` (which has tenant, device,
/// status, created_at and id columns): always the tenant scope (narrowed to
/// the calling device for a device), then the filters. Expanded only in
/// repositories.
macro_rules! history_condition {
    ($entity:ident, $tenant:expr, $device:expr, $h:expr) => {{
        let mut condition = $tenant.narrowed::<$entity::Entity>($device);
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
pub(crate) use history_condition;
