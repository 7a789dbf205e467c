//! Filtered, paginated history of a tenant's intents (newest first).

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::db::scope::{DeviceScope, TenantScope};
use crate::error::Error;
use crate::history::{History, page};
use crate::http::Page;
use crate::intents::decision::IntentView;
use crate::intents::decision::IntentViewExt as _;
use crate::intents::repo;
use crate::orders::model::IntentStatus;

/// A page of the tenant's intents (optionally only one device's), pending
/// ones shown as expired when lapsed at `now`.
pub async fn intents(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    device: Option<&DeviceScope>,
    h: &History,
    now: DateTime<Utc>,
) -> Result<Page<IntentView>, Error> {
    let rows = repo::history(db, tenant, device, h).await?;
    page(&rows, h.limit, |r| (r.created_at, r.id), |r| IntentView::from_model(r, now))
}

/// Whether `s` names an intent status.
pub fn is_intent_status(s: &str) -> bool {
    IntentStatus::parse(s).is_ok()
}

/// One intent of the tenant (and, for a device, of that device), as of `now`.
pub async fn intent(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    device: Option<&DeviceScope>,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<IntentView, Error> {
    let row = repo::find(db, tenant, device, id).await?.ok_or(Error::NotFound("intent"))?;
    IntentView::from_model(&row, now)
}
