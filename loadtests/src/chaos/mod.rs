//! `replenish-load chaos`: the fleet mix against two app processes on a
//! private Postgres and Redis while faults are injected on a seeded schedule;
//! afterwards the whole history is checked against what was stored.
//!
//! [`rig`] starts the parts ([`cluster`]: Postgres, Redis, app processes;
//! [`proxy`]: the fault proxies; [`merchant`]: the merchant's order receiver;
//! the event receiver is [`crate::receiver`]),
//! [`faults`] schedules and injects the faults, [`load`] drives the traffic
//! into a [`history`], [`checker`] judges it, [`report`] presents it.

pub mod checker;
pub mod cluster;
pub mod faults;
pub mod history;
pub mod load;
pub mod merchant;
pub mod proxy;
pub mod readback;
pub mod report;
pub mod rig;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use self::checker::CheckResult;
use self::faults::FaultRecord;
use self::history::History;
use self::load::{LoadPlan, Tamper};
use self::report::{ChaosReport, Parts};
use self::rig::{Fleet, Rig, RigConfig};
use crate::error::Result;
use crate::process::locate_app_bin;

/// A chaos run's settings.
#[derive(Debug, Clone, Serialize)]
pub struct ChaosConfig {
    /// The `replenish` binary (default: located as `bench` does).
    pub app_bin: Option<PathBuf>,
    /// Seed of the fault schedule and of the traffic.
    pub seed: u64,
    /// How long the load runs.
    pub duration: Duration,
    /// About one fault per this interval.
    pub fault_interval: Duration,
    /// Inject faults at all (off: a clean run, for comparison and for the tampering tests).
    pub faults: bool,
    /// Concurrent clients.
    pub clients: usize,
    /// Devices.
    pub devices: usize,
    /// Device owners (devices share them, so budgets see several devices).
    pub owners: usize,
    /// Each owner's daily budget, USD.
    pub budget_usd: f64,
    /// Seconds before an unanswered prompt expires.
    pub intent_ttl_seconds: u32,
    /// Think time before a decision, ms.
    pub think_ms: (u64, u64),
    /// Share of prompts accepted.
    pub accept_rate: f64,
    /// Share of prompts left unanswered.
    pub ignore_rate: f64,
    /// Share of requests sent again to the other app.
    pub repeat_rate: f64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// The apps' commerce deadline, ms.
    pub commerce_timeout_ms: u64,
    /// Most time given to orders with unknown outcomes to settle after the load, and again
    /// to pending intents and event deliveries to drain.
    pub settle: Duration,
    /// A deliberate fault in the generator (tests only).
    pub tamper: Option<Tamper>,
}

impl Default for ChaosConfig {
    /// The short run: 40 s, a fault about every 3 s (every kind fits in).
    fn default() -> Self {
        Self {
            app_bin: None,
            seed: 1,
            duration: Duration::from_secs(40),
            fault_interval: Duration::from_secs(3),
            faults: true,
            clients: 6,
            devices: 60,
            owners: 30,
            budget_usd: 40.0,
            intent_ttl_seconds: 3,
            think_ms: (50, 4000),
            accept_rate: 0.75,
            ignore_rate: 0.1,
            repeat_rate: 0.05,
            timeout: Duration::from_secs(3),
            commerce_timeout_ms: 1000,
            settle: Duration::from_secs(30),
            tamper: None,
        }
    }
}

impl ChaosConfig {
    /// The command line that replays this run.
    pub fn replay(&self) -> String {
        format!(
            "replenish-load chaos --seed {} --duration {} --fault-interval {} --clients {} --devices {} --owners {} \
             --budget-usd {}{}",
            self.seed,
            self.duration.as_secs_f64(),
            self.fault_interval.as_secs_f64(),
            self.clients,
            self.devices,
            self.owners,
            self.budget_usd,
            if self.faults { "" } else { " --no-faults" }
        )
    }
}

/// A finished run whose rig is still up: checks can be run (again) on it.
pub struct Exercised {
    /// The rig, still running (its private database can be read, or tampered with by tests).
    pub rig: Arc<Rig>,
    /// The provisioned tenant.
    pub fleet: Fleet,
    /// Every request and its outcome.
    pub history: History,
    /// The faults carried out.
    pub faults: Vec<FaultRecord>,
    /// Orders still unsettled when the run ended.
    pub unsettled: u64,
    /// Pending intents, unsettled orders and undelivered events left when the drain wait ended.
    pub outstanding: u64,
    config: ChaosConfig,
    started_at: chrono::DateTime<chrono::Utc>,
    began: std::time::Instant,
}

/// Starts the rig, provisions, drives the load with the faults, heals
/// everything and lets orders settle; the rig stays up for the checks.
pub async fn exercise(config: &ChaosConfig) -> Result<Exercised> {
    let began = std::time::Instant::now();
    let app_bin = locate_app_bin(config.app_bin.as_deref())?;
    let rig =
        Arc::new(Rig::start(&RigConfig { app_bin, apps: 2, commerce_timeout_ms: config.commerce_timeout_ms }).await?);
    let fleet = rig
        .provision(
            &format!("chaos-{}", config.seed),
            config.devices,
            config.owners,
            config.budget_usd,
            config.intent_ttl_seconds,
        )
        .await?;
    let plan = LoadPlan {
        seed: config.seed,
        duration: config.duration,
        clients: config.clients,
        think_ms: config.think_ms,
        accept_rate: config.accept_rate,
        ignore_rate: config.ignore_rate,
        repeat_rate: config.repeat_rate,
        timeout: config.timeout,
        tamper: config.tamper,
    };
    let schedule = if config.faults {
        faults::schedule(config.seed, config.duration, config.fault_interval, rig.apps.len())
    } else {
        Vec::new()
    };
    let started_at = chrono::Utc::now();
    let start = tokio::time::Instant::now();
    let injected = faults::inject(&rig, schedule, start);
    let history = load::drive(plan, rig.urls.clone(), fleet.devices.clone(), start).await;
    let faults = faults::collect(injected).await;
    rig.heal().await?;
    let deadline = std::time::Instant::now() + config.settle;
    let mut unsettled = rig.unsettled(&fleet.tenant)?;
    while unsettled > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        unsettled = rig.unsettled(&fleet.tenant)?;
    }
    // Then the events: intents still pending expire (writing events) and every event is
    // delivered, retries included, before the checks read them back.
    // Nothing outstanding on two looks in a row: a transaction that was still open on the
    // first (its event not yet visible) has committed and been delivered by the second.
    let deadline = std::time::Instant::now() + config.settle;
    let (mut outstanding, mut quiet) = (rig.outstanding(&fleet.tenant)?, 0);
    while quiet < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        outstanding = rig.outstanding(&fleet.tenant)?;
        quiet = if outstanding == 0 { quiet + 1 } else { 0 };
    }
    Ok(Exercised { rig, fleet, history, faults, unsettled, outstanding, config: config.clone(), started_at, began })
}

impl Exercised {
    /// Reads everything back and runs every check.
    pub fn check(&self) -> Result<Vec<CheckResult>> {
        let state = self.rig.read_back(&self.fleet.tenant)?;
        Ok(checker::check(&self.history, &state))
    }

    /// Reads back, checks and builds the report.
    pub fn report(&self) -> Result<ChaosReport> {
        let state = self.rig.read_back(&self.fleet.tenant)?;
        let checks = checker::check(&self.history, &state);
        let parts = Parts {
            seed: self.config.seed,
            replay: self.config.replay(),
            started_at: self.started_at,
            duration_s: self.began.elapsed().as_secs_f64(),
            apps: self.rig.apps.len(),
            devices: self.fleet.devices.len(),
            config: serde_json::to_value(&self.config).unwrap_or_default(),
            faults: self.faults.clone(),
            merchant_calls: self.rig.merchant.calls(),
            webhook_deliveries: self.rig.webhooks.tally().accepted,
            orders: state.orders.len() as u64,
            unsettled_orders: self.unsettled,
        };
        Ok(ChaosReport::build(parts, &self.history, checks))
    }
}

/// A whole chaos run: exercise, check, report.
pub async fn run(config: &ChaosConfig) -> Result<ChaosReport> {
    let exercised = exercise(config).await?;
    let report = exercised.report();
    exercised.rig.merchant.stop().await;
    report
}
