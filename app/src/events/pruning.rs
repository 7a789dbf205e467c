//! The periodic task that deletes events older than the retention period.

use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::clock::Clock;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::events::repo;
use crate::tasks::TaskScope;

/// Every `period`, deletes events older than `retention` (only `only`'s, for
/// a dedicated tenant's app), batch after batch until none is left.
pub fn spawn_pruning(
    tasks: &TaskScope,
    db: DatabaseConnection,
    clock: Clock,
    period: Duration,
    retention: Duration,
    only: Option<TenantScope>,
) {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    tasks.every(period, move || {
        let (db, clock, only) = (db.clone(), clock.clone(), only.clone());
        async move {
            let Some(before) = clock.now().checked_sub_signed(retention) else { return };
            let mut total = 0;
            loop {
                match repo::prune(&db, only.as_ref(), AcrossTenants, before).await {
                    Ok(0) => break,
                    Ok(count) => total += count,
                    Err(err) => {
                        tracing::warn!(error = %err, "pruning events failed");
                        break;
                    }
                }
            }
            if total > 0 {
                tracing::debug!(count = total, "pruned events past retention");
            }
        }
    });
}
