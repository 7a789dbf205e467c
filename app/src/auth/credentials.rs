//! A per-replica cache of credentials that authenticated, so a device's
//! detection does not cost a database round trip for its token.
//!
//! Revocation must still cut a token off at once, on every replica. Each
//! transaction that issues, revokes, rotates or deactivates announces a
//! [`Change::Credentials`] for the tenant (see [`crate::changes`]): every
//! replica forgets the tenant's cached credentials when it hears it. While a
//! replica's notice listener is not connected it could miss one, so it stops
//! using the cache and asks the database every time until the listener is
//! back — degraded speed, never stale access.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::auth::Caller;
use crate::changes::{Change, ChangeSink};
use crate::clock::Clock;

/// How often expired entries are swept out.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Cached {
    caller: Caller,
    tenant: String,
    /// The invalidation clock when the lookup that produced this entry started.
    stamp: u64,
    /// A rotated key's end of grace.
    expires_at: Option<DateTime<Utc>>,
    /// When the database confirmed it (a reading of the cache's clock).
    confirmed_at: Instant,
}

/// Authenticated credentials by token hash, invalidated per tenant.
pub struct CredentialCache {
    entries: Option<moka::sync::Cache<String, Cached>>,
    /// Ticks on every invalidation; a lookup notes it before reading the database.
    clock: AtomicU64,
    /// Clock value of each tenant's last invalidation; entries stamped before it are void.
    invalidated: RwLock<HashMap<String, u64>>,
    /// Clock value of the last invalidation of everything.
    all_invalidated: AtomicU64,
    /// False while cross-replica notices could be missed.
    usable: AtomicBool,
    /// How long an entry is served.
    ttl: Duration,
    /// Ages the entries (moka's own expiry only bounds the memory they hold).
    time: Clock,
}

/// A lookup in progress: the clock value to stamp its result with.
#[derive(Debug, Clone, Copy)]
pub struct LookupTicket(u64);

impl CredentialCache {
    /// A cache keeping entries for `ttl` by `time` (zero disables it),
    /// usable until the invalidator says notices could be missed.
    pub fn new(ttl: Duration, capacity: u64, time: Clock) -> Self {
        let entries =
            (!ttl.is_zero()).then(|| moka::sync::Cache::builder().max_capacity(capacity).time_to_live(ttl).build());
        Self {
            entries,
            clock: AtomicU64::new(1),
            invalidated: RwLock::new(HashMap::new()),
            all_invalidated: AtomicU64::new(0),
            usable: AtomicBool::new(true),
            ttl,
            time,
        }
    }

    /// The cached caller for `hash`, if its tenant was not invalidated since.
    pub fn get(&self, hash: &str, now: DateTime<Utc>) -> Option<Caller> {
        if !self.usable.load(Ordering::Acquire) {
            return None;
        }
        let entry = self.entries.as_ref()?.get(hash)?;
        let void_since = self.invalidated.read().ok()?.get(&entry.tenant).copied().unwrap_or(0);
        let fresh = self.time.elapsed(entry.confirmed_at) < self.ttl
            && entry.stamp > void_since
            && entry.stamp > self.all_invalidated.load(Ordering::Acquire)
            && entry.expires_at.is_none_or(|at| at > now);
        fresh.then_some(entry.caller)
    }

    /// Call before reading a credential from the database: a result is only
    /// cached if no invalidation of its tenant happened after this point.
    pub fn ticket(&self) -> LookupTicket {
        LookupTicket(self.clock.load(Ordering::Acquire))
    }

    /// Remembers a credential the database just confirmed.
    pub fn insert(&self, ticket: LookupTicket, hash: String, caller: Caller, expires_at: Option<DateTime<Utc>>) {
        let (Some(entries), Ok((tenant, _))) = (&self.entries, caller.tenant_scope()) else { return };
        let tenant = tenant.to_string();
        let confirmed_at = self.time.instant();
        entries.insert(hash, Cached { caller, tenant, stamp: ticket.0, expires_at, confirmed_at });
    }

    /// Forgets every cached credential of `tenant`, including lookups still in flight.
    pub fn invalidate_tenant(&self, tenant: &str) {
        let tick = self.clock.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut invalidated) = self.invalidated.write() {
            invalidated.insert(tenant.to_owned(), tick);
        } else {
            self.invalidate_all();
        }
    }

    /// Forgets every cached credential.
    pub fn invalidate_all(&self) {
        let tick = self.clock.fetch_add(1, Ordering::AcqRel);
        self.all_invalidated.store(tick, Ordering::Release);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }

    fn set_usable(&self, usable: bool) {
        if usable {
            // Notices sent while the listener was away are lost: start clean.
            self.invalidate_all();
        }
        self.usable.store(usable, Ordering::Release);
        if !usable {
            self.invalidate_all();
        }
    }

    /// Drops expired entries every second even when no request comes, so an
    /// idle fleet's credentials do not outlive their TTL in memory.
    pub fn spawn_housekeeping(self: &Arc<Self>) {
        crate::tasks::spawn_periodic(self, HOUSEKEEPING_INTERVAL, |live| async move {
            if let Some(entries) = &live.entries {
                entries.run_pending_tasks();
            }
        });
    }
}

impl ChangeSink for CredentialCache {
    fn apply(&self, change: &Change) {
        if let Change::Credentials { tenant } = change {
            self.invalidate_tenant(tenant);
        }
    }

    fn forget_all(&self) {
        self.invalidate_all();
    }

    fn set_trusted(&self, trusted: bool) {
        self.set_usable(trusted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::DeviceCaller;
    use crate::http::ResourceId;

    fn device(tenant: &str, id: &str) -> Caller {
        Caller::Device(DeviceCaller {
            tenant_id: ResourceId::parse(tenant).unwrap(),
            device_id: ResourceId::parse(id).unwrap(),
        })
    }

    const TTL: Duration = Duration::from_secs(60);

    fn cache() -> CredentialCache {
        CredentialCache::new(TTL, 1_000, Clock::system())
    }

    fn tenant_of(caller: Option<Caller>) -> Option<String> {
        caller.and_then(|c| c.tenant_scope().ok().map(|(t, _)| t.to_string()))
    }

    #[test]
    fn a_confirmed_credential_is_served_until_its_tenant_is_invalidated() {
        let cache = cache();
        let now = Utc::now();
        cache.insert(cache.ticket(), "a".into(), device("acme", "d1"), None);
        cache.insert(cache.ticket(), "b".into(), device("globex", "d2"), None);
        assert_eq!(tenant_of(cache.get("a", now)).as_deref(), Some("acme"));
        cache.invalidate_tenant("acme");
        assert!(cache.get("a", now).is_none());
        assert_eq!(tenant_of(cache.get("b", now)).as_deref(), Some("globex"), "other tenants keep theirs");
    }

    #[test]
    fn only_credential_changes_drop_a_tenants_credentials() {
        let cache = cache();
        cache.insert(cache.ticket(), "a".into(), device("acme", "d1"), None);
        cache.apply(&Change::Tenant { tenant: "acme".into() });
        cache.apply(&Change::Catalog { tenant: "acme".into() });
        cache.apply(&Change::Device { tenant: "acme".into(), device: "d1".into() });
        assert!(cache.get("a", Utc::now()).is_some());
        cache.apply(&Change::Credentials { tenant: "acme".into() });
        assert!(cache.get("a", Utc::now()).is_none());
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_kept() {
        let cache = cache();
        let ticket = cache.ticket();
        // The database said yes, but the tenant was invalidated before the answer was stored.
        cache.invalidate_tenant("acme");
        cache.insert(ticket, "a".into(), device("acme", "d1"), None);
        assert!(cache.get("a", Utc::now()).is_none());
        cache.insert(cache.ticket(), "a".into(), device("acme", "d1"), None);
        assert!(cache.get("a", Utc::now()).is_some(), "a lookup after the invalidation is fine");
    }

    #[test]
    fn rotated_keys_stop_at_the_end_of_their_grace() {
        let cache = cache();
        let now = Utc::now();
        let merchant = Caller::Merchant(crate::auth::Merchant { tenant_id: ResourceId::parse("acme").unwrap() });
        cache.insert(cache.ticket(), "k".into(), merchant, Some(now + chrono::Duration::seconds(5)));
        assert!(cache.get("k", now).is_some());
        assert!(cache.get("k", now + chrono::Duration::seconds(5)).is_none());
    }

    #[test]
    fn nothing_is_served_while_notices_could_be_missed() {
        let cache = cache();
        cache.insert(cache.ticket(), "a".into(), device("acme", "d1"), None);
        cache.set_usable(false);
        assert!(cache.get("a", Utc::now()).is_none());
        cache.set_usable(true);
        assert!(cache.get("a", Utc::now()).is_none(), "entries from before the outage are dropped");
        let disabled = CredentialCache::new(Duration::ZERO, 1_000, Clock::system());
        disabled.insert(disabled.ticket(), "a".into(), device("acme", "d1"), None);
        assert!(disabled.get("a", Utc::now()).is_none(), "a zero TTL turns the cache off");
    }

    #[test]
    fn entries_are_served_for_their_ttl_by_the_injected_clock() {
        let manual = Clock::manual(Utc::now());
        let cache = CredentialCache::new(TTL, 1_000, manual.clock());
        cache.insert(cache.ticket(), "a".into(), device("acme", "d1"), None);
        manual.advance(TTL - Duration::from_millis(1));
        assert!(cache.get("a", manual.now()).is_some());
        manual.advance(Duration::from_millis(1));
        assert!(cache.get("a", manual.now()).is_none(), "gone at the TTL");
    }
}
