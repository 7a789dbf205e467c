//! A dedicated tenant's app (`REPLENISH_DEDICATED_TENANT`): it serves its own
//! tenant alone, has no admin, and its sweeper leaves other tenants' rows alone.

use std::time::Duration;

use reqwest::Method;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde_json::json;

use crate::helpers::{Backend, spawn_app_with};

on_both_backends!(a_dedicated_app_serves_its_tenant_alone);

/// Statuses of `tenant`'s intents, read from the database.
async fn intent_statuses(url: &str, tenant: &str) -> Vec<String> {
    let db = Database::connect(url).await.expect("database");
    let sql = format!("SELECT status FROM intents WHERE tenant_id = '{tenant}' ORDER BY status");
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.expect("intents");
    db.close().await.ok();
    rows.iter().map(|row| row.try_get::<String>("", "status").expect("status")).collect()
}

async fn a_dedicated_app_serves_its_tenant_alone(backend: Backend) {
    // The platform's app sets up two tenants, each with a pending prompt lapsing in 60 s
    // (its own sweeper is kept out of the way).
    let shared = spawn_app_with(backend, |s| s.sweep_interval_secs = 3_600).await;
    let (acme_key, acme_device) = shared.seeded_tenant("acme").await;
    let (globex_key, globex_device) = shared.seeded_tenant("globex").await;
    for (tenant, device) in [("acme", &acme_device), ("globex", &globex_device)] {
        shared.set_limits(tenant, json!({"intent_ttl_seconds": 60})).await;
        let reply = shared.detect(device, "prompt", "water_bottle", "EMPTY", "HIGH").await;
        assert_eq!(reply.assert_status(200)["reason"], "PROMPT", "{tenant}");
    }
    let admin_token = shared.admin_token.clone();

    // The same database, served as acme's dedicated app; the admin token it is given is ignored.
    let app = shared
        .restart_with(|s| {
            s.dedicated_tenant = Some("acme".into());
            s.sweep_interval_secs = 1;
        })
        .await;

    // Its own tenant works, merchant and device alike.
    app.call(Method::GET, "/api/v1/stores/main", Some(&acme_key), None).await.assert_status(200);
    let own = app.detect(&acme_device, "own", "water_bottle", "FULL", "HIGH").await;
    own.assert_status(200);
    // Another tenant's key and device token are unknown here: 401.
    app.call(Method::GET, "/api/v1/stores/main", Some(&globex_key), None).await.assert_problem(401, "unauthorized");
    app.detect(&globex_device, "other", "water_bottle", "EMPTY", "HIGH").await.assert_problem(401, "unauthorized");
    // There is no admin API, whatever the token.
    for token in [admin_token.as_str(), acme_key.as_str()] {
        let reply = app.call(Method::GET, "/admin/v1/tenants/acme", Some(token), None).await;
        assert_eq!(reply.status.as_u16(), 404, "{reply:?}");
    }
    let reply = app.call(Method::GET, "/api/v1/stores/main", Some(&admin_token), None).await;
    reply.assert_problem(401, "unauthorized");

    // Its sweeper expires acme's lapsed prompt and leaves globex's alone.
    app.advance(Duration::from_secs(61));
    let url = app.db.url.clone();
    app.eventually("acme's lapsed prompt expires", || {
        let url = url.clone();
        async move { intent_statuses(&url, "acme").await == ["EXPIRED"] }
    })
    .await;
    // An unscoped sweep expires every tenant's lapsed prompts in the one
    // statement that expired acme's: nothing more to wait for.
    assert_eq!(
        intent_statuses(&url, "globex").await,
        ["PENDING"],
        "another tenant's lapsed prompt is not its business"
    );
}
