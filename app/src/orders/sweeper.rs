//! The sweeper: expires lapsed intents and finishes orders whose placement
//! was cut short (a replica died between accepting and hearing from the
//! provider). The platform's app sweeps across every tenant by design; a
//! dedicated tenant's app sweeps its own tenant only.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::clock::Clock;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::orders::placement::OrderPlacement;

/// One sweep over the lapsed intents and unfinished orders of every tenant, or of one.
pub struct Sweeper {
    db: DatabaseConnection,
    placement: Arc<OrderPlacement>,
    clock: Clock,
    only: Option<TenantScope>,
}

impl Sweeper {
    /// A sweeper finishing orders through `placement`, judging what lapsed by
    /// `clock`; over tenant `only` when given (a dedicated app), else over every tenant.
    pub fn new(
        db: DatabaseConnection,
        placement: Arc<OrderPlacement>,
        clock: Clock,
        only: Option<TenantScope>,
    ) -> Self {
        Self { db, placement, clock, only }
    }

    /// Expires lapsed intents and resubmits orders left SUBMITTED for longer
    /// than two provider deadlines.
    pub async fn sweep(&self) -> Result<(), Error> {
        let now = self.clock.now();
        let stale = now - chrono::Duration::from_std(self.placement.commerce_timeout() * 2).unwrap_or_default();
        let unfinished = match &self.only {
            Some(tenant) => {
                crate::intents::repo::expire_tenant_lapsed(&self.db, tenant, now).await?;
                crate::orders::repo::unfinished_of(&self.db, tenant, stale).await?
            }
            None => {
                crate::intents::repo::expire_all_lapsed(&self.db, AcrossTenants, now).await?;
                crate::orders::repo::unfinished(&self.db, AcrossTenants, stale).await?
            }
        };
        for order in unfinished {
            // From here on the order is handled within its own tenant.
            self.placement.submit(&TenantScope::parse(&order.tenant_id)?, &order).await?;
        }
        Ok(())
    }
}
