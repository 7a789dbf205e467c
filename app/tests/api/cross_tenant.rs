//! A tenant never sees, counts or affects another tenant's data.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};

async fn another_tenants_ids_are_404_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a_key, a_device) = app.seeded_tenant("alpha").await;
    app.put_product(&a_key, "only-alpha", "sunscreen", "SUN-1").await.assert_status(201);
    let (b_key, b_device) = app.seeded_tenant("bravo").await;

    // Every merchant route that names an id, with alpha's ids and bravo's key.
    let alpha_only = [
        (Method::GET, "/api/v1/stores/main-alpha"),
        (Method::GET, "/api/v1/products/only-alpha"),
        (Method::DELETE, "/api/v1/products/only-alpha"),
        (Method::GET, "/api/v1/devices/glasses-alpha"),
        (Method::DELETE, "/api/v1/devices/glasses-alpha"),
    ];
    // Give alpha objects that bravo does not share ids with.
    app.put_store(&a_key, "main-alpha").await.assert_status(201);
    app.create_device(&a_key, "glasses-alpha", "main-alpha").await;
    for (method, path) in alpha_only.iter().cloned() {
        let reply = app.call(method.clone(), path, Some(&b_key), None).await;
        reply.assert_problem(404, "not-found");
        // …and the same with bravo's device token, which may not use merchant routes at all.
        let reply = app.call(method, path, Some(&b_device), None).await;
        assert_eq!(reply.status.as_u16(), 403, "{path}: {reply:?}");
    }

    // Intents and orders of alpha are invisible to bravo's key and device, and to alpha's other devices.
    let intent = app.prompted(&a_device, "x-1", "water_bottle").await;
    let decided = app.decide(&a_device, &intent, true, "VOICE").await;
    let order = decided.assert_status(200)["order"]["order_id"].as_str().expect("order").to_owned();
    let a_sibling = app.add_device(&a_key, "alpha-sibling", "household-1").await;
    for path in [format!("/api/v1/intents/{intent}"), format!("/api/v1/orders/{order}")] {
        for token in [&b_key, &b_device, &a_sibling] {
            app.call(Method::GET, &path, Some(token), None).await.assert_problem(404, "not-found");
        }
        app.call(Method::GET, &path, Some(&a_key), None).await.assert_status(200);
    }
    app.decide(&b_device, &intent, false, "VOICE").await.assert_problem(404, "not-found");
    for path in ["/api/v1/intents", "/api/v1/orders"] {
        let listed = app.call(Method::GET, path, Some(&b_key), None).await;
        assert_eq!(listed.assert_status(200)["items"].as_array().map(Vec::len), Some(0), "{path}");
    }
    let summary = app.summary(&b_key).await;
    assert_eq!((summary["detections"].as_u64(), summary["orders_confirmed"].as_u64()), (Some(0), Some(0)));
    // Bravo's own water bottle is not "already ordered" because alpha's household ordered one.
    let own = app.detect(&b_device, "b-1", "water_bottle", "EMPTY", "HIGH").await;
    assert_eq!(own.assert_status(200)["reason"], "PROMPT");

    // A device can only ever see itself.
    let me = app.call(Method::GET, "/api/v1/device", Some(&b_device), None).await;
    assert_eq!(me.assert_status(200)["device_id"], "glasses");
    assert_eq!(me.body["store"], "main");

    // Listings hold only the caller's own objects.
    for (path, id_field, alpha_id) in [
        ("/api/v1/stores", "store_id", "main-alpha"),
        ("/api/v1/products", "product_id", "only-alpha"),
        ("/api/v1/devices", "device_id", "glasses-alpha"),
    ] {
        let listed = app.call(Method::GET, path, Some(&b_key), None).await;
        let items = listed.assert_status(200)["items"].as_array().cloned().unwrap_or_default();
        assert!(items.iter().all(|item| item[id_field] != alpha_id), "{path} leaked {alpha_id}: {items:?}");
        assert_eq!(items.len(), 1, "{path} counts only bravo's: {items:?}");
    }

    // A body that names alpha's store is as if the store did not exist.
    let steal = json!({"device_id": "sneaky", "store": "main-alpha", "owner": "o", "model": "m"});
    app.call(Method::POST, "/api/v1/devices", Some(&b_key), Some(steal)).await.assert_problem(422, "validation-failed");
    let steal_batch = json!({"devices": [{"device_id": "sneaky", "store": "main-alpha", "owner": "o", "model": "m"}]});
    app.call(Method::POST, "/api/v1/devices:batch", Some(&b_key), Some(steal_batch))
        .await
        .assert_problem(422, "validation-failed");

    // Same ids and classes in another tenant are separate objects.
    app.put_product(&b_key, "only-alpha", "sunscreen", "SUN-1").await.assert_status(201);
    let renamed = json!({"name": "Bravo's", "timezone": "UTC", "commerce": {"provider": "mock"}});
    app.call(Method::PUT, "/api/v1/stores/main", Some(&b_key), Some(renamed)).await.assert_status(200);

    // Alpha is untouched by all of the above.
    let store = app.call(Method::GET, "/api/v1/stores/main", Some(&a_key), None).await;
    assert_eq!(store.assert_status(200)["name"], "Store main");
    app.call(Method::GET, "/api/v1/products/only-alpha", Some(&a_key), None).await.assert_status(200);
    let device = app.call(Method::GET, "/api/v1/devices/glasses-alpha", Some(&a_key), None).await;
    assert_eq!(device.assert_status(200)["status"], "active");
    app.call(Method::GET, "/api/v1/device", Some(&a_device), None).await.assert_status(200);
    let devices = app.call(Method::GET, "/api/v1/devices", Some(&a_key), None).await;
    assert_eq!(devices.assert_status(200)["items"].as_array().map(Vec::len), Some(3));
}

/// A device reaches only its own intents and event ids, and a merchant's
/// filters and the admin's tenant paths stay inside the named tenant.
async fn ids_of_another_device_or_tenant_are_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a_key, a_device) = app.seeded_tenant("alpha").await;
    let (b_key, b_device) = app.seeded_tenant("bravo").await;
    let sibling = app.add_device(&a_key, "sibling", "household-2").await;
    let intent = app.prompted(&a_device, "x-1", "water_bottle").await;

    // Neither a sibling device nor another tenant's device may decide it, either way.
    for token in [&sibling, &b_device] {
        for accepted in [true, false] {
            app.decide(token, &intent, accepted, "VOICE").await.assert_problem(404, "not-found");
        }
    }
    // The same event id from another device is that device's own event, not a replay of alpha's.
    for token in [&sibling, &b_device] {
        let own = app.detect(token, "x-1", "water_bottle", "EMPTY", "HIGH").await;
        assert_eq!(own.assert_status(200)["reason"], "PROMPT");
        assert_ne!(own.body["intent_id"].as_str(), Some(intent.as_str()), "replayed alpha's answer: {own:?}");
    }
    let decided = app.decide(&a_device, &intent, true, "VOICE").await;
    let order = decided.assert_status(200)["order"]["order_id"].as_str().expect("order").to_owned();
    app.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&sibling), None)
        .await
        .assert_problem(404, "not-found");

    // Filtering by another tenant's device names nothing of that tenant.
    for path in ["/api/v1/intents?device=sibling", "/api/v1/orders?device=glasses&status=CONFIRMED"] {
        let listed = app.call(Method::GET, path, Some(&b_key), None).await;
        assert_eq!(listed.assert_status(200)["items"].as_array().map(Vec::len), Some(0), "{path}: {listed:?}");
    }
    let mine = app.call(Method::GET, "/api/v1/orders?device=glasses", Some(&a_key), None).await;
    assert_eq!(mine.assert_status(200)["items"].as_array().map(Vec::len), Some(1));

    // The admin's paths name the tenant: alpha's device under bravo does not exist.
    app.admin(Method::DELETE, "/admin/v1/tenants/bravo/devices/sibling", None).await.assert_problem(404, "not-found");
    app.call(Method::GET, "/api/v1/device", Some(&sibling), None).await.assert_status(200);
}

/// The repositories themselves: a write or read made with another tenant's
/// scope finds nothing and changes nothing, whatever ids it is handed.
async fn repositories_keep_to_their_scope(backend: Backend) {
    use replenish_app::db::scope::TenantScope;
    use replenish_app::orders::entity::order as orders;
    use replenish_app::orders::repo::placing::Settlement;
    use replenish_app::{intents, orders as orders_domain};
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let app = spawn_app(backend).await;
    let (_, a_device) = app.seeded_tenant("alpha").await;
    app.seeded_tenant("bravo").await;
    let intent = app.prompted(&a_device, "r-1", "water_bottle").await;
    let decided = app.decide(&a_device, &intent, true, "VOICE").await;
    let order_id: uuid::Uuid =
        decided.assert_status(200)["order"]["order_id"].as_str().expect("order").parse().expect("uuid");
    let intent_id: uuid::Uuid = intent.parse().expect("uuid");

    // Rewind the order to where placement starts, so only the scope stands between bravo and it.
    let db = sea_orm::Database::connect(&app.db.url).await.expect("test database");
    orders::Entity::update_many()
        .col_expr(orders::Column::Status, Expr::value("PENDING"))
        .filter(orders::Column::Id.eq(order_id))
        .exec(&db)
        .await
        .expect("rewind order");
    let status = || async { orders::Entity::find_by_id(order_id).one(&db).await.expect("read").expect("order").status };
    let row = orders::Entity::find_by_id(order_id).one(&db).await.expect("read").expect("order");
    let (alpha, bravo) = (TenantScope::parse("alpha").expect("id"), TenantScope::parse("bravo").expect("id"));
    let now = chrono::Utc::now();

    assert!(orders_domain::repo::find(&db, &bravo, None, order_id).await.expect("query").is_none());
    assert!(intents::repo::find(&db, &bravo, None, intent_id).await.expect("query").is_none());
    orders_domain::repo::placing::mark_submitted(&db, &bravo, &row, now).await.expect("a no-op");
    assert_eq!(status().await, "PENDING", "bravo's scope moved alpha's order");
    let refused = Settlement::Failed("not yours".into());
    let finished = orders_domain::repo::placing::finish(&db, &bravo, &row, &refused, now).await;
    assert!(finished.is_err(), "bravo's scope finished alpha's order: {finished:?}");
    assert_eq!(status().await, "PENDING", "bravo's scope failed alpha's order");

    // With its own scope the same calls do move it.
    assert!(orders_domain::repo::find(&db, &alpha, None, order_id).await.expect("query").is_some());
    orders_domain::repo::placing::mark_submitted(&db, &alpha, &row, now).await.expect("submitted");
    assert_eq!(status().await, "SUBMITTED");
}

on_both_backends!(
    another_tenants_ids_are_404_everywhere,
    ids_of_another_device_or_tenant_are_404,
    repositories_keep_to_their_scope
);
