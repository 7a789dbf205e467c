//! Stores a Tenant declares (`spec.stores`) reach the real app through its merchant API,
//! a webhook's secret taken from a Secret in the tenant's namespace.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use replenish_operator::crd::Tenant;
use replenish_operator::reconcile::reconcile_tenant;
use reqwest::Method;
use serde_json::{Value, json};

use crate::controller_tenant::{api_key, create_tenant, patch_spec, wait_ready};
use crate::support::{Harness, condition};

/// A public address literal: the app checks where merchant URLs point, and a name would
/// need DNS; no order is placed, so nothing is ever sent there.
const ORDERS_URL: &str = "https://93.184.215.14/orders";
const SECRET: &str = "whsec-0123456789abcdef";

fn webhook_store(secret_name: &str) -> Value {
    json!({
        "id": "mission-st", "name": "Mission St.", "timezone": "America/Los_Angeles",
        "commerce": {
            "provider": "webhook", "url": ORDERS_URL,
            "secretRef": {"name": secret_name, "key": "signing-secret"}
        }
    })
}

async fn put_secret(h: &Harness, name: &str, value: &str) {
    let secret = Secret {
        metadata: ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() },
        data: Some(BTreeMap::from([("signing-secret".to_owned(), ByteString(value.as_bytes().to_vec()))])),
        ..Secret::default()
    };
    let api = Api::<Secret>::namespaced(h.client.clone(), "tenant-acme");
    api.patch(name, &PatchParams::apply("test").force(), &Patch::Apply(&secret)).await.unwrap();
}

async fn store(h: &Harness, key: &str, id: &str) -> (u16, Value) {
    h.app.call(Method::GET, &format!("/api/v1/stores/{id}"), key, None).await
}

#[tokio::test]
async fn a_declared_webhook_store_reaches_the_app_with_the_secret_from_its_secret() {
    let h = Harness::start(true).await;
    put_secret(&h, "shop-webhook", SECRET).await;
    create_tenant(
        &h,
        "acme",
        json!({"displayName": "Acme", "plan": "starter", "stores": [webhook_store("shop-webhook")]}),
    )
    .await;
    let t = wait_ready(&h, "acme", "True").await;
    assert!(t["status"]["appliedStores"]["mission-st"].is_string(), "{t}");
    let key = api_key(&h, "acme").unwrap();
    let (code, view) = store(&h, &key, "mission-st").await;
    assert_eq!(code, 200);
    assert_eq!(view["name"], "Mission St.");
    assert_eq!(view["timezone"], "America/Los_Angeles");
    assert_eq!(view["commerce"]["provider"], "webhook");
    assert_eq!(view["commerce"]["url"], ORDERS_URL);
    assert_eq!(view["commerce"]["secret_set"], true, "the secret was sent: {view}");

    // A store made through the API and not declared is left alone.
    assert_eq!(h.app.put_store(&key, "api-made").await, 201);
    patch_spec(&h, "acme", json!({"displayName": "Acme Inc"})).await;
    wait_ready(&h, "acme", "True").await;
    assert_eq!(store(&h, &key, "api-made").await.1["commerce"]["provider"], "mock");

    // What is sent is the Secret's value: a value the app refuses (too short) makes the
    // next reconcile fail on the app's rule for the secret.
    put_secret(&h, "shop-webhook", "short").await;
    patch_spec(&h, "acme", json!({"displayName": "Acme Corp"})).await;
    let t = wait_ready(&h, "acme", "False").await;
    let ready = condition(&t, "Ready").unwrap();
    assert_eq!(ready["reason"], "AppRejected");
    assert!(ready["message"].as_str().unwrap().contains("commerce.secret"), "{ready}");
    assert_eq!(condition(&t, "Provisioned").unwrap()["status"], "True", "the tenant itself is fine");
    // And a good value again puts it right, without a spec change.
    put_secret(&h, "shop-webhook", SECRET).await;
    wait_ready(&h, "acme", "True").await;
}

#[tokio::test]
async fn a_missing_secret_sets_secret_not_found_and_is_retried_until_it_appears() {
    let h = Harness::start(true).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter", "stores": [webhook_store("later")]}))
        .await;
    let t = wait_ready(&h, "acme", "False").await;
    let ready = condition(&t, "Ready").unwrap();
    assert_eq!(ready["reason"], "SecretNotFound");
    assert!(ready["message"].as_str().unwrap().contains("Secret tenant-acme/later does not exist"), "{ready}");
    // The tenant itself is provisioned; the store is not created without its secret.
    assert_eq!(condition(&t, "Provisioned").unwrap()["status"], "True");
    let key = api_key(&h, "acme").unwrap();
    assert_eq!(store(&h, &key, "mission-st").await.0, 404);

    // The operator keeps retrying: once the Secret exists the store follows.
    put_secret(&h, "later", SECRET).await;
    wait_ready(&h, "acme", "True").await;
    let (code, view) = store(&h, &key, "mission-st").await;
    assert_eq!((code, &view["commerce"]["secret_set"]), (200, &json!(true)));
}

#[tokio::test]
async fn an_unchanged_store_is_not_sent_again() {
    let h = Harness::start(true).await;
    put_secret(&h, "shop-webhook", SECRET).await;
    create_tenant(
        &h,
        "acme",
        json!({"displayName": "Acme", "plan": "starter", "stores": [webhook_store("shop-webhook")]}),
    )
    .await;
    wait_ready(&h, "acme", "True").await;
    h.settle().await;
    // Renamed through the API: a reconcile that sent the store again would undo it.
    let key = api_key(&h, "acme").unwrap();
    let body = json!({"name": "Renamed", "timezone": "UTC", "commerce": {"provider": "webhook", "url": ORDERS_URL}});
    assert_eq!(h.app.call(Method::PUT, "/api/v1/stores/mission-st", &key, Some(body)).await.0, 200);
    let before = h.fake.writes();
    let stored = Api::<Tenant>::all(h.client.clone()).get("acme").await.unwrap();
    reconcile_tenant(Arc::new(stored), h.ctx.clone()).await.unwrap();
    assert_eq!(store(&h, &key, "mission-st").await.1["name"], "Renamed");
    assert_eq!(h.fake.changes_since(before), Vec::<String>::new(), "a steady tenant must cause no writes");
    // A changed declaration is sent.
    let stores = json!([{"id": "mission-st", "name": "Mission Street", "commerce": {"provider": "mock"}}]);
    patch_spec(&h, "acme", json!({"stores": stores})).await;
    wait_ready(&h, "acme", "True").await;
    let view = store(&h, &key, "mission-st").await.1;
    assert_eq!((view["name"].as_str(), view["commerce"]["provider"].as_str()), (Some("Mission Street"), Some("mock")));
}
