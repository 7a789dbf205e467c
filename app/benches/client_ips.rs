//! Memory under many distinct client addresses: the app runs as a child
//! process trusting `X-Forwarded-For`, and the generator sends one request
//! from each of N invented addresses, twice over (different addresses the
//! second time). The per-IP limiters are bounded and forget idle keys, so the
//! second round should cost no more than the first. Prints numbers; asserts nothing.
//!
//! `cargo bench -p replenish-app --bench client_ips`
//! Knobs: `BENCH_CLIENTS` (default 100000), `BENCH_CONCURRENCY` (32).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU seconds this process (the generator) used so far.
fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

struct App(Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_app(port: u16) -> App {
    let dir = std::env::temp_dir().join(format!("replenish_bench_ips_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let child = Command::new(env!("CARGO_BIN_EXE_replenish"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("REPLENISH_LISTEN", format!("127.0.0.1:{port}"))
        .env("REPLENISH_METRICS_LISTEN", "127.0.0.1:0")
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.join("replenish.db").display()))
        .env("REPLENISH_ADMIN_TOKEN", "bench-admin-token-0123456789")
        .env("REPLENISH_TRUST_FORWARDED_FOR", "true")
        .env("REPLENISH_IP_PER_MINUTE", "1000000")
        .env("REPLENISH_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("the app binary starts");
    App(child)
}

/// One request from each of `clients` addresses derived from `round`.
async fn round(base: &str, round: u32, clients: u32, concurrency: u32) -> Duration {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, url) = (client.clone(), next.clone(), format!("{base}/api/v1/device"));
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= clients {
                        return;
                    }
                    let address = format!("10.{}.{}.{}", round * 64 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
                    let _ = client.get(&url).header("x-forwarded-for", address).send().await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker");
    }
    started.elapsed()
}

#[tokio::main]
async fn main() {
    let clients = env_or("BENCH_CLIENTS", 100_000u32);
    let concurrency = env_or("BENCH_CONCURRENCY", 32u32);
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
    let app = start_app(port);
    let base = format!("http://127.0.0.1:{port}");
    let ready = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(ready.elapsed() < Duration::from_secs(60), "the app did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = app.0.id();
    println!("per-IP limiter memory, {clients} distinct client addresses per round (VmRSS of the app):");
    println!("  started                          {:>8.1} MiB", rss_kib(pid) as f64 / 1024.0);
    for n in 1..=2 {
        let took = round(&base, n, clients, concurrency).await;
        println!(
            "  after round {n} ({:>6} addresses) {:>8.1} MiB   ({:.0} req/s)",
            clients,
            rss_kib(pid) as f64 / 1024.0,
            f64::from(clients) / took.as_secs_f64()
        );
    }
    println!("generator CPU: {:.1} s (a separate process from the app)", own_cpu_seconds());
}
