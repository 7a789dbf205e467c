//! The registry that activates actors on first use and forgets them when they
//! passivate, and the in-flight accounting that bounds their mailboxes.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix::{Actor, Addr};

use crate::error::Error;

/// One live actor.
pub struct Entry<A: Actor> {
    /// Its address.
    pub addr: Addr<A>,
    inflight: Arc<AtomicUsize>,
    generation: u64,
}

impl<A: Actor> Clone for Entry<A> {
    fn clone(&self) -> Self {
        Self { addr: self.addr.clone(), inflight: self.inflight.clone(), generation: self.generation }
    }
}

impl<A: Actor> Entry<A> {
    /// Reserves a mailbox slot, or says the actor is overloaded; the slot is
    /// given back when the guard drops.
    pub fn reserve(&self, capacity: usize, what: &'static str) -> Result<InflightGuard, Error> {
        let before = self.inflight.fetch_add(1, Ordering::AcqRel);
        let guard = InflightGuard(self.inflight.clone());
        if before >= capacity { Err(Error::Overloaded(what)) } else { Ok(guard) }
    }
}

/// Holds one mailbox slot.
pub struct InflightGuard(Arc<AtomicUsize>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Live actors by key.
pub struct Registry<K, A: Actor> {
    entries: Mutex<HashMap<K, Entry<A>>>,
    next_generation: AtomicU64,
}

impl<K: Eq + Hash + Clone, A: Actor> Default for Registry<K, A> {
    fn default() -> Self {
        Self { entries: Mutex::new(HashMap::new()), next_generation: AtomicU64::new(1) }
    }
}

impl<K: Eq + Hash + Clone, A: Actor> Registry<K, A> {
    /// The live actor for `key`, if any.
    pub fn get(&self, key: &K) -> Option<Entry<A>> {
        let entries = self.entries.lock().ok()?;
        entries.get(key).filter(|e| e.addr.connected()).cloned()
    }

    /// The live actor for `key`, starting one with `start` (given its
    /// generation) when there is none. `start` runs under the registry lock,
    /// so it must only start the actor, not wait for anything.
    pub fn get_or_start(&self, key: &K, start: impl FnOnce(u64) -> Addr<A>) -> Result<Entry<A>, Error> {
        let mut entries = self.entries.lock().map_err(|_| Error::Internal("actor registry poisoned".into()))?;
        if let Some(entry) = entries.get(key).filter(|e| e.addr.connected()) {
            return Ok(entry.clone());
        }
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let entry = Entry { addr: start(generation), inflight: Arc::new(AtomicUsize::new(0)), generation };
        entries.insert(key.clone(), entry.clone());
        Ok(entry)
    }

    /// Forgets `key` if it still belongs to activation `generation`.
    pub fn remove(&self, key: &K, generation: u64) {
        if let Ok(mut entries) = self.entries.lock()
            && entries.get(key).is_some_and(|e| e.generation == generation)
        {
            entries.remove(key);
        }
    }

    /// Forgets `key` whatever its activation, so the next request starts an
    /// actor with fresh state (the old one passivates on its own).
    pub fn forget(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

/// Runs `tick` every `period` on the current tokio runtime for as long as
/// `owner` lives; the task ends once the owner is dropped.
pub fn spawn_periodic<T, F, Fut>(owner: &std::sync::Arc<T>, period: std::time::Duration, tick: F)
where
    T: Send + Sync + 'static,
    F: Fn(std::sync::Arc<T>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let owner = std::sync::Arc::downgrade(owner);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        loop {
            ticker.tick().await;
            let Some(live) = owner.upgrade() else { return };
            tick(live).await;
        }
    });
}
