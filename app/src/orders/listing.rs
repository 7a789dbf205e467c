//! Filtered, paginated history of a tenant's orders (newest first).

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::Error;
use crate::history::{History, cursor_of, history_condition, page};
use crate::http::Page;
use crate::orders::entity::order;
use crate::orders::model::OrderViewExt as _;
use crate::orders::model::{OrderStatus, OrderView};

/// A page of the tenant's orders (optionally only one device's).
pub async fn orders(
    db: &DatabaseConnection,
    tenant: &str,
    device: Option<&str>,
    h: &History,
) -> Result<Page<OrderView>, Error> {
    let rows = order::Entity::find()
        .filter(history_condition!(order, tenant, device, h))
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .limit(h.limit + 1)
        .all(db)
        .await?;
    let cursors: Vec<String> = rows.iter().map(|r| cursor_of(r.created_at, r.id)).collect();
    let items = rows.iter().map(OrderView::from_model).collect::<Result<Vec<_>, _>>()?;
    Ok(page(items, cursors, h.limit))
}

/// Whether `s` names an order status.
pub fn is_order_status(s: &str) -> bool {
    OrderStatus::parse(s).is_ok()
}

/// One order of the tenant (and, for a device, of that device).
pub async fn order(db: &DatabaseConnection, tenant: &str, device: Option<&str>, id: Uuid) -> Result<OrderView, Error> {
    let mut query = order::Entity::find_by_id(id).filter(order::Column::TenantId.eq(tenant));
    if let Some(device) = device {
        query = query.filter(order::Column::DeviceId.eq(device));
    }
    OrderView::from_model(&query.one(db).await?.ok_or(Error::NotFound("order"))?)
}
