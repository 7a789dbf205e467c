//! Prompt candidates and activations are decided in batches: many devices,
//! of several tenants, in one transaction or one load. Each must still be
//! decided by its own tenant's and household's data alone. The sweeper
//! expires lapsed intents in chunks, each with its event.

use futures_util::future::join_all;
use reqwest::Method;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

const SIBLINGS: usize = 8;

/// A tenant with `SIBLINGS` devices of household-1 besides its `glasses`, each
/// active (one FULL detection) so its memory is loaded: (glasses, siblings).
async fn active_household(app: &TestApp, tenant: &str) -> (String, Vec<String>) {
    let (key, glasses) = app.seeded_tenant(tenant).await;
    let mut siblings = Vec::new();
    for n in 0..SIBLINGS {
        let token = app.add_device(&key, &format!("sibling-{n}"), "household-1").await;
        app.detect(&token, &format!("{tenant}-warm-{n}"), "water_bottle", "FULL", "HIGH").await.assert_status(200);
        siblings.push(token);
    }
    (glasses, siblings)
}

async fn concurrent_candidates_are_decided_by_their_own_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    // Same tenant-local ids everywhere (store, product, owner, device ids): only the tenant differs.
    let (alpha_glasses, alpha) = active_household(&app, "alpha").await;
    let (_, bravo) = active_household(&app, "bravo").await;
    // Alpha's household orders water after the siblings loaded their memory: only the database knows.
    let intent = app.prompted(&alpha_glasses, "alpha-first", "water_bottle").await;
    app.decide(&alpha_glasses, &intent, true, "VOICE").await.assert_status(200);

    // Every sibling's EMPTY at once: candidates of both tenants share batches.
    let sent = alpha.iter().chain(&bravo).enumerate().map(|(n, token)| {
        let app = &app;
        async move { app.detect(token, &format!("batch-{n}"), "water_bottle", "EMPTY", "HIGH").await }
    });
    let replies = join_all(sent).await;
    let (alpha_replies, bravo_replies) = replies.split_at(SIBLINGS);
    for reply in alpha_replies {
        // Alpha's household ordered water moments ago: no sibling is prompted.
        let body = reply.assert_status(200);
        assert_eq!(body["should_prompt"], false, "{body}");
        assert_eq!(body["reason"], "ALREADY_ORDERED", "{body}");
    }
    let mut intents = std::collections::HashSet::new();
    for reply in bravo_replies {
        // Bravo's household never ordered: alpha's order must not hold bravo off.
        let body = reply.assert_status(200);
        assert_eq!(body["reason"], "PROMPT", "{body}");
        assert!(intents.insert(body["intent_id"].as_str().expect("intent").to_owned()), "one intent each");
    }

    // Each prompt is bravo's own intent, unknown to any other tenant.
    let charlie_key = app.create_tenant("charlie").await; // a third tenant sees none of them
    for intent in &intents {
        let path = format!("/api/v1/intents/{intent}");
        app.call(Method::GET, &path, Some(&charlie_key), None).await.assert_problem(404, "not-found");
    }

    // A second EMPTY from each bravo sibling finds its own open intent.
    for (n, token) in bravo.iter().enumerate() {
        let again = app.detect(token, &format!("again-{n}"), "water_bottle", "EMPTY", "HIGH").await;
        let body = again.assert_status(200);
        assert_eq!(body["reason"], "PENDING_INTENT", "{body}");
        assert!(intents.contains(body["intent_id"].as_str().expect("intent")), "{body}");
    }

    // The candidates went through the group commit.
    let metrics = app.metrics().await.raw;
    let counted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("replenish_prompt_batch_candidates_sum "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("prompt batch metric");
    assert!(counted >= (2 * SIBLINGS + 1) as f64, "{counted} candidates counted");
}

async fn concurrent_activations_load_each_devices_own_memory(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, alpha) = app.seeded_tenant("alpha").await;
    let (_, bravo) = app.seeded_tenant("bravo").await;
    let open = app.prompted(&alpha, "alpha-1", "water_bottle").await;
    // A fresh process: no actor, every device activates from the database at once.
    let app = app.restart().await;
    let sent = [&alpha, &bravo, &alpha, &bravo].into_iter().enumerate().map(|(n, token)| {
        let app = &app;
        async move { app.detect(token, &format!("after-restart-{n}"), "water_bottle", "EMPTY", "HIGH").await }
    });
    let replies = join_all(sent).await;
    let reasons: Vec<_> = replies.iter().map(|r| r.body["reason"].as_str().unwrap_or("?").to_owned()).collect();
    // Alpha still has its open prompt; bravo (same ids, other tenant) prompts once, then finds its own.
    assert_eq!(replies[0].body["intent_id"].as_str(), Some(open.as_str()), "{reasons:?}");
    assert_eq!(replies[2].body["intent_id"].as_str(), Some(open.as_str()), "{reasons:?}");
    assert_eq!((reasons[0].as_str(), reasons[2].as_str()), ("PENDING_INTENT", "PENDING_INTENT"));
    let bravo_intents = [&replies[1], &replies[3]].map(|r| r.body["intent_id"].as_str().map(str::to_owned));
    assert!(bravo_intents[0].is_some() && bravo_intents[0] == bravo_intents[1], "{reasons:?}");
    assert_ne!(bravo_intents[0].as_deref(), Some(open.as_str()));
    let mut bravo_reasons = [reasons[1].as_str(), reasons[3].as_str()];
    bravo_reasons.sort_unstable();
    assert_eq!(bravo_reasons, ["PENDING_INTENT", "PROMPT"]);
}

async fn the_sweeper_expires_more_than_a_chunk(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.sweep_interval_secs = 1;
        s.ip_per_minute = 1_000_000;
    })
    .await;
    let (key, _) = app.seeded_tenant("acme").await;
    app.set_limits("acme", serde_json::json!({"tenant_per_second": 100_000, "device_per_minute": 1_000})).await;
    app.put_product(&key, "soap", "soap_dispenser", "SOAP-1").await.assert_status(201);
    app.put_product(&key, "sunscreen", "sunscreen", "SUN-1").await.assert_status(201);
    // 180 devices × 3 products: 540 open intents, more than one sweeper transaction expires.
    let devices: Vec<_> = (0..180)
        .map(|n| serde_json::json!({"device_id": format!("d{n}"), "store": "main", "owner": format!("h{n}"), "model": "x"}))
        .collect();
    let registered = app
        .call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(serde_json::json!({"devices": devices})))
        .await;
    let tokens: Vec<String> = registered.assert_status(201)["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| d["token"].as_str().expect("token").to_owned())
        .collect();
    let sends: Vec<_> = tokens
        .iter()
        .flat_map(|t| ["water_bottle", "soap_dispenser", "sunscreen"].map(move |class| (t, class)))
        .collect();
    for chunk in sends.chunks(32) {
        let replies = join_all(chunk.iter().enumerate().map(|(n, (token, class))| {
            let app = &app;
            async move { app.detect(token, &format!("e-{class}-{n}"), class, "EMPTY", "HIGH").await }
        }))
        .await;
        for reply in replies {
            assert_eq!(reply.assert_status(200)["reason"], "PROMPT", "{reply:?}");
        }
    }
    app.advance(std::time::Duration::from_secs(3_600));
    let expired = |rows: &[(String, String)]| rows.iter().filter(|(t, _)| t == "intent.expired").count();
    app.eventually("the sweeper expired every intent", || async { expired(&app.db.events_of("acme").await) == 540 })
        .await;
    let rows = app.db.events_of("acme").await;
    let ids: std::collections::HashSet<_> =
        rows.iter().filter(|(t, _)| t == "intent.expired").map(|(_, id)| id).collect();
    assert_eq!(ids.len(), 540, "one event per intent");
}

on_both_backends!(
    concurrent_candidates_are_decided_by_their_own_tenant,
    concurrent_activations_load_each_devices_own_memory,
    the_sweeper_expires_more_than_a_chunk
);
