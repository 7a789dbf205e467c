//! Mailbox admission: an actor takes at most so many requests at once; the
//! rest are refused at the door (503) instead of queueing without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::Error;

/// Counts one actor's requests queued or in flight.
#[derive(Debug, Clone, Default)]
pub struct Admission(Arc<AtomicUsize>);

impl Admission {
    /// Reserves a slot, or says the actor (`what`) is overloaded; the slot is
    /// given back when the guard drops.
    pub fn reserve(&self, capacity: usize, what: &'static str) -> Result<InflightGuard, Error> {
        let before = self.0.fetch_add(1, Ordering::AcqRel);
        let guard = InflightGuard(self.0.clone());
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
