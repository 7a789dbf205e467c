//! A short-lived, per-replica snapshot of each tenant's limits and catalog,
//! so the detection path does not read them from the database every time.
//!
//! A change to the tenant's plan, limits or catalog, made through any replica,
//! drops the snapshot when the change notice arrives (see [`crate::changes`]);
//! the TTL only bounds how long an entry lives. While notices could be missed
//! the cache is bypassed: every caller loads the snapshot itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::DatabaseConnection;

use crate::changes::{Change, ChangeSink};
use crate::clock::Clock;
use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::tenants::repo::load_snapshot;
use crate::tenants::snapshot::TenantSnapshot;

struct Entry {
    loaded_at: Instant,
    snapshot: Arc<TenantSnapshot>,
    /// A caller is loading a newer snapshot; the others keep serving this one.
    refreshing: bool,
}

/// Snapshots by tenant id.
///
/// A stale snapshot is refreshed by one caller while the others keep using
/// it, so expiry never sends every in-flight request to the database at once.
pub struct TenantCache {
    db: DatabaseConnection,
    ttl: Duration,
    clock: Clock,
    entries: Mutex<HashMap<String, Entry>>,
    /// Ticks on every invalidation, so a load that raced one is not stored.
    invalidations: AtomicU64,
    /// False while change notices could be missed: nothing is served from memory.
    trusted: AtomicBool,
}

/// What the cache can answer without the database.
enum Lookup {
    Fresh(Arc<TenantSnapshot>),
    /// Stale, and another caller is refreshing it.
    Stale(Arc<TenantSnapshot>),
    /// This caller must load it (missing, or stale and now being refreshed by this caller).
    Load(Option<Arc<TenantSnapshot>>),
}

impl TenantCache {
    /// A cache whose snapshots live for `ttl` by `clock`.
    pub fn new(db: DatabaseConnection, ttl: Duration, clock: Clock) -> Self {
        Self {
            db,
            ttl,
            clock,
            entries: Mutex::new(HashMap::new()),
            invalidations: AtomicU64::new(0),
            trusted: AtomicBool::new(true),
        }
    }

    fn lookup(&self, tenant: &str) -> Lookup {
        let Ok(mut entries) = self.entries.lock() else { return Lookup::Load(None) };
        match entries.get_mut(tenant) {
            None => Lookup::Load(None),
            Some(entry) if self.clock.elapsed(entry.loaded_at) < self.ttl => Lookup::Fresh(entry.snapshot.clone()),
            Some(entry) if entry.refreshing => Lookup::Stale(entry.snapshot.clone()),
            Some(entry) => {
                entry.refreshing = true;
                Lookup::Load(Some(entry.snapshot.clone()))
            }
        }
    }

    /// The tenant's snapshot, loading it when missing or stale.
    pub async fn get(&self, tenant: &str) -> Result<Arc<TenantSnapshot>, Error> {
        if !self.trusted.load(Ordering::Acquire) {
            return load_snapshot(&self.db, &TenantScope::parse(tenant)?).await.map(Arc::new);
        }
        let stale = match self.lookup(tenant) {
            Lookup::Fresh(snapshot) | Lookup::Stale(snapshot) => return Ok(snapshot),
            Lookup::Load(stale) => stale,
        };
        let invalidations = self.invalidations.load(Ordering::Acquire);
        // Should this request be cancelled mid-load, the next caller takes over the refresh.
        let refresh = RefreshGuard { cache: self, tenant };
        let loaded = match TenantScope::parse(tenant) {
            Ok(scope) => load_snapshot(&self.db, &scope).await,
            Err(err) => Err(err),
        };
        drop(refresh);
        let Ok(mut entries) = self.entries.lock() else { return loaded.map(Arc::new) };
        match loaded {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                if self.invalidations.load(Ordering::Acquire) == invalidations {
                    let entry =
                        Entry { loaded_at: self.clock.instant(), snapshot: snapshot.clone(), refreshing: false };
                    entries.insert(tenant.to_owned(), entry);
                }
                Ok(snapshot)
            }
            Err(err) => {
                match stale {
                    // The database hiccuped: the last snapshot is better than a failed request.
                    Some(snapshot) => {
                        tracing::warn!(tenant, error = %err, "tenant snapshot refresh failed; serving the last one");
                        Ok(snapshot)
                    }
                    None => Err(err),
                }
            }
        }
    }

    fn end_refresh(&self, tenant: &str) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(entry) = entries.get_mut(tenant)
        {
            entry.refreshing = false;
        }
    }

    /// Forgets the tenant's snapshot.
    pub fn invalidate(&self, tenant: &str) {
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(tenant);
        }
    }
}

impl ChangeSink for TenantCache {
    fn apply(&self, change: &Change) {
        if let Change::Tenant { tenant } | Change::Catalog { tenant } = change {
            self.invalidate(tenant);
        }
    }

    fn forget_all(&self) {
        self.invalidations.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    fn set_trusted(&self, trusted: bool) {
        self.trusted.store(trusted, Ordering::Release);
    }
}

/// Clears the refreshing mark when a load ends, however it ends.
struct RefreshGuard<'a> {
    cache: &'a TenantCache,
    tenant: &'a str,
}

impl Drop for RefreshGuard<'_> {
    fn drop(&mut self) {
        self.cache.end_refresh(self.tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenants::model::{Plan, TenantLimits};

    const TTL: Duration = Duration::from_secs(2);

    /// A cache holding a snapshot of `acme` just loaded, and the clock to age it with.
    fn with_fresh_entry() -> (TenantCache, crate::clock::ManualClock) {
        let manual = Clock::manual(chrono::Utc::now());
        let cache = TenantCache::new(sea_orm::DatabaseConnection::default(), TTL, manual.clock());
        let snapshot = Arc::new(TenantSnapshot {
            limits: TenantLimits::default().effective(Plan::Starter),
            catalog: HashMap::new(),
        });
        let entry = Entry { loaded_at: manual.clock().instant(), snapshot, refreshing: false };
        cache.entries.lock().unwrap().insert("acme".into(), entry);
        (cache, manual)
    }

    fn with_stale_entry() -> TenantCache {
        let (cache, manual) = with_fresh_entry();
        manual.advance(TTL);
        cache
    }

    #[test]
    fn a_snapshot_is_served_until_its_ttl_ends() {
        let (cache, manual) = with_fresh_entry();
        manual.advance(TTL - Duration::from_millis(1));
        assert!(matches!(cache.lookup("acme"), Lookup::Fresh(_)));
        manual.advance(Duration::from_millis(1));
        assert!(matches!(cache.lookup("acme"), Lookup::Load(Some(_))), "stale at the TTL");
    }

    #[test]
    fn one_caller_refreshes_a_stale_snapshot_while_the_others_use_it() {
        let cache = with_stale_entry();
        assert!(matches!(cache.lookup("acme"), Lookup::Load(Some(_))), "the first caller refreshes");
        assert!(matches!(cache.lookup("acme"), Lookup::Stale(_)), "the next ones serve the stale snapshot");
        assert!(matches!(cache.lookup("globex"), Lookup::Load(None)), "a missing tenant is loaded");
    }

    #[test]
    fn a_refresh_cut_short_hands_over_to_the_next_caller() {
        let cache = with_stale_entry();
        assert!(matches!(cache.lookup("acme"), Lookup::Load(Some(_))));
        // The refreshing request was cancelled mid-load: its guard ends the refresh.
        drop(RefreshGuard { cache: &cache, tenant: "acme" });
        assert!(matches!(cache.lookup("acme"), Lookup::Load(Some(_))));
    }

    #[test]
    fn tenant_and_catalog_changes_forget_the_snapshot() {
        for change in [Change::Tenant { tenant: "acme".into() }, Change::Catalog { tenant: "acme".into() }] {
            let cache = with_stale_entry();
            cache.apply(&Change::Credentials { tenant: "acme".into() });
            cache.apply(&Change::Device { tenant: "acme".into(), device: "glasses".into() });
            assert!(matches!(cache.lookup("acme"), Lookup::Load(Some(_))), "other changes keep it");
            cache.end_refresh("acme");
            cache.apply(&change);
            assert!(matches!(cache.lookup("acme"), Lookup::Load(None)), "{change:?}");
        }
        let cache = with_stale_entry();
        cache.forget_all();
        assert!(matches!(cache.lookup("acme"), Lookup::Load(None)));
    }
}
