//! Tenant onboarding, key rotation and deactivation through the admin API.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

async fn tenant_onboarding_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({"display_name": "Acme Market", "plan": "growth", "limits": {"cooldown_seconds": 60}});

    let created = app.admin(Method::PUT, "/admin/v1/tenants/acme", Some(body.clone())).await;
    let created = created.assert_status(201).clone();
    let key = created["api_key"].as_str().expect("key on create").to_owned();
    assert!(key.starts_with("rpl_t_") && key.len() >= 6 + 22, "{key}");
    assert_eq!(created["effective_limits"]["cooldown_seconds"], 60);
    assert_eq!(created["effective_limits"]["tenant_per_second"], 500, "growth plan default");

    let again = app.admin(Method::PUT, "/admin/v1/tenants/acme", Some(body)).await;
    let again = again.assert_status(200);
    assert!(again.get("api_key").is_none(), "no key on a repeat: {again}");
    assert_eq!(again["updated_at"], created["updated_at"], "a repeat changes nothing");

    let changed = app
        .admin(Method::PUT, "/admin/v1/tenants/acme", Some(json!({"display_name": "Acme", "plan": "enterprise"})))
        .await;
    let changed = changed.assert_status(200);
    assert_eq!(changed["plan"], "enterprise");
    assert_eq!(changed["effective_limits"]["cooldown_seconds"], 300, "override removed");
    assert!(changed.get("api_key").is_none());

    let fetched = app.admin(Method::GET, "/admin/v1/tenants/acme", None).await;
    assert_eq!(fetched.assert_status(200)["display_name"], "Acme");
    app.create_tenant("zeta").await;
    let listed = app.admin(Method::GET, "/admin/v1/tenants?limit=1", None).await;
    let listed = listed.assert_status(200);
    assert_eq!(listed["items"][0]["tenant_id"], "acme");
    assert_eq!(listed["next_cursor"], "acme");
    let rest = app.admin(Method::GET, "/admin/v1/tenants?limit=1&cursor=acme", None).await;
    let rest = rest.assert_status(200);
    assert_eq!(rest["items"][0]["tenant_id"], "zeta");
    assert_eq!(rest["next_cursor"], serde_json::Value::Null);

    // The key issued at creation works on the merchant API.
    app.call(Method::GET, "/api/v1/stores", Some(&key), None).await.assert_status(200);
}

async fn key_rotation_cuts_off_the_old_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let old = app.create_tenant("acme").await;

    let rotated = app.admin(Method::POST, "/admin/v1/tenants/acme/api-keys", None).await;
    let new = rotated.assert_status(201)["api_key"].as_str().expect("new key").to_owned();
    assert_ne!(new, old);
    app.call(Method::GET, "/api/v1/stores", Some(&old), None).await.assert_problem(401, "unauthorized");
    app.call(Method::GET, "/api/v1/stores", Some(&new), None).await.assert_status(200);

    // With a grace period both keys work until it ends, then only the new one.
    let graced =
        app.admin(Method::POST, "/admin/v1/tenants/acme/api-keys", Some(json!({"grace_period_seconds": 300}))).await;
    let newest = graced.assert_status(201)["api_key"].as_str().expect("newest key").to_owned();
    app.call(Method::GET, "/api/v1/stores", Some(&new), None).await.assert_status(200);
    app.call(Method::GET, "/api/v1/stores", Some(&newest), None).await.assert_status(200);
    app.advance(Duration::from_secs(299));
    app.call(Method::GET, "/api/v1/stores", Some(&new), None).await.assert_status(200);
    app.advance(Duration::from_secs(1));
    app.call(Method::GET, "/api/v1/stores", Some(&new), None).await.assert_problem(401, "unauthorized");
    app.call(Method::GET, "/api/v1/stores", Some(&newest), None).await.assert_status(200);

    app.admin(Method::POST, "/admin/v1/tenants/nobody/api-keys", None).await.assert_problem(404, "not-found");
}

async fn deactivation_cuts_off_every_key_and_device_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (old_key, first_device) = app.seeded_tenant("acme").await;
    let graced =
        app.admin(Method::POST, "/admin/v1/tenants/acme/api-keys", Some(json!({"grace_period_seconds": 600}))).await;
    let key = graced.assert_status(201)["api_key"].as_str().expect("key").to_owned();
    let second_device = app.create_device(&key, "glasses-2", "main").await;
    let (other_key, other_device) = app.seeded_tenant("other").await;
    for token in [&old_key, &key] {
        app.call(Method::GET, "/api/v1/devices", Some(token), None).await.assert_status(200);
    }
    for token in [&first_device, &second_device] {
        app.call(Method::GET, "/api/v1/device", Some(token), None).await.assert_status(200);
    }

    app.admin(Method::DELETE, "/admin/v1/tenants/acme", None).await.assert_status(204);

    for token in [&old_key, &key] {
        app.call(Method::GET, "/api/v1/devices", Some(token), None).await.assert_problem(401, "unauthorized");
    }
    for token in [&first_device, &second_device] {
        app.call(Method::GET, "/api/v1/device", Some(token), None).await.assert_problem(401, "unauthorized");
    }
    // Another tenant is untouched.
    app.call(Method::GET, "/api/v1/devices", Some(&other_key), None).await.assert_status(200);
    app.call(Method::GET, "/api/v1/device", Some(&other_device), None).await.assert_status(200);
    // Deactivating twice is fine; the data is kept for audit.
    app.admin(Method::DELETE, "/admin/v1/tenants/acme", None).await.assert_status(204);
    let shown = app.admin(Method::GET, "/admin/v1/tenants/acme", None).await;
    let shown = shown.assert_status(200);
    assert_eq!(shown["status"], "deactivated");
    assert!(shown["deactivated_at"].is_string());
    app.admin(Method::POST, "/admin/v1/tenants/acme/api-keys", None).await.assert_problem(409, "tenant-deactivated");
    let blocked_device = app
        .admin(
            Method::PUT,
            "/admin/v1/tenants/acme/devices/glasses",
            Some(json!({"store": "main", "model": "spectacles-5", "owner": "household-1"})),
        )
        .await;
    blocked_device.assert_problem(409, "tenant-deactivated");

    // Bringing it back: PUT again issues a fresh key; old credentials stay dead; data is all there.
    let back = app
        .admin(Method::PUT, "/admin/v1/tenants/acme", Some(json!({"display_name": "acme", "plan": "starter"})))
        .await;
    let back = back.assert_status(201);
    assert_eq!(back["status"], "active");
    let fresh = back["api_key"].as_str().expect("fresh key").to_owned();
    app.call(Method::GET, "/api/v1/devices", Some(&key), None).await.assert_problem(401, "unauthorized");
    app.call(Method::GET, "/api/v1/device", Some(&first_device), None).await.assert_problem(401, "unauthorized");
    let devices = app.call(Method::GET, "/api/v1/devices", Some(&fresh), None).await;
    let devices = devices.assert_status(200);
    assert_eq!(devices["items"].as_array().map(Vec::len), Some(2));
    assert!(devices["items"].as_array().into_iter().flatten().all(|d| d["status"] == "revoked"));
    app.call(Method::GET, "/api/v1/products/water", Some(&fresh), None).await.assert_status(200);
    let readmitted = app
        .admin(
            Method::PUT,
            "/admin/v1/tenants/acme/devices/glasses",
            Some(json!({"store": "main", "model": "spectacles-5", "owner": "household-1"})),
        )
        .await;
    let token = readmitted.assert_status(201)["token"].as_str().expect("new device token").to_owned();
    app.call(Method::GET, "/api/v1/device", Some(&token), None).await.assert_status(200);
}

async fn admin_device_registration_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_tenant("acme").await;
    app.put_store(&key, "main").await.assert_status(201);
    app.put_store(&key, "annex").await.assert_status(201);
    let spec = json!({"store": "main", "model": "spectacles-5", "serial": "SN1", "owner": "home"});
    let path = "/admin/v1/tenants/acme/devices/glasses";

    let created = app.admin(Method::PUT, path, Some(spec.clone())).await;
    let token = created.assert_status(201)["token"].as_str().expect("token").to_owned();
    let again = app.admin(Method::PUT, path, Some(spec)).await;
    assert!(again.assert_status(200).get("token").is_none());
    let moved = app
        .admin(
            Method::PUT,
            path,
            Some(json!({"store": "annex", "model": "spectacles-5", "serial": "SN1", "owner": "home"})),
        )
        .await;
    assert_eq!(moved.assert_status(200)["store"], "annex");
    let me = app.call(Method::GET, "/api/v1/device", Some(&token), None).await;
    assert_eq!(me.assert_status(200)["store"], "annex", "token survives an update");

    let unknown_store =
        app.admin(Method::PUT, path, Some(json!({"store": "nowhere", "model": "m", "owner": "home"}))).await;
    unknown_store.assert_problem(422, "validation-failed");
    app.admin(
        Method::PUT,
        "/admin/v1/tenants/nobody/devices/x",
        Some(json!({"store": "main", "model": "m", "owner": "o"})),
    )
    .await
    .assert_problem(404, "not-found");

    app.admin(Method::DELETE, path, None).await.assert_status(204);
    app.call(Method::GET, "/api/v1/device", Some(&token), None).await.assert_problem(401, "unauthorized");
    app.admin(Method::DELETE, "/admin/v1/tenants/acme/devices/never", None).await.assert_problem(404, "not-found");
}

/// One racer: registers `count` devices one after another (admin PUT, or merchant batches of
/// two with `key`) and returns the tokens of those the app accepted.
async fn register_while_racing(api: crate::helpers::Api, tenant: String, key: String, racer: usize) -> Vec<String> {
    // Even racers use the admin route, odd ones the merchant batch route.
    let admin = racer.is_multiple_of(2);
    let mut tokens = Vec::new();
    for n in 0..6 {
        let spec = |id: String| json!({"device_id": id, "store": "main", "model": "spectacles-5", "owner": "home"});
        let reply = if admin {
            let path = format!("/admin/v1/tenants/{tenant}/devices/r{racer}-{n}");
            api.admin(Method::PUT, &path, Some(json!({"store": "main", "model": "spectacles-5", "owner": "home"})))
                .await
        } else {
            let body = json!({"devices": [spec(format!("b{racer}-{n}-a")), spec(format!("b{racer}-{n}-b"))]});
            api.call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(body)).await
        };
        match reply.status.as_u16() {
            201 if admin => tokens.push(reply.body["token"].as_str().expect("token").to_owned()),
            201 => tokens.extend(
                reply.body["devices"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| d["token"].as_str().expect("token").to_owned()),
            ),
            // Refused: the tenant is (being) deactivated, or the key already revoked.
            401 | 409 => {}
            other => panic!("unexpected {other}: {reply:?}"),
        }
    }
    tokens
}

/// Registrations racing a deactivation: each one either commits before the
/// deactivation does, and is revoked by it, or is refused. None may survive
/// into the reactivated tenant (before the fix, one that read the tenant as
/// active and committed after the revocation stayed active and came back).
async fn registrations_racing_a_deactivation_do_not_survive_it(backend: Backend) {
    let app: TestApp = spawn_app_with(backend, |s| s.db_max_connections = 16).await;
    let mut accepted_total = 0;
    for round in 0..6_u64 {
        let tenant = format!("race-{round}");
        let key = app.create_tenant(&tenant).await;
        app.put_store(&key, "main").await.assert_status(201);
        // Committed before the deactivation starts: it must be revoked by it.
        let early = app.create_device(&key, "early", "main").await;
        let mut racers = tokio::task::JoinSet::new();
        for racer in 0..12 {
            let api = TestApp::remote(&app.address, &app.admin_token);
            racers.spawn(register_while_racing(api, tenant.clone(), key.clone(), racer));
        }
        // Lands among the registrations: a little later each round.
        tokio::time::sleep(Duration::from_millis(5 + 5 * round)).await;
        app.admin(Method::DELETE, &format!("/admin/v1/tenants/{tenant}"), None).await.assert_status(204);
        let mut accepted = vec![early];
        while let Some(tokens) = racers.join_next().await {
            accepted.extend(tokens.expect("racer"));
        }
        accepted_total += accepted.len();
        let back = app
            .admin(
                Method::PUT,
                &format!("/admin/v1/tenants/{tenant}"),
                Some(json!({"display_name": tenant, "plan": "starter"})),
            )
            .await;
        back.assert_status(201);
        for token in &accepted {
            let me = app.call(Method::GET, "/api/v1/device", Some(token), None).await;
            assert_eq!(
                me.status.as_u16(),
                401,
                "round {round}: a device registered before the deactivation committed is active again: {me:?}"
            );
        }
        // Nothing registered after the deactivation either (a refusal must not write).
        let fresh = back.body["api_key"].as_str().expect("fresh key");
        let listed = app.call(Method::GET, "/api/v1/devices?limit=200", Some(fresh), None).await;
        let listed = listed.assert_status(200);
        let active: Vec<_> =
            listed["items"].as_array().into_iter().flatten().filter(|d| d["status"] != "revoked").collect();
        assert!(active.is_empty(), "round {round}: active after reactivation: {active:?}");
    }
    println!("{accepted_total} registrations committed before their tenant's deactivation");
}

#[tokio::test]
async fn postgres_registrations_racing_a_deactivation_do_not_survive_it() {
    registrations_racing_a_deactivation_do_not_survive_it(Backend::Postgres).await;
}

#[tokio::test]
async fn sqlite_registrations_racing_a_deactivation_do_not_survive_it() {
    registrations_racing_a_deactivation_do_not_survive_it(Backend::Sqlite).await;
}

on_both_backends!(
    tenant_onboarding_is_idempotent,
    key_rotation_cuts_off_the_old_key,
    deactivation_cuts_off_every_key_and_device_at_once,
    admin_device_registration_is_idempotent,
);
