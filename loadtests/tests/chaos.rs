//! `replenish-load chaos` end to end: a short run with every kind of fault
//! must find no violation, and a run whose history or database was tampered
//! with must fail exactly the checks that cover what was broken.

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use replenish_loadtests::chaos::history::{OpKind, Outcome};
use replenish_loadtests::chaos::load::Tamper;
use replenish_loadtests::chaos::{self, ChaosConfig, Exercised};
use serde_json::Value;

mod built_app;
use built_app::app_bin;

fn violations(checks: &[chaos::checker::CheckResult]) -> BTreeMap<String, u64> {
    checks.iter().map(|c| (c.name.clone(), c.violated)).collect()
}

#[test]
fn a_short_chaos_run_with_every_kind_of_fault_finds_no_violation() {
    let dir = std::env::temp_dir().join(format!("replenish-chaos-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, html) = (dir.join("chaos.json"), dir.join("chaos.html"));
    let app = app_bin();
    let output = Command::new(env!("CARGO_BIN_EXE_replenish-load"))
        .args(["chaos", "--seed", "11", "--duration", "40", "--fault-interval", "3"])
        .arg("--app-bin")
        .arg(&app)
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("replenish-load runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let described = format!("{:?}\n{stdout}\n{}", output.status, String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(0), "{described}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let page = std::fs::read_to_string(&html).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(page.contains("Replenish chaos report") && page.contains("budget_spend_matches_orders"), "{page}");
    assert!(page.contains("<svg"), "the requests-per-second chart");
    // Every kind of fault was injected, and carried out.
    let kinds = report["faults_by_kind"].as_object().unwrap();
    assert_eq!(kinds.len(), 11, "{described}");
    assert!(report["faults"].as_array().unwrap().iter().all(|f| f["result"] == "ok"), "{described}");
    // Traffic flowed through it, orders included, and every check looked at something.
    let detections_ok = report["requests"]["detection"]["2xx"].as_u64().unwrap_or(0);
    assert!(detections_ok > 100, "{described}");
    assert!(report["orders"].as_u64().unwrap() > 5, "{described}");
    for check in report["checks"].as_array().unwrap() {
        assert_eq!(check["violated"], 0, "{described}");
    }
    // Events were written and all of them delivered, through the receiver's faults.
    let delivered = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "every_event_delivered");
    let delivered = delivered.expect("the delivery check runs");
    assert!(delivered["checked"].as_u64().unwrap() > 50, "{described}");
    assert!(report["webhook_deliveries"].as_u64().unwrap() >= delivered["checked"].as_u64().unwrap(), "{described}");
    assert!(page.contains("every_event_delivered"), "the delivery check in the HTML report");
    assert!(stdout.contains("seed 11") && stdout.contains("replay: replenish-load chaos --seed 11"), "{stdout}");
}

/// A quiet run (no faults) whose generator swallows every 10th detection.
async fn tampered_run() -> Exercised {
    let config = ChaosConfig {
        app_bin: Some(app_bin()),
        seed: 5,
        duration: Duration::from_secs(15),
        faults: false,
        tamper: Some(Tamper::AckWithoutForwarding(10)),
        ..ChaosConfig::default()
    };
    chaos::exercise(&config).await.expect("the run completes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_catch_a_lost_write_a_doubled_order_a_wrong_refund_and_an_order_on_an_expired_intent() {
    let run = tampered_run().await;
    let swallowed = run
        .history
        .ops
        .iter()
        .filter(|op| matches!(op.kind, OpKind::Detection { repeat: false, .. }) && op.n % 10 == 9)
        .count() as u64;
    assert!(swallowed > 0);
    let mut expected: BTreeMap<String, u64> =
        violations(&run.check().unwrap()).keys().map(|k| (k.clone(), 0)).collect();
    expected.insert("acknowledged_detections_exist_once".into(), swallowed);
    let checks = run.check().unwrap();
    assert_eq!(violations(&checks), expected, "the swallowed detections, and nothing else: {checks:#?}");

    // Orders the apps acknowledged, CONFIRMED by the merchant.
    let acked: Vec<String> = run
        .history
        .ops
        .iter()
        .filter_map(|op| match (&op.kind, &op.outcome) {
            (OpKind::Decision { accept: true, repeat: false, .. }, Outcome::Ok { body, .. }) => {
                body["order"]["order_id"].as_str().map(str::to_owned)
            }
            _ => None,
        })
        .collect();
    assert!(acked.len() >= 3, "{acked:?}");

    // An acknowledged order deleted: lost.
    run.rig
        .execute(&format!(
            "DELETE FROM order_events WHERE order_id = '{0}'; DELETE FROM orders WHERE id = '{0}'",
            acked[0]
        ))
        .unwrap();
    let found = violations(&run.check().unwrap());
    assert_eq!(found["acknowledged_orders_exist_once"], 1);
    let budget_before = found["budget_spend_matches_orders"];
    assert_eq!(budget_before, 1, "the lost order's spend is still reserved");

    // An acknowledged order written twice, past the unique index (a path that bypasses idempotency).
    run.rig
        .execute(&format!(
            "ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_intent_id_key; \
             CREATE TEMP TABLE copy AS SELECT * FROM orders WHERE id = '{0}'; \
             UPDATE copy SET id = gen_random_uuid(); INSERT INTO orders SELECT * FROM copy",
            acked[1]
        ))
        .unwrap();
    let found = violations(&run.check().unwrap());
    assert_eq!(found["acknowledged_orders_exist_once"], 2);

    // An order the merchant placed, marked FAILED and its money given back.
    run.rig
        .execute(&format!(
            "UPDATE owner_daily_spend s SET cents = s.cents - o.total_cents FROM orders o \
             WHERE o.id = '{0}' AND s.tenant_id = o.tenant_id AND s.owner = o.owner AND s.day = o.budget_day; \
             UPDATE orders SET status = 'FAILED' WHERE id = '{0}'",
            acked[2]
        ))
        .unwrap();
    let found = violations(&run.check().unwrap());
    assert_eq!(found["no_refund_of_unknown_outcome"], 1);
    assert_eq!(found["acknowledged_orders_exist_once"], 2);

    // An order on an intent that expired.
    let expired: Vec<Value> = run
        .rig
        .rows(&format!(
            "SELECT id FROM intents WHERE tenant_id = '{}' AND status = 'EXPIRED' LIMIT 1",
            run.fleet.tenant
        ))
        .unwrap();
    let expired = expired[0]["id"].as_str().expect("an expired intent (think times pass the TTL)").to_owned();
    run.rig
        .execute(&format!(
            "CREATE TEMP TABLE stray AS SELECT * FROM orders WHERE id = '{}'; \
             UPDATE stray SET id = gen_random_uuid(), intent_id = '{expired}', test = true; \
             INSERT INTO orders SELECT * FROM stray",
            acked[3.min(acked.len() - 1)]
        ))
        .unwrap();
    let found = violations(&run.check().unwrap());
    assert_eq!(found["no_intent_expired_and_ordered"], 1);
    assert_eq!(found["no_order_without_accepted_intent"], 1);
    assert_eq!(found["every_event_delivered"], 0, "every event reached the receiver");

    // An event written but never delivered: stored as already fanned out, so the dispatcher skips it.
    run.rig
        .execute(&format!(
            "INSERT INTO events (id, tenant_id, event_type, object_kind, object_id, test, data, created_at, fanned_out) \
             VALUES (gen_random_uuid(), '{}', 'device.registered', 'device', 'cd-0', false, '{{}}', now(), true)",
            run.fleet.tenant
        ))
        .unwrap();
    let found = violations(&run.check().unwrap());
    assert_eq!(found["every_event_delivered"], 1);

    // A delivered event (one of the load's, written after the endpoint existed) whose stored
    // object differs from what the receiver was sent.
    run.rig
        .execute(&format!(
            "UPDATE events SET object_id = 'not-what-was-sent' WHERE id = \
             (SELECT id FROM events WHERE tenant_id = '{}' AND fanned_out AND event_type LIKE 'intent.%' \
             ORDER BY seq LIMIT 1)",
            run.fleet.tenant
        ))
        .unwrap();
    let found = violations(&run.check().unwrap());
    assert_eq!(found["every_event_delivered"], 2);
    run.rig.merchant.stop().await;
}
