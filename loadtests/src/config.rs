//! What a load run does: where it sends, which load model, which traffic mix.

use std::time::Duration;

use serde::Serialize;

/// The deployment under test and the credentials to use.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// Platform admin token; needed unless `api_key` names an existing tenant.
    #[serde(skip)]
    pub admin_token: Option<String>,
    /// API key of an existing tenant to use instead of creating one.
    #[serde(skip)]
    pub api_key: Option<String>,
    /// Tenant id to create (ignored with `api_key`).
    pub tenant: String,
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LoadModel {
    /// Detections arrive at a fixed rate whatever the server does; latency is
    /// measured from the intended send time, so a stall shows in the tail
    /// instead of silently lowering the offered load (no coordinated omission).
    Open {
        /// Detections per second after the ramp-up.
        rate: f64,
        /// Most requests outstanding at once; arrivals beyond it wait (and the wait counts as latency).
        max_in_flight: usize,
    },
    /// A fixed number of simulated clients, each sending its next request when
    /// the previous one is answered (like wrk); latency is from the actual send.
    Closed {
        /// Number of concurrent clients.
        concurrency: usize,
    },
}

/// When the run stops sending new detections.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// After this long (decisions already scheduled still go out).
    Duration(#[serde(with = "secs")] Duration),
    /// After this many detections.
    Count(u64),
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// The traffic mix a simulated fleet produces.
#[derive(Debug, Clone, Serialize)]
pub struct Mix {
    /// Relative weights of FULL, HALF, LOW, NEARLY_EMPTY, EMPTY.
    pub fill_weights: [u32; 5],
    /// Share of detections with LOW confidence (never prompt by default).
    pub low_confidence: f64,
    /// Share of prompts the wearer accepts; the rest are declined.
    pub accept_rate: f64,
    /// Share of prompts nobody answers (they expire).
    pub ignore_rate: f64,
    /// Think time before a decision, uniformly between these bounds (ms).
    pub think_ms: (u64, u64),
    /// Share of detections that re-send an earlier event id of the same device.
    pub duplicate_rate: f64,
    /// Share of requests sent a second time at once, as a client does after a lost answer.
    pub retry_rate: f64,
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            // Mostly full or half-full containers, as a real fleet sees them.
            fill_weights: [50, 30, 12, 5, 3],
            low_confidence: 0.05,
            accept_rate: 0.7,
            ignore_rate: 0.1,
            think_ms: (200, 1500),
            duplicate_rate: 0.02,
            retry_rate: 0.01,
        }
    }
}

/// A whole load run.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// Where to send.
    pub target: Target,
    /// Devices to register (in batches of at most 1,000).
    pub devices: usize,
    /// Open or closed model.
    pub model: LoadModel,
    /// When to stop.
    pub stop: Stop,
    /// Time over which the rate (open) or the number of clients (closed) grows linearly to its target.
    #[serde(with = "secs")]
    pub ramp_up: Duration,
    /// The traffic mix.
    pub mix: Mix,
    /// Tenant cooldown after a decision or order, seconds (0 keeps prompts coming).
    pub cooldown_seconds: u32,
    /// Per-device limit to set on a new tenant (the service's default is 100/min).
    pub device_per_minute: u32,
    /// Per-request timeout.
    #[serde(with = "secs")]
    pub request_timeout: Duration,
    /// Print a live progress line on stderr.
    #[serde(skip)]
    pub progress: bool,
    /// Seed for the traffic generator, so a run can be repeated.
    pub seed: u64,
    /// Pass/fail criteria on the measurements (`--threshold`).
    pub thresholds: Vec<crate::threshold::Threshold>,
    /// Leave the tenant this run created active (`--keep`); by default it is deactivated at the end.
    pub keep: bool,
    /// Start a local webhook receiver, register it for every event type and check that
    /// every event of the run reached it (`--webhooks`).
    pub webhooks: Option<crate::webhooks::WebhookConfig>,
    /// How the per-second timeline is cut into windows for per-window percentiles.
    pub windows: crate::windows::WindowConfig,
    /// The first arrivals visit every device once, in a seeded random order, before devices are
    /// drawn at random: every device activates within the run's first seconds (a cold start).
    pub cover_fleet_first: bool,
}

impl RunConfig {
    /// A short closed-model run against `url` with the default mix (handy in tests).
    pub fn new(url: &str, admin_token: &str) -> Self {
        Self {
            target: Target {
                url: url.trim_end_matches('/').to_owned(),
                admin_token: Some(admin_token.to_owned()),
                api_key: None,
                tenant: format!("load-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            },
            devices: 100,
            model: LoadModel::Closed { concurrency: 8 },
            stop: Stop::Count(500),
            ramp_up: Duration::ZERO,
            mix: Mix::default(),
            cooldown_seconds: 0,
            device_per_minute: 1_000_000,
            request_timeout: Duration::from_secs(30),
            progress: false,
            seed: 1,
            thresholds: Vec::new(),
            keep: false,
            webhooks: None,
            windows: crate::windows::WindowConfig::default(),
            cover_fleet_first: false,
        }
    }

    /// Rejects options that cannot work together.
    pub fn validate(&self) -> crate::Result<()> {
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) { Ok(()) } else { Err(crate::Error::Config(format!("{name} must be 0-1"))) }
        };
        share("accept rate", self.mix.accept_rate)?;
        share("ignore rate", self.mix.ignore_rate)?;
        share("duplicate rate", self.mix.duplicate_rate)?;
        share("retry rate", self.mix.retry_rate)?;
        share("low confidence share", self.mix.low_confidence)?;
        if self.devices == 0 {
            return Err(crate::Error::Config("at least one device".into()));
        }
        if self.mix.fill_weights.iter().all(|w| *w == 0) {
            return Err(crate::Error::Config("fill weights must not all be 0".into()));
        }
        if self.mix.think_ms.0 > self.mix.think_ms.1 {
            return Err(crate::Error::Config("think time: min above max".into()));
        }
        match self.model {
            LoadModel::Open { rate, max_in_flight } if !rate.is_finite() || rate <= 0.0 || max_in_flight == 0 => {
                Err(crate::Error::Config("open model needs a positive rate and max in flight".into()))
            }
            LoadModel::Closed { concurrency: 0 } => Err(crate::Error::Config("closed model needs concurrency".into())),
            _ => Ok(()),
        }
    }
}
