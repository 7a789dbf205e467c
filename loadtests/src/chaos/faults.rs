//! The seeded fault schedule and its execution against the rig.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::merchant::Mode;
use super::rig::Rig;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL of one app process, started again after the hold.
    AppKill,
    /// `pg_ctl stop -m immediate`, started again (crash recovery) after the hold.
    PostgresRestart,
    /// Redis killed (its memory lost), started again after the hold.
    RedisRestart,
    /// Latency added between one app and Postgres.
    DbLatency,
    /// Latency added between one app and Redis.
    RedisLatency,
    /// Every connection of one app to Postgres and Redis cut at once.
    ConnectionDrop,
    /// One app cut off from Postgres (connections cut, new ones refused) for the hold.
    DbPartition,
    /// The merchant places orders but answers after the app's deadline.
    MerchantSlow,
    /// The merchant answers 503.
    MerchantFailing,
    /// The merchant's webhook receiver takes the events but answers after the apps' delivery
    /// deadline: each is delivered, then retried.
    WebhookReceiverSlow,
    /// The merchant's webhook receiver answers 503 to every event delivery.
    WebhookReceiverFailing,
}

/// Every kind, in a fixed order (the schedule shuffles it with the seed).
pub const ALL: [FaultKind; 11] = [
    FaultKind::AppKill,
    FaultKind::PostgresRestart,
    FaultKind::RedisRestart,
    FaultKind::DbLatency,
    FaultKind::RedisLatency,
    FaultKind::ConnectionDrop,
    FaultKind::DbPartition,
    FaultKind::MerchantSlow,
    FaultKind::MerchantFailing,
    FaultKind::WebhookReceiverSlow,
    FaultKind::WebhookReceiverFailing,
];

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fault {
    /// When, in milliseconds after the load started.
    pub at_ms: u64,
    /// What.
    pub kind: FaultKind,
    /// Which app it targets (for the per-app kinds).
    pub app: usize,
    /// How long it lasts, milliseconds.
    pub hold_ms: u64,
    /// Added latency, milliseconds (latency kinds).
    pub latency_ms: u64,
}

/// A fault as it was carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
    /// When it actually began, ms after the start (it may wait for an earlier fault on the same part).
    pub began_ms: u64,
    /// `ok`, or what went wrong carrying it out.
    pub result: String,
}

/// The faults of a run of `duration`, one about every `interval`: first every
/// kind once in an order drawn from `seed` (at most `interval` apart, so a
/// 40 s run with a fault every 3 s fits them all), then kinds drawn at random
/// (`interval` apart on average). None starts in the last `interval`, so each
/// has healed before the load ends.
pub fn schedule(seed: u64, duration: Duration, interval: Duration, apps: usize) -> Vec<Fault> {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xC4A0_5EED_FA17_0001);
    let mut kinds = ALL.to_vec();
    kinds.shuffle(&mut rng);
    let step = interval.as_millis().max(100) as u64;
    let end = (duration.as_millis() as u64).saturating_sub(step);
    let mut faults = Vec::new();
    let mut at = step / 2;
    while at < end {
        let kind = if faults.len() < kinds.len() { kinds[faults.len()] } else { ALL[rng.random_range(0..ALL.len())] };
        let hold_ms = match kind {
            FaultKind::ConnectionDrop => 0,
            _ => rng.random_range(500..=(step * 3 / 4).max(600)),
        };
        faults.push(Fault {
            at_ms: at,
            kind,
            app: rng.random_range(0..apps.max(1)),
            hold_ms,
            latency_ms: rng.random_range(20..=200),
        });
        let longest = if faults.len() < kinds.len() { step } else { step * 5 / 4 };
        at += rng.random_range(step * 3 / 4..=longest);
    }
    faults
}

/// Starts every fault at its time, relative to `start`; the handles finish when each fault has healed.
pub fn inject(rig: &Arc<Rig>, faults: Vec<Fault>, start: Instant) -> Vec<JoinHandle<FaultRecord>> {
    faults
        .into_iter()
        .map(|fault| {
            let rig = rig.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until(start + Duration::from_millis(fault.at_ms)).await;
                let began_ms = start.elapsed().as_millis() as u64;
                let result = match perform(&rig, &fault).await {
                    Ok(()) => "ok".to_owned(),
                    Err(err) => err,
                };
                FaultRecord { fault, began_ms, result }
            })
        })
        .collect()
}

async fn perform(rig: &Rig, fault: &Fault) -> Result<(), String> {
    let hold = Duration::from_millis(fault.hold_ms);
    let app = fault.app % rig.apps.len();
    match fault.kind {
        FaultKind::AppKill => {
            let mut node = rig.apps[app].lock().await;
            node.kill();
            tokio::time::sleep(hold).await;
            rig.bring_up(&mut node).await.map_err(|e| e.to_string())
        }
        FaultKind::PostgresRestart => {
            let _turn = rig.postgres_turn.lock().await;
            let pg = rig.postgres.clone();
            tokio::task::spawn_blocking(move || pg.stop_immediate())
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            tokio::time::sleep(hold).await;
            let pg = rig.postgres.clone();
            tokio::task::spawn_blocking(move || pg.start()).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
        }
        FaultKind::RedisRestart => {
            let mut redis = rig.redis.lock().await;
            redis.stop();
            tokio::time::sleep(hold).await;
            redis.restart().await.map_err(|e| e.to_string())
        }
        FaultKind::DbLatency | FaultKind::RedisLatency | FaultKind::DbPartition => {
            let _turn = rig.net_turns[app].lock().await;
            let proxy =
                if fault.kind == FaultKind::RedisLatency { &rig.redis_proxies[app] } else { &rig.pg_proxies[app] };
            if fault.kind == FaultKind::DbPartition {
                proxy.set_partitioned(true);
            } else {
                proxy.set_latency(Duration::from_millis(fault.latency_ms));
            }
            tokio::time::sleep(hold).await;
            proxy.heal();
            Ok(())
        }
        FaultKind::ConnectionDrop => {
            rig.pg_proxies[app].drop_connections();
            rig.redis_proxies[app].drop_connections();
            Ok(())
        }
        FaultKind::MerchantSlow | FaultKind::MerchantFailing => {
            let _turn = rig.merchant_turn.lock().await;
            rig.merchant.set_mode(if fault.kind == FaultKind::MerchantSlow { Mode::Slow } else { Mode::Failing });
            tokio::time::sleep(hold).await;
            rig.merchant.set_mode(Mode::Normal);
            Ok(())
        }
        FaultKind::WebhookReceiverSlow | FaultKind::WebhookReceiverFailing => {
            let _turn = rig.webhook_turn.lock().await;
            if fault.kind == FaultKind::WebhookReceiverSlow {
                rig.webhooks.set_delay(rig.webhook_slow);
            } else {
                rig.webhooks.set_down(true);
            }
            tokio::time::sleep(hold).await;
            rig.webhooks.set_delay(Duration::ZERO);
            rig.webhooks.set_down(false);
            Ok(())
        }
    }
}

/// Collects the records of the injected faults, in schedule order.
pub async fn collect(handles: Vec<JoinHandle<FaultRecord>>) -> Vec<FaultRecord> {
    let mut out = Vec::new();
    for handle in handles {
        if let Ok(record) = handle.await {
            out.push(record);
        }
    }
    out.sort_by_key(|r| r.fault.at_ms);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_every_kind_comes_first() {
        let (duration, interval) = (Duration::from_secs(40), Duration::from_secs(3));
        let a = schedule(7, duration, interval, 2);
        assert_eq!(a, schedule(7, duration, interval, 2));
        assert_ne!(a, schedule(8, duration, interval, 2));
        let mut first: Vec<FaultKind> = a.iter().take(ALL.len()).map(|f| f.kind).collect();
        first.sort();
        assert_eq!(first, ALL.to_vec());
        // None starts in the last interval, and each heals before the load ends.
        assert!(a.iter().all(|f| f.at_ms + f.hold_ms < duration.as_millis() as u64), "{a:?}");
    }
}
