//! The registry that activates actors on first use and forgets them when they
//! passivate, and the settings every actor shares.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::{Actor, Addr};

use crate::error::Error;
use crate::limits::mailbox::Admission;

/// One live actor.
pub struct Entry<A: Actor> {
    /// Its address.
    pub addr: Addr<A>,
    /// Bounds the requests queued for it.
    pub admission: Admission,
    generation: u64,
}

impl<A: Actor> Clone for Entry<A> {
    fn clone(&self) -> Self {
        Self { addr: self.addr.clone(), admission: self.admission.clone(), generation: self.generation }
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
        let entry = Entry { addr: start(generation), admission: Admission::default(), generation };
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

    /// Forgets every actor, as [`Registry::forget`] does one.
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// What every actor of a kind is configured with.
#[derive(Debug, Clone, Copy)]
pub struct ActorSettings {
    /// Idle time after which an actor passivates.
    pub idle_timeout: Duration,
    /// Most requests queued or in flight per actor; more get 503.
    pub mailbox_capacity: usize,
    /// Deadline for the actor to answer one request.
    pub answer_timeout: Duration,
}
