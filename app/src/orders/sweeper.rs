//! The sweeper: expires lapsed intents and finishes orders whose outcome is
//! not known yet (a replica died mid-placement, or the provider gave no
//! definite answer). The platform's app sweeps across every tenant by design;
//! a dedicated tenant's app sweeps its own tenant only.

use std::sync::Arc;

use futures_util::StreamExt as _;
use sea_orm::DatabaseConnection;

use crate::clock::Clock;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::orders::entity::order;
use crate::orders::placement::OrderPlacement;
use crate::orders::repo::placing;

/// Orders claimed per round: a claim lasts two provider deadlines, so a
/// round must finish well within that.
const CLAIM_BATCH: u64 = 64;

/// Provider calls in flight at once per replica: enough to drain a backlog
/// quickly, few enough not to flood a recovering provider or the pool.
const PARALLEL_CALLS: usize = 8;

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

    /// Expires lapsed intents, then claims and resubmits unfinished orders
    /// whose claim is older than two provider deadlines (the claimant had
    /// every chance to finish), in rounds until none is left to claim. One
    /// order's error is logged and does not stop the others.
    pub async fn sweep(&self) -> Result<(), Error> {
        let now = self.clock.now();
        match &self.only {
            Some(tenant) => crate::intents::repo::expire_tenant_lapsed(&self.db, tenant, now).await?,
            None => crate::intents::repo::expire_all_lapsed(&self.db, AcrossTenants, now).await?,
        };
        let lease = chrono::Duration::from_std(self.placement.commerce_timeout() * 2).unwrap_or_default();
        loop {
            let now = self.clock.now();
            let claimed = match &self.only {
                Some(tenant) => placing::claim_unfinished_of(&self.db, tenant, now, now - lease, CLAIM_BATCH).await?,
                None => placing::claim_unfinished(&self.db, AcrossTenants, now, now - lease, CLAIM_BATCH).await?,
            };
            let full = claimed.len() as u64 == CLAIM_BATCH;
            futures_util::stream::iter(claimed).for_each_concurrent(PARALLEL_CALLS, |o| self.resubmit(o)).await;
            if !full {
                return Ok(());
            }
        }
    }

    async fn resubmit(&self, order: order::Model) {
        // From here on the order is handled within its own tenant.
        let placed = match TenantScope::parse(&order.tenant_id) {
            Ok(tenant) => self.placement.submit(&tenant, &order).await.map(|_| ()),
            Err(err) => Err(err),
        };
        if let Err(err) = placed {
            tracing::warn!(order = %order.id, error = %err, "resubmitting an order failed; its claim will lapse and it is tried again");
        }
    }
}
