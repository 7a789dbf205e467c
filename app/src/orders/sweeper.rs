//! The sweeper: expires lapsed intents and finishes orders whose placement
//! was cut short (a replica died between accepting and hearing from the
//! provider). It works across every tenant by design.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::clock::Clock;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::orders::placement::OrderPlacement;

/// One sweep over every tenant's lapsed intents and unfinished orders.
pub struct Sweeper {
    db: DatabaseConnection,
    placement: Arc<OrderPlacement>,
    clock: Clock,
}

impl Sweeper {
    /// A sweeper finishing orders through `placement`, judging what lapsed by `clock`.
    pub fn new(db: DatabaseConnection, placement: Arc<OrderPlacement>, clock: Clock) -> Self {
        Self { db, placement, clock }
    }

    /// Expires lapsed intents and resubmits orders left SUBMITTED for longer
    /// than two provider deadlines.
    pub async fn sweep(&self) -> Result<(), Error> {
        let now = self.clock.now();
        crate::intents::repo::expire_all_lapsed(&self.db, AcrossTenants, now).await?;
        let stale = now - chrono::Duration::from_std(self.placement.commerce_timeout() * 2).unwrap_or_default();
        for order in crate::orders::repo::unfinished(&self.db, AcrossTenants, stale).await? {
            // From here on the order is handled within its own tenant.
            self.placement.submit(&TenantScope::parse(&order.tenant_id)?, &order).await?;
        }
        Ok(())
    }
}
