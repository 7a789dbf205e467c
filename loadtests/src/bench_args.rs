//! The arguments of the benchmark subcommands (`bench`, `bench-soak`,
//! `bench-cold-start`, `bench-million`, `bench-webhooks`, `bench-replicas`)
//! and their conversion to each benchmark's configuration.

use std::path::PathBuf;

use clap::Args;
use replenish_loadtests::backend::Servers;
use replenish_loadtests::bench;
use replenish_loadtests::soak::OpenLoad;
use replenish_loadtests::windows::WindowConfig;

/// Where a benchmark finds the app and the servers it starts it on.
#[derive(Args)]
pub(crate) struct ServerArgs {
    /// The app binary (default: target/release/replenish next to this binary, then target/release).
    #[arg(long)]
    pub(crate) app_bin: Option<PathBuf>,
    /// Postgres server to create fresh databases on.
    #[arg(long, env = "DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub(crate) database_url: String,
    /// Redis for the Postgres backend (replicas share it).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub(crate) redis_url: String,
}

#[derive(Args)]
pub(crate) struct OpenBenchArgs {
    #[command(flatten)]
    pub(crate) servers: ServerArgs,
    /// sqlite or postgres.
    #[arg(long, default_value = "postgres")]
    pub(crate) backend: String,
    /// Detections per second (open model).
    #[arg(long, default_value_t = 1200.0)]
    pub(crate) rate: f64,
    /// Seconds of load (default: 600 for bench-soak, 30 for bench-cold-start).
    #[arg(long)]
    pub(crate) seconds: Option<f64>,
    /// Devices provisioned.
    #[arg(long, default_value_t = 5000)]
    pub(crate) devices: usize,
    /// Most requests outstanding at once.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_in_flight: usize,
    /// Per-window percentiles over windows of this many seconds.
    #[arg(long, default_value_t = 10)]
    pub(crate) window_secs: u64,
    /// Windows starting this many seconds after the start or later count as steady state.
    #[arg(long, default_value_t = 30)]
    pub(crate) steady_after: u64,
    /// Seed of the traffic.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Write the load's report as JSON here.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Write the load's HTML report here.
    #[arg(long)]
    pub(crate) html: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    pub(crate) quiet: bool,
}

impl OpenBenchArgs {
    pub(crate) fn split(&self, default_seconds: f64) -> (Servers, OpenLoad) {
        let servers = Servers {
            app_bin: self.servers.app_bin.clone(),
            database_url: self.servers.database_url.clone(),
            redis_url: self.servers.redis_url.clone(),
        };
        let load = OpenLoad {
            backend: self.backend.clone(),
            rate: self.rate,
            seconds: self.seconds.unwrap_or(default_seconds),
            devices: self.devices,
            max_in_flight: self.max_in_flight,
            windows: WindowConfig { secs: self.window_secs, steady_after: self.steady_after },
            seed: self.seed,
            progress: !self.quiet,
        };
        (servers, load)
    }
}

#[derive(Args)]
pub(crate) struct BenchMillionArgs {
    /// The app binary (default: target/release/replenish next to this binary, then target/release).
    #[arg(long)]
    pub(crate) app_bin: Option<PathBuf>,
    /// Devices to register.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) devices: usize,
    /// Batch requests (1,000 devices each) in flight at once.
    #[arg(long, default_value_t = 4)]
    pub(crate) batch_concurrency: usize,
    /// Devices to activate in turn (one FULL detection each), spread over the registered ones.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) activate: usize,
    /// Activations in flight at once.
    #[arg(long, default_value_t = 32)]
    pub(crate) in_flight: usize,
    /// The app's actor idle timeout (REPLENISH_ACTOR_IDLE_TIMEOUT_MS), ms.
    #[arg(long, default_value_t = 2000)]
    pub(crate) idle_timeout_ms: u64,
    /// Print RSS and live actors every this many activations.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) report_every: usize,
    /// RSS is judged bounded when the last reading is within 10 % of the one at this many activations.
    #[arg(long, default_value_t = 20_000)]
    pub(crate) settle: usize,
}

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    pub(crate) servers: ServerArgs,
    /// Seconds per throughput or latency phase.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
    /// Closed-model connections (wrk's -c) or clients for the maximum-rate phase.
    #[arg(long, default_value_t = 32)]
    pub(crate) concurrency: usize,
    /// Devices for the throughput phases (every mix drives the same devices).
    #[arg(long, default_value_t = 20_000)]
    pub(crate) devices: usize,
    /// Devices for the memory phase (0 skips it).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) memory_devices: usize,
    /// Which backends: sqlite, postgres.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    pub(crate) backends: Vec<String>,
    /// Generator of the maximum-rate phases: wrk (installed with apt when missing, as root) or inprocess.
    #[arg(long, default_value = "wrk")]
    pub(crate) generator: bench::Generator,
    /// Traffic mixes: settled (FULL/HALF only), fleet (20 % LOW/NEARLY_EMPTY).
    #[arg(long, default_value = "settled,fleet", value_delimiter = ',')]
    pub(crate) mixes: Vec<bench::BenchMix>,
    /// Write every phase's numbers to this file as JSON.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct BenchWebhooksArgs {
    #[command(flatten)]
    pub(crate) servers: ServerArgs,
    /// Which backends: sqlite, postgres.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    pub(crate) backends: Vec<String>,
    /// Events written per delivery phase (device registrations).
    #[arg(long, default_value_t = 5000)]
    pub(crate) events: usize,
    /// Endpoint counts of the delivery phases.
    #[arg(long, default_value = "1,8", value_delimiter = ',')]
    pub(crate) endpoints: Vec<usize>,
    /// Seconds per detections phase (webhooks off, then on).
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
    /// Closed-model clients of the detections phases.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// Devices of the detections phases.
    #[arg(long, default_value_t = 1000)]
    pub(crate) devices: usize,
    /// Endpoints taking every event during the "webhooks on" detections phase.
    #[arg(long, default_value_t = 8)]
    pub(crate) on_endpoints: usize,
    /// Longest wait for a delivery phase's events, seconds.
    #[arg(long, default_value_t = 120.0)]
    pub(crate) drain_timeout: f64,
    /// Worker threads of the receiver.
    #[arg(long, default_value_t = 2)]
    pub(crate) receiver_workers: usize,
}

#[derive(Args)]
pub(crate) struct BenchReplicasArgs {
    #[command(flatten)]
    pub(crate) servers: ServerArgs,
    /// Seconds per phase.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) seconds: f64,
    /// Closed-model clients.
    #[arg(long, default_value_t = 64)]
    pub(crate) concurrency: usize,
    /// Devices of the tenant.
    #[arg(long, default_value_t = 1000)]
    pub(crate) devices: usize,
    /// Skip the round-robin phase (two replicas, no affinity).
    #[arg(long)]
    pub(crate) no_round_robin: bool,
    /// Worker threads of the proxy process.
    #[arg(long, default_value_t = 1)]
    pub(crate) proxy_workers: usize,
}
