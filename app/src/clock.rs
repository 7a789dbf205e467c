//! The clock the application reads time from, injected so tests move time
//! forward instead of sleeping.
//!
//! Two readings: [`Clock::now`] is wall time (what is stored in the database
//! and compared with it: cooldowns, intent expiry, key grace, budget day) and
//! [`Clock::instant`] is monotonic (in-memory TTLs and idle timers). Production
//! uses [`Clock::system`]; a test holds a [`ManualClock`] and advances it, and
//! both readings move together. Rate limits keep governor's and Redis's own
//! clocks: a window that refills is not a TTL a test waits for.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A cheap-to-clone source of the current time.
#[derive(Debug, Clone)]
pub struct Clock {
    manual: Option<Arc<Manual>>,
}

/// The state behind a manual clock.
#[derive(Debug)]
struct Manual {
    /// Wall time at the reference point.
    wall: DateTime<Utc>,
    /// Monotonic time at the reference point.
    mono: Instant,
    /// Whether real time also moves the clock (it always moves by `advance`).
    follows_system: bool,
    /// Nanoseconds added by `advance`.
    advanced_ns: AtomicU64,
}

impl Manual {
    /// How far the clock has moved since the reference point.
    fn offset(&self) -> Duration {
        let advanced = Duration::from_nanos(self.advanced_ns.load(Ordering::Acquire));
        if self.follows_system { self.mono.elapsed() + advanced } else { advanced }
    }
}

impl Clock {
    /// The system clock: what production runs on.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `start` until it is advanced.
    pub fn manual(start: DateTime<Utc>) -> ManualClock {
        ManualClock::new(start, false)
    }

    /// A clock that runs with the system clock and also jumps ahead by every
    /// [`ManualClock::advance`]. What the API tests use: rows written one after
    /// the other keep distinct, ordered timestamps, and device timestamps
    /// (taken from the real clock) stay close to server time.
    pub fn shifted() -> ManualClock {
        ManualClock::new(Utc::now(), true)
    }

    /// Wall time, truncated to microseconds so it round-trips through Postgres
    /// and SQLite unchanged (responses then equal what a later read returns).
    pub fn now(&self) -> DateTime<Utc> {
        let now = match &self.manual {
            None => Utc::now(),
            Some(manual) => manual.wall + manual.offset(),
        };
        DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
    }

    /// A monotonic reading, for in-memory TTLs and idle timers.
    pub fn instant(&self) -> Instant {
        match &self.manual {
            None => Instant::now(),
            Some(manual) => manual.mono + manual.offset(),
        }
    }

    /// Monotonic time passed since `earlier` (a reading of this clock); zero
    /// if `earlier` is in the future.
    pub fn elapsed(&self, earlier: Instant) -> Duration {
        self.instant().saturating_duration_since(earlier)
    }
}

/// The handle a test holds to move a manual clock forward.
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Manual>,
}

impl ManualClock {
    fn new(start: DateTime<Utc>, follows_system: bool) -> Self {
        let state = Manual { wall: start, mono: Instant::now(), follows_system, advanced_ns: AtomicU64::new(0) };
        Self { state: Arc::new(state) }
    }

    /// Moves the clock (both readings) forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.state.advanced_ns.fetch_add(ns, Ordering::AcqRel);
    }

    /// The clock to hand to the application.
    pub fn clock(&self) -> Clock {
        Clock { manual: Some(self.state.clone()) }
    }

    /// Wall time of this clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock().now()
    }
}

impl From<ManualClock> for Clock {
    fn from(manual: ManualClock) -> Self {
        manual.clock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let manual = Clock::manual(start);
        let clock = manual.clock();
        let before = clock.instant();
        assert_eq!(clock.now(), start);
        manual.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
        assert_eq!(clock.elapsed(before), Duration::from_secs(90));
        assert_eq!(clock.elapsed(clock.instant() + Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn a_shifted_clock_runs_ahead_of_the_system_clock_by_what_was_advanced() {
        let shifted = Clock::shifted();
        shifted.advance(Duration::from_secs(3_600));
        let ahead = shifted.now() - Clock::system().now();
        assert!(ahead >= chrono::Duration::seconds(3_599) && ahead <= chrono::Duration::seconds(3_601), "{ahead}");
        let system = Clock::system();
        assert!(system.now() <= Utc::now());
        assert_eq!(system.now().timestamp_subsec_nanos() % 1_000, 0, "microsecond precision");
    }
}
