//! `replenish-load bench-soak`: the app started on a fresh database, `run`'s open model at a fixed rate
//! for minutes, per-window percentiles (stalls: sweeper, checkpoints, pool or lock waits) and the CPU
//! time the app and the generator spent per detection.

use std::time::Duration;

use crate::backend::{ADMIN_TOKEN, Backend, Servers};
use crate::client::{Api, Fleet};
use crate::config::{LoadModel, RunConfig, Stop};
use crate::cpu::{CpuProbe, CpuReading};
use crate::error::Result;
use crate::process::{AppProcess, rss_kib};
use crate::report::Report;
use crate::stats::Endpoint;
use crate::windows::WindowConfig;

/// What an open-model bench drives (shared by `bench-soak` and `bench-cold-start`).
#[derive(Debug, Clone)]
pub struct OpenLoad {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Detections per second.
    pub rate: f64,
    /// Seconds of load.
    pub seconds: f64,
    /// Devices provisioned.
    pub devices: usize,
    /// Most requests outstanding at once.
    pub max_in_flight: usize,
    /// How the timeline is cut into windows.
    pub windows: WindowConfig,
    /// Seed of the traffic.
    pub seed: u64,
    /// A live progress line on stderr.
    pub progress: bool,
}

impl OpenLoad {
    /// `run`'s configuration for this load against `url`, default mix.
    pub fn run_config(&self, url: &str) -> RunConfig {
        let mut config = RunConfig::new(url, ADMIN_TOKEN);
        config.devices = self.devices;
        config.model = LoadModel::Open { rate: self.rate, max_in_flight: self.max_in_flight };
        config.stop = Stop::Duration(Duration::from_secs_f64(self.seconds));
        config.windows = self.windows;
        config.seed = self.seed;
        config.progress = self.progress;
        config
    }
}

/// Provisions `run`'s tenant, catalog and fleet through `app`; also reads the funnel before any load.
pub async fn provision(app: &AppProcess, config: &RunConfig) -> Result<(Fleet, replenish_api::Summary)> {
    let api = Api::new(&app.url(), reqwest::Client::new());
    let fleet = api.provision(config).await?;
    let before = api.summary(&fleet.api_key).await?;
    Ok((fleet, before))
}

/// The app's and the generator's CPU per detection sent, as lines for a terminal.
pub fn cpu_lines(used: Option<CpuReading>, report: &Report) -> String {
    let Some(used) = used else { return "CPU: not measured (the load did not finish)\n".to_owned() };
    let sent = report.endpoint(Endpoint::Detections).map_or(0, |e| e.requests);
    let decisions = report.endpoint(Endpoint::Decisions).map_or(0, |e| e.requests);
    let per = |micros: u64| micros as f64 / sent.max(1) as f64;
    let share = |micros: u64| micros as f64 / 1e6 / report.duration_s.max(1e-9);
    format!(
        "CPU over the load ({sent} detections, {decisions} decisions, {:.1} s): app {:.1} s = {:.0} µs per detection \
         (decisions included), {:.2} cores; generator {:.1} s = {:.0} µs per detection, {:.2} cores\n",
        report.duration_s,
        used.app as f64 / 1e6,
        per(used.app),
        share(used.app),
        used.generator as f64 / 1e6,
        per(used.generator),
        share(used.generator),
    )
}

/// Starts the app on a fresh `load.backend` database, provisions the fleet and drives the open model;
/// prints the report (with the per-window table) and the CPU per detection, and returns the report.
pub async fn run(servers: &Servers, load: &OpenLoad) -> Result<Report> {
    let bin = servers.app_bin()?;
    println!("app binary: {}; backend {}", bin.display(), load.backend);
    let backend = Backend::create(&load.backend, servers, &[])?;
    let mut app = AppProcess::start(&bin, backend.env())?;
    app.wait_ready().await?;
    let config = load.run_config(&app.url());
    let (fleet, before) = provision(&app, &config).await?;
    println!(
        "{} devices provisioned; open model at {}/s for {} s, default mix",
        fleet.devices.len(),
        load.rate,
        load.seconds
    );
    let probe = CpuProbe::new(app.pid());
    let (report, _) = crate::sim::run_fleet(config, fleet, Some(before), &probe).await?;
    let rss = rss_kib(app.pid()).unwrap_or(0);
    drop(app);
    drop(backend);
    print!("{}", report.human());
    println!();
    print!("{}", cpu_lines(probe.used(), &report));
    println!("app RSS at the end {:.1} MiB", rss as f64 / 1024.0);
    Ok(report)
}
