//! Latency and status recording: one HdrHistogram per endpoint plus a per-second timeline.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// The endpoints the simulator drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /api/v1/detections`.
    Detections,
    /// `POST /api/v1/decisions`.
    Decisions,
}

impl Endpoint {
    /// Both, in report order.
    pub const ALL: [Endpoint; 2] = [Endpoint::Detections, Endpoint::Decisions];

    /// The route as the report names it.
    pub fn route(self) -> &'static str {
        match self {
            Endpoint::Detections => "POST /api/v1/detections",
            Endpoint::Decisions => "POST /api/v1/decisions",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Longest latency recorded (µs); anything slower is clamped to it.
const MAX_MICROS: u64 = 120_000_000;

// The bounds are constants and `sigfig` is 2 or 3, both valid, so creation cannot fail.
#[allow(clippy::expect_used)]
fn histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, sigfig).expect("constant histogram bounds are valid")
}

/// Everything recorded for one endpoint.
#[derive(Debug, Clone)]
pub struct EndpointStats {
    /// Latency of every answered request, µs.
    pub latency: Histogram<u64>,
    /// Answers by HTTP status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no HTTP answer (connect error, timeout).
    pub transport_errors: u64,
}

impl Default for EndpointStats {
    fn default() -> Self {
        Self { latency: histogram(3), statuses: BTreeMap::new(), transport_errors: 0 }
    }
}

impl EndpointStats {
    /// Requests sent, answered or not.
    pub fn requests(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.transport_errors
    }

    /// Answers whose status is in `range`.
    pub fn count_in(&self, range: std::ops::RangeInclusive<u16>) -> u64 {
        self.statuses.range(range).map(|(_, n)| n).sum()
    }
}

/// One second of the run (by intended send time).
#[derive(Debug, Clone)]
pub struct Second {
    /// Requests per endpoint in this second.
    pub requests: [u64; 2],
    /// Answers that were not 2xx, plus transport errors.
    pub errors: u64,
    /// Latency of this second's requests (all endpoints), µs, at lower precision.
    pub latency: Histogram<u64>,
    /// The same per endpoint, in [`Endpoint::ALL`] order (for per-window percentiles).
    pub by_endpoint: [Histogram<u64>; 2],
}

impl Default for Second {
    fn default() -> Self {
        Self { requests: [0; 2], errors: 0, latency: histogram(2), by_endpoint: [histogram(2), histogram(2)] }
    }
}

#[derive(Debug, Default)]
struct Inner {
    endpoints: [EndpointStats; 2],
    timeline: Vec<Second>,
}

/// Thread-safe recorder shared by every request task.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
}

/// A copy of what was recorded, for reports.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Per endpoint, in [`Endpoint::ALL`] order.
    pub endpoints: [EndpointStats; 2],
    /// Per second since the start.
    pub timeline: Vec<Second>,
}

impl Recorder {
    /// A recorder whose timeline starts now.
    pub fn new() -> Self {
        Self { start: Instant::now(), inner: Mutex::new(Inner::default()) }
    }

    /// When the timeline starts.
    pub fn start(&self) -> Instant {
        self.start
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panicking request task must not take the whole report with it.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one request: `status` is None for a transport error; `latency` runs from the
    /// intended send time (open model) or the actual one (closed model).
    pub fn record(&self, endpoint: Endpoint, intended: Instant, status: Option<u16>, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        let second = intended.saturating_duration_since(self.start).as_secs() as usize;
        let mut inner = self.lock();
        let stats = &mut inner.endpoints[endpoint.index()];
        match status {
            Some(status) => {
                *stats.statuses.entry(status).or_default() += 1;
                let _ = stats.latency.record(micros);
            }
            None => stats.transport_errors += 1,
        }
        if inner.timeline.len() <= second {
            inner.timeline.resize_with(second + 1, Second::default);
        }
        let slot = &mut inner.timeline[second];
        slot.requests[endpoint.index()] += 1;
        if !status.is_some_and(crate::client::is_success) {
            slot.errors += 1;
        }
        if status.is_some() {
            let _ = slot.latency.record(micros);
            let _ = slot.by_endpoint[endpoint.index()].record(micros);
        }
    }

    /// (requests, errors, detections p99 µs) so far, for the progress line.
    pub fn progress(&self) -> (u64, u64, u64) {
        let inner = self.lock();
        let requests = inner.endpoints.iter().map(EndpointStats::requests).sum();
        let errors = inner.endpoints.iter().map(|e| e.requests() - e.count_in(200..=299)).sum();
        (requests, errors, inner.endpoints[0].latency.value_at_quantile(0.99))
    }

    /// A copy of everything so far.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.lock();
        Snapshot { endpoints: inner.endpoints.clone(), timeline: inner.timeline.clone() }
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}
