//! `replenish-load`: the Replenish fleet simulator (`run`), benchmark suite (`bench`) and fault injection (`chaos`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use replenish_loadtests::backend::Servers;
use replenish_loadtests::bench::{self, BenchConfig};
use replenish_loadtests::chaos::{self, ChaosConfig};
use replenish_loadtests::hashing_proxy::{self, Policy};
use replenish_loadtests::million::{self, MillionConfig};
use replenish_loadtests::replicas_bench::{self, ReplicasConfig};
use replenish_loadtests::soak;
use replenish_loadtests::threshold::Threshold;
use replenish_loadtests::webhook_bench::{self, WebhookBenchConfig};
use replenish_loadtests::webhooks::{Outage, WebhookConfig};
use replenish_loadtests::windows::WindowConfig;
use replenish_loadtests::{LoadModel, Mix, Report, RunConfig, Stop, Target, cold, html};

mod bench_args;
use bench_args::{BenchArgs, BenchMillionArgs, BenchReplicasArgs, BenchWebhooksArgs, OpenBenchArgs};

/// Load tests for Replenish: simulate a Spectacles fleet, check every order, measure the service.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Provision a tenant, a catalog and a fleet, drive detections and decisions, check the results.
    Run(Box<RunArgs>),
    /// Start the app on SQLite and on Postgres+Redis and a bare actix-web baseline; compare them.
    Bench(BenchArgs),
    /// Two app processes on a private Postgres and Redis, the fleet mix, faults on a seeded schedule;
    /// then every request's outcome checked against what was stored.
    Chaos(Box<ChaosArgs>),
    /// Webhook delivery on SQLite and on Postgres+Redis: events/s delivered to a local receiver with
    /// 1 and 8 endpoints, and detections/s with webhooks off and on.
    BenchWebhooks(BenchWebhooksArgs),
    /// Start the app on a fresh database and drive `run`'s open model for minutes: per-window
    /// percentiles and the app's and the generator's CPU per detection.
    BenchSoak(Box<OpenBenchArgs>),
    /// Provision through one app process, stop it, start a fresh one on the same database and put it
    /// under the open model at once: per-second percentiles of the first seconds.
    BenchColdStart(Box<OpenBenchArgs>),
    /// One SQLite app: register a million devices through the API, then activate a share of them in
    /// turn while reading resident memory and live actors.
    BenchMillion(BenchMillionArgs),
    /// One app process against two on the same Postgres behind a local hashing proxy: detections/s,
    /// latency, CPU per detection and requests that reached a replica not owning the device.
    BenchReplicas(BenchReplicasArgs),
    /// Serve the hashing proxy (used by `bench-replicas`): `hash` routes by the Authorization header.
    #[command(hide = true)]
    HashingProxy {
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Upstream addresses (host:port), comma-separated.
        #[arg(long, required = true, value_delimiter = ',')]
        upstream: Vec<std::net::SocketAddr>,
        /// hash or round-robin.
        #[arg(long, default_value = "hash")]
        policy: Policy,
        /// Worker threads.
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
    /// Serve the bare actix-web baseline endpoint (used by `bench`).
    #[command(hide = true)]
    Baseline {
        /// Address to bind.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Worker threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        workers: usize,
    },
}

#[derive(Args)]
struct RunArgs {
    /// Base URL of the deployment.
    #[arg(long, env = "REPLENISH_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Platform admin token (to create the run's tenant).
    #[arg(long, env = "REPLENISH_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// API key of an existing tenant to use instead of creating one.
    #[arg(long, env = "REPLENISH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Tenant id to create (default: load-<random>).
    #[arg(long)]
    tenant: Option<String>,
    /// Devices to register and simulate.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Open model: detections per second (latency from the intended send time). Without it: closed model.
    #[arg(long)]
    rate: Option<f64>,
    /// Open model: most requests outstanding at once.
    #[arg(long, default_value_t = 10_000)]
    max_in_flight: usize,
    /// Closed model: concurrent clients.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Run for this many seconds...
    #[arg(long, default_value_t = 30.0, conflicts_with = "requests")]
    duration: f64,
    /// ...or until this many detections were sent.
    #[arg(long)]
    requests: Option<u64>,
    /// Seconds over which the rate or the number of clients grows to its target.
    #[arg(long, default_value_t = 0.0)]
    ramp_up: f64,
    /// Weights of FULL,HALF,LOW,NEARLY_EMPTY,EMPTY.
    #[arg(long, default_value = "50,30,12,5,3")]
    fill: String,
    /// Share of detections with LOW confidence.
    #[arg(long, default_value_t = 0.05)]
    low_confidence: f64,
    /// Share of prompts accepted (the rest of the answered ones are declined).
    #[arg(long, default_value_t = 0.7)]
    accept_rate: f64,
    /// Share of prompts left unanswered.
    #[arg(long, default_value_t = 0.1)]
    ignore_rate: f64,
    /// Think time before a decision, min-max milliseconds.
    #[arg(long, default_value = "200-1500")]
    think_ms: String,
    /// Share of detections that repeat an earlier event id.
    #[arg(long, default_value_t = 0.02)]
    duplicate_rate: f64,
    /// Share of requests retried at once (a client that lost the answer).
    #[arg(long, default_value_t = 0.01)]
    retry_rate: f64,
    /// Cooldown to set on the new tenant, seconds.
    #[arg(long, default_value_t = 0)]
    cooldown_seconds: u32,
    /// Per-device limit to set on the new tenant, requests per minute.
    #[arg(long, default_value_t = 1_000_000)]
    device_per_minute: u32,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Seed of the traffic generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Pass/fail criterion, k6-style, repeatable: `detections.p99<50ms`, `decisions.p95<100ms`,
    /// `errors.rate<0.01`, `detections.count>100`. A failed one makes the exit status 99.
    #[arg(long = "threshold", value_name = "EXPR")]
    thresholds: Vec<String>,
    /// Leave the tenant this run created active (by default it is deactivated at the end).
    #[arg(long)]
    keep: bool,
    /// Start a local webhook receiver, register it for every event type, verify every signature
    /// and check that each event of the run reached it. The app must allow private URLs
    /// (REPLENISH_COMMERCE_ALLOW_PRIVATE_URLS=true).
    #[arg(long)]
    webhooks: bool,
    /// Address the webhook receiver binds (a free port by default).
    #[arg(long, default_value = "127.0.0.1:0", requires = "webhooks")]
    webhook_listen: String,
    /// Base URL the app reaches the receiver at, when not the bound address (e.g. the app in a container).
    #[arg(long, requires = "webhooks")]
    webhook_public_url: Option<String>,
    /// Longest wait after the load for the last deliveries, seconds.
    #[arg(long, default_value_t = 60.0, requires = "webhooks")]
    webhook_drain_timeout: f64,
    /// Take the receiver down for a while: `START:SECONDS` after the load starts it answers every
    /// delivery 503 (e.g. `5:30`); everything must still arrive, as retries. Raise
    /// --webhook-drain-timeout to cover the dispatcher's backoff.
    #[arg(long, value_name = "START:SECONDS", requires = "webhooks")]
    webhook_outage: Option<String>,
    /// Per-window percentiles over windows of this many seconds.
    #[arg(long, default_value_t = 10)]
    window_secs: u64,
    /// Windows starting this many seconds after the start or later count as steady state.
    #[arg(long, default_value_t = 30)]
    steady_after: u64,
}

#[derive(Args)]
struct ChaosArgs {
    /// The app binary (default: target/release/replenish next to this binary, then target/release).
    #[arg(long)]
    app_bin: Option<PathBuf>,
    /// Seed of the fault schedule and the traffic: the same seed replays both.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seconds of load (faults start and heal within it).
    #[arg(long, default_value_t = 40.0)]
    duration: f64,
    /// About one fault every this many seconds (each of the 11 kinds first, then at random).
    #[arg(long, default_value_t = 3.0)]
    fault_interval: f64,
    /// No faults: the same traffic on a quiet rig.
    #[arg(long)]
    no_faults: bool,
    /// Concurrent clients.
    #[arg(long, default_value_t = 6)]
    clients: usize,
    /// Devices.
    #[arg(long, default_value_t = 60)]
    devices: usize,
    /// Device owners (devices share them).
    #[arg(long, default_value_t = 30)]
    owners: usize,
    /// Each owner's daily budget, USD (small, so that some acceptances are over budget).
    #[arg(long, default_value_t = 40.0)]
    budget_usd: f64,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
    /// Most seconds given to orders with unknown outcomes to settle after the load.
    #[arg(long, default_value_t = 30.0)]
    settle: f64,
    /// Write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
}

fn chaos_config(a: &ChaosArgs) -> ChaosConfig {
    ChaosConfig {
        app_bin: a.app_bin.clone(),
        seed: a.seed,
        duration: Duration::from_secs_f64(a.duration),
        fault_interval: Duration::from_secs_f64(a.fault_interval),
        faults: !a.no_faults,
        clients: a.clients,
        devices: a.devices,
        owners: a.owners,
        budget_usd: a.budget_usd,
        timeout: Duration::from_secs_f64(a.timeout),
        settle: Duration::from_secs_f64(a.settle),
        ..ChaosConfig::default()
    }
}

fn pair<T: std::str::FromStr>(text: &str, sep: char) -> anyhow::Result<(T, T)> {
    let (a, b) = text.split_once(sep).context("expected two values")?;
    let parse = |s: &str| s.trim().parse::<T>().map_err(|_| anyhow::anyhow!("not a number: {s}"));
    Ok((parse(a)?, parse(b)?))
}

fn run_config(a: RunArgs) -> anyhow::Result<(RunConfig, Option<PathBuf>, Option<PathBuf>)> {
    let weights: Vec<u32> = a.fill.split(',').map(|w| w.trim().parse()).collect::<Result<_, _>>().context("--fill")?;
    let fill_weights: [u32; 5] = weights.try_into().map_err(|_| anyhow::anyhow!("--fill needs five weights"))?;
    let mut config = RunConfig::new(&a.url, "");
    config.target = Target {
        url: a.url.trim_end_matches('/').to_owned(),
        admin_token: a.admin_token,
        api_key: a.api_key,
        tenant: a.tenant.unwrap_or(config.target.tenant),
    };
    config.devices = a.devices;
    config.model = match a.rate {
        Some(rate) => LoadModel::Open { rate, max_in_flight: a.max_in_flight },
        None => LoadModel::Closed { concurrency: a.concurrency },
    };
    config.stop = match a.requests {
        Some(n) => Stop::Count(n),
        None => Stop::Duration(Duration::from_secs_f64(a.duration)),
    };
    config.ramp_up = Duration::from_secs_f64(a.ramp_up);
    config.mix = Mix {
        fill_weights,
        low_confidence: a.low_confidence,
        accept_rate: a.accept_rate,
        ignore_rate: a.ignore_rate,
        think_ms: pair(&a.think_ms, '-').context("--think-ms")?,
        duplicate_rate: a.duplicate_rate,
        retry_rate: a.retry_rate,
    };
    config.cooldown_seconds = a.cooldown_seconds;
    config.device_per_minute = a.device_per_minute;
    config.request_timeout = Duration::from_secs_f64(a.timeout);
    config.progress = !a.quiet;
    config.seed = a.seed;
    config.keep = a.keep;
    let outage = a.webhook_outage.as_deref().map(Outage::parse).transpose()?;
    config.webhooks = a.webhooks.then(|| WebhookConfig {
        listen: a.webhook_listen,
        public_url: a.webhook_public_url,
        drain_timeout: Duration::from_secs_f64(a.webhook_drain_timeout),
        outage,
    });
    config.windows = WindowConfig { secs: a.window_secs, steady_after: a.steady_after };
    config.thresholds = a.thresholds.iter().map(|t| Threshold::parse(t)).collect::<Result<_, _>>()?;
    Ok((config, a.json, a.html))
}

fn write_reports(report: &Report, json: Option<&Path>, html_path: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = json {
        std::fs::write(path, serde_json::to_vec_pretty(report)?).with_context(|| format!("{path:?}"))?;
    }
    if let Some(path) = html_path {
        std::fs::write(path, html::render(report)).with_context(|| format!("{path:?}"))?;
    }
    Ok(())
}

/// Exit status when a threshold or a correctness check failed (k6's code for failed thresholds).
const FAILED_CRITERIA: u8 = 99;

/// 0 when the run met every criterion, 99 when a threshold or correctness
/// check failed, 1 when the tool itself could not do its job (bad options,
/// unreachable service, provisioning refused).
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Usage mistakes are tool errors (1), not clap's usual 2; --help and --version succeed.
            let _ = err.print();
            return if err.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    match execute(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(FAILED_CRITERIA),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; whether its criteria held.
fn execute(cli: Cli) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Run(args) => {
            let (config, json, html_path) = run_config(*args)?;
            let report = runtime.block_on(replenish_loadtests::run(config))?;
            print!("{}", report.human());
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_vec_pretty(&report)?).with_context(|| format!("{path:?}"))?;
            }
            if let Some(path) = html_path {
                std::fs::write(&path, html::render(&report)).with_context(|| format!("{path:?}"))?;
            }
            if !report.passed() {
                eprintln!("correctness checks failed");
            }
            if !report.thresholds_passed() {
                eprintln!("thresholds failed");
            }
            Ok(report.passed() && report.thresholds_passed())
        }
        Command::Bench(a) => {
            let config = BenchConfig {
                app_bin: a.servers.app_bin,
                database_url: a.servers.database_url,
                redis_url: a.servers.redis_url,
                phase: Duration::from_secs_f64(a.seconds),
                concurrency: a.concurrency,
                devices: a.devices,
                memory_devices: a.memory_devices,
                backends: a.backends,
                generator: a.generator,
                mixes: a.mixes,
                json: a.json,
            };
            runtime.block_on(bench::run(config))?;
            Ok(true)
        }
        Command::Chaos(a) => {
            let report = runtime.block_on(chaos::run(&chaos_config(&a)))?;
            print!("{}", report.human());
            if let Some(path) = &a.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?).with_context(|| format!("{path:?}"))?;
            }
            if let Some(path) = &a.html {
                std::fs::write(path, report.html()).with_context(|| format!("{path:?}"))?;
            }
            if !report.passed() {
                eprintln!("chaos checks found violations");
            }
            Ok(report.passed())
        }
        Command::BenchWebhooks(a) => {
            let config = WebhookBenchConfig {
                app_bin: a.servers.app_bin,
                database_url: a.servers.database_url,
                redis_url: a.servers.redis_url,
                backends: a.backends,
                events: a.events,
                endpoints: a.endpoints,
                phase: Duration::from_secs_f64(a.seconds),
                concurrency: a.concurrency,
                devices: a.devices,
                on_endpoints: a.on_endpoints,
                drain_timeout: Duration::from_secs_f64(a.drain_timeout),
                receiver_workers: a.receiver_workers,
            };
            runtime.block_on(webhook_bench::run(config))?;
            Ok(true)
        }
        Command::BenchSoak(a) => {
            let (servers, load) = a.split(600.0);
            let report = runtime.block_on(soak::run(&servers, &load))?;
            write_reports(&report, a.json.as_deref(), a.html.as_deref())?;
            Ok(report.passed())
        }
        Command::BenchColdStart(a) => {
            let (servers, load) = a.split(30.0);
            let report = runtime.block_on(cold::run(&servers, &load))?;
            write_reports(&report, a.json.as_deref(), a.html.as_deref())?;
            Ok(report.passed())
        }
        Command::BenchMillion(a) => {
            let config = MillionConfig {
                servers: Servers { app_bin: a.app_bin, database_url: String::new(), redis_url: String::new() },
                devices: a.devices,
                batch_concurrency: a.batch_concurrency,
                activate: a.activate,
                in_flight: a.in_flight,
                idle_timeout_ms: a.idle_timeout_ms,
                report_every: a.report_every,
                settle: a.settle,
            };
            runtime.block_on(million::run(&config))?;
            Ok(true)
        }
        Command::BenchReplicas(a) => {
            let config = ReplicasConfig {
                app_bin: a.servers.app_bin,
                database_url: a.servers.database_url,
                redis_url: a.servers.redis_url,
                phase: Duration::from_secs_f64(a.seconds),
                concurrency: a.concurrency,
                devices: a.devices,
                round_robin: !a.no_round_robin,
                proxy_workers: a.proxy_workers,
            };
            runtime.block_on(replicas_bench::run(config))?;
            Ok(true)
        }
        Command::HashingProxy { listen, upstream, policy, workers } => {
            drop(runtime);
            hashing_proxy::serve_forever(&listen, upstream, policy, workers)?;
            Ok(true)
        }
        Command::Baseline { listen, workers } => {
            let listener = std::net::TcpListener::bind(&listen).with_context(|| format!("binding {listen}"))?;
            println!("{}", listener.local_addr()?);
            runtime.block_on(replenish_loadtests::baseline::serve(listener, workers))?;
            Ok(true)
        }
    }
}
