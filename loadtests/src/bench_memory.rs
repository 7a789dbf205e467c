//! The bench's memory phase: resident memory per active and per passivated device actor.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bench::{BenchConfig, provision, sqlite_env, verdict};
use crate::error::Result;
use crate::generator::touch;
use crate::process::{AppProcess, rss_kib};

/// Actor idle timeout for the memory phase. Longer than touching 10,000 devices takes on a busy 2-core
/// box, so no actor passivates before the "active" reading.
const MEMORY_IDLE_MS: u64 = 20_000;

/// Target: bytes per active device actor.
const ACTIVE_TARGET_B: f64 = 4096.0;
/// Target: bytes per passivated device.
const PASSIVE_TARGET_B: f64 = 512.0;

/// Fewest devices over which the targets are judged.
const JUDGED_FROM: usize = 10_000;

/// What the memory phase found (RSS in KiB, per-device costs in bytes).
#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    /// Devices registered.
    pub devices: usize,
    /// RSS after registration, no actors.
    pub registered_kib: u64,
    /// RSS with the first half's actors active.
    pub first_active_kib: u64,
    /// Bytes per active device (first half's growth, fixed costs included).
    pub active_bytes_per_device: f64,
    /// Whether that is within the target.
    pub active_met: bool,
    /// RSS with every device passivated.
    pub all_passive_kib: u64,
    /// Bytes per passivated device (second half, on top of the first half passivated).
    pub passive_bytes_per_device: f64,
    /// Whether that is within the target.
    pub passive_met: bool,
    /// RSS after activating every device again.
    pub again_kib: u64,
}

/// Waits until the app reports no live device actor (or the idle timeout plus ten seconds passed).
async fn passivated(app: &AppProcess, http: &reqwest::Client) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_millis(MEMORY_IDLE_MS + 10_000);
    while Instant::now() < deadline && app.active_device_actors(http).await != Some(0) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.active_device_actors(http).await
}

/// Resident memory of an app with `devices` registered devices. The fleet is touched in two halves:
/// the first half pays the fixed costs that come with any traffic (the connection pool growing, caches
/// warming, allocator arenas), so the second half's growth is what a device itself costs, active and
/// passivated. The figures above the bare registration are printed too.
pub async fn memory(bin: &std::path::Path, config: &BenchConfig) -> Result<MemoryResult> {
    let dir = std::env::temp_dir().join(format!("replenish-bench-mem-{}", uuid::Uuid::new_v4().simple()));
    // Scaled down from the defaults (10 min idle, 60 s credential cache) in the same order: by the
    // time a device passivates, its cached credential has expired as well.
    let env = sqlite_env(
        &dir,
        &[
            ("REPLENISH_ACTOR_IDLE_TIMEOUT_MS", MEMORY_IDLE_MS.to_string()),
            ("REPLENISH_CREDENTIAL_CACHE_SECS", (MEMORY_IDLE_MS / 2_000).to_string()),
        ],
    );
    let mut app = AppProcess::start(bin, &env)?;
    app.wait_ready().await?;
    let (api, tokens, _) = provision(&app, config.memory_devices).await?;
    let (http, url) = (api.http().clone(), format!("{}/api/v1/detections", app.url()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (first, second) = tokens.split_at(tokens.len() / 2);
    let registered = rss_kib(app.pid())?;
    touch(&http, &url, first, "first").await;
    let first_active = rss_kib(app.pid())?;
    passivated(&app, &http).await;
    let first_passive = rss_kib(app.pid())?;
    let started = Instant::now();
    touch(&http, &url, second, "first").await;
    let touching = started.elapsed();
    let second_active = rss_kib(app.pid())?;
    let actors = app.active_device_actors(&http).await;
    let left = passivated(&app, &http).await;
    let all_passive = rss_kib(app.pid())?;
    touch(&http, &url, &tokens, "again").await;
    let again = rss_kib(app.pid())?;
    drop(app);
    let _ = std::fs::remove_dir_all(&dir);

    let per = |from: u64, to: u64, devices: usize| to.saturating_sub(from) as f64 * 1024.0 / devices.max(1) as f64;
    let mib = |kib: u64| kib as f64 / 1024.0;
    // Active: the first half's growth, fixed costs included (an upper bound). Passivated: what the
    // second half left behind once passivated, on top of the first half passivated.
    let (active, passive) = (per(registered, first_active, first.len()), per(first_passive, all_passive, second.len()));
    let result = MemoryResult {
        devices: tokens.len(),
        registered_kib: registered,
        first_active_kib: first_active,
        active_bytes_per_device: active,
        // The issue judges over at least 10,000 devices; fewer leave fixed costs too large a share.
        active_met: active <= ACTIVE_TARGET_B && tokens.len() >= JUDGED_FROM,
        all_passive_kib: all_passive,
        passive_bytes_per_device: passive,
        passive_met: passive <= PASSIVE_TARGET_B && tokens.len() >= JUDGED_FROM,
        again_kib: again,
    };
    println!("memory, {} devices on SQLite (VmRSS of the app), touched in two halves:", config.memory_devices);
    if tokens.len() < JUDGED_FROM {
        println!("  (fewer than {JUDGED_FROM} devices: the targets count as MISSED whatever the figures)");
    }
    println!("  registered, no actors          {:>8.1} MiB", mib(registered));
    println!(
        "  first half, {} actors active  {:>8.1} MiB  = {:.0} B per active device, fixed costs included (target ≤ 4 KiB: {})",
        first.len(),
        mib(first_active),
        active,
        verdict(result.active_met)
    );
    println!("  first half passivated          {:>8.1} MiB", mib(first_passive));
    println!(
        "  second half active ({} actors) {:>8.1} MiB  (freed memory of the first half reused); touching took {:.1} s",
        actors.map_or("?".into(), |a| a.to_string()),
        mib(second_active),
        touching.as_secs_f64()
    );
    println!(
        "  all passivated ({} active)     {:>8.1} MiB  = {:.0} B per passivated device (target ≤ 512 B: {})",
        left.map_or("?".into(), |a| a.to_string()),
        mib(all_passive),
        passive,
        verdict(result.passive_met)
    );
    println!(
        "  for comparison, all passivated above the bare registration: {:.0} B per device, fixed costs included",
        per(registered, all_passive, tokens.len())
    );
    println!(
        "  all {} activated again        {:>8.1} MiB  (+{:.1} MiB)",
        tokens.len(),
        mib(again),
        mib(again.saturating_sub(all_passive))
    );
    Ok(result)
}
