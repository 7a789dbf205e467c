//! Filtered, paginated history of a tenant's orders (newest first).

use sea_orm::DatabaseConnection;

use crate::db::scope::{DeviceScope, TenantScope};
use crate::error::Error;
use crate::history::{History, page};
use crate::http::Page;
use crate::orders::model::OrderViewExt as _;
use crate::orders::model::{OrderStatus, OrderView};
use crate::orders::repo;

/// A page of the tenant's orders (optionally only one device's).
pub async fn orders(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    device: Option<&DeviceScope>,
    h: &History,
) -> Result<Page<OrderView>, Error> {
    let rows = repo::history(db, tenant, device, h).await?;
    page(&rows, h.limit, |r| (r.created_at, r.id), OrderView::from_model)
}

/// Whether `s` names an order status.
pub fn is_order_status(s: &str) -> bool {
    OrderStatus::parse(s).is_ok()
}
