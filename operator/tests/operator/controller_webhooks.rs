//! Webhook endpoints a Tenant declares (`spec.webhooks`) reach the real app through its
//! merchant API, signed with the secret from a Secret in the tenant's namespace; endpoints
//! dropped from the spec are deleted, and a missing Secret is reported, not guessed around.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::controller_tenant::{api_key, create_tenant, patch_spec, wait_ready};
use crate::support::{Harness, condition};

/// Public address literals: the app checks where endpoint URLs point, and a name would need
/// DNS; nothing is delivered in these tests.
const HOOK_URL: &str = "https://93.184.215.14/replenish/events";
const OTHER_URL: &str = "https://93.184.215.15/hooks";
const SECRET: &str = "whsec-operator-test-0123456789abcdef";
const ROLLED: &str = "whsec-operator-test-rolled-0123456789";

/// What the app shows as `secret_fingerprint`: the first 8 hex digits of the secret's SHA-256.
fn fingerprint(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))[..8].to_owned()
}

fn webhook(name: &str, url: &str, secret: &str) -> Value {
    json!({
        "name": name, "url": url, "eventTypes": ["order.confirmed", "order.failed"],
        "description": "fulfilment system",
        "secretRef": {"name": secret, "key": "signing-secret"}
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

async fn endpoint(h: &Harness, key: &str, id: &str) -> (u16, Value) {
    h.app.call(Method::GET, &format!("/api/v1/webhook-endpoints/{id}"), key, None).await
}

#[tokio::test]
async fn a_declared_endpoint_is_created_updated_rolled_and_removed() {
    let h = Harness::start(true).await;
    put_secret(&h, "hooks", SECRET).await;
    let spec =
        json!({"displayName": "Acme", "plan": "starter", "webhooks": [webhook("fulfilment", HOOK_URL, "hooks")]});
    create_tenant(&h, "acme", spec).await;
    let t = wait_ready(&h, "acme", "True").await;
    assert!(t["status"]["appliedWebhooks"]["fulfilment"].is_string(), "{t}");
    assert_eq!(t["status"]["webhooks"], 1, "{t}");

    // Created with the Secret's value: the app's fingerprint is that of the Secret.
    let key = api_key(&h, "acme").unwrap();
    let (code, view) = endpoint(&h, &key, "fulfilment").await;
    assert_eq!(code, 200, "{view}");
    assert_eq!(view["url"], HOOK_URL);
    assert_eq!(view["event_types"], json!(["order.confirmed", "order.failed"]));
    assert_eq!(view["enabled"], true, "enabled defaults to true");
    assert_eq!(view["description"], "fulfilment system");
    assert_eq!(view["secret_fingerprint"], fingerprint(SECRET), "{view}");
    assert!(view.get("secret").is_none() && view.get("previous_secret_expires_at").is_none(), "{view}");

    // An endpoint made through the API and never declared is left alone throughout.
    let own = json!({"url": OTHER_URL, "event_types": ["device.revoked"]});
    let made = h.app.call(Method::PUT, "/api/v1/webhook-endpoints/merchant-own", &key, Some(own)).await;
    assert_eq!(made.0, 201, "{made:?}");

    // Updated: the declaration changes, the secret does not (no roll).
    let mut changed = webhook("fulfilment", OTHER_URL, "hooks");
    changed["eventTypes"] = json!(["order.cancelled"]);
    changed["enabled"] = json!(false);
    patch_spec(&h, "acme", json!({"webhooks": [changed]})).await;
    wait_ready(&h, "acme", "True").await;
    let view = endpoint(&h, &key, "fulfilment").await.1;
    assert_eq!(
        (&view["url"], &view["event_types"], &view["enabled"]),
        (&json!(OTHER_URL), &json!(["order.cancelled"]), &json!(false))
    );
    assert_eq!(view["secret_fingerprint"], fingerprint(SECRET));
    assert!(view.get("previous_secret_expires_at").is_none(), "the same value is no roll: {view}");

    // A new value in the Secret rolls the secret (the old one keeps signing for a while).
    put_secret(&h, "hooks", ROLLED).await;
    patch_spec(&h, "acme", json!({"displayName": "Acme Inc"})).await;
    wait_ready(&h, "acme", "True").await;
    let view = endpoint(&h, &key, "fulfilment").await.1;
    assert_eq!(view["secret_fingerprint"], fingerprint(ROLLED), "{view}");
    assert!(view["previous_secret_expires_at"].is_string(), "rolled with a grace period: {view}");

    // Removed from the spec: deleted from the app. (The status no longer applies its entry; the
    // fake API server, unlike a real one, keeps fields a manager stops applying, so the entry
    // is not checked here — a stale one only means a DELETE answered 404, which counts as done.)
    patch_spec(&h, "acme", json!({"webhooks": null})).await;
    let t = wait_ready(&h, "acme", "True").await;
    assert_eq!(endpoint(&h, &key, "fulfilment").await.0, 404);
    assert_eq!(t["status"]["webhooks"], 0, "{t}");
    h.settle().await;
    assert_eq!(endpoint(&h, &key, "fulfilment").await.0, 404, "not created again");
    assert_eq!(endpoint(&h, &key, "merchant-own").await.0, 200, "never declared, never touched");
}

#[tokio::test]
async fn a_missing_secret_or_key_is_reported_and_that_endpoint_left_untouched() {
    let h = Harness::start(true).await;
    put_secret(&h, "hooks", SECRET).await;
    let spec = json!({"displayName": "Acme", "plan": "starter", "webhooks": [
        webhook("fulfilment", HOOK_URL, "hooks"), webhook("later", OTHER_URL, "not-yet")
    ]});
    create_tenant(&h, "acme", spec).await;
    let t = wait_ready(&h, "acme", "False").await;
    let ready = condition(&t, "Ready").unwrap();
    assert_eq!(ready["reason"], "SecretNotFound");
    let message = ready["message"].as_str().unwrap();
    assert!(message.contains("webhook later: Secret tenant-acme/not-yet does not exist"), "{ready}");
    assert_eq!(condition(&t, "Provisioned").unwrap()["status"], "True", "the tenant itself is fine");
    // The endpoint without its secret is not created; the other one is, and recorded.
    let key = api_key(&h, "acme").unwrap();
    assert_eq!(endpoint(&h, &key, "later").await.0, 404);
    assert_eq!(endpoint(&h, &key, "fulfilment").await.0, 200);
    assert!(t["status"]["appliedWebhooks"]["fulfilment"].is_string(), "{t}");

    // A Secret without the key is reported as such, and the endpoint still not created.
    let wrong_key = Secret {
        metadata: ObjectMeta { name: Some("not-yet".into()), ..ObjectMeta::default() },
        data: Some(BTreeMap::from([("other".to_owned(), ByteString(ROLLED.as_bytes().to_vec()))])),
        ..Secret::default()
    };
    let secrets = Api::<Secret>::namespaced(h.client.clone(), "tenant-acme");
    secrets.patch("not-yet", &PatchParams::apply("test").force(), &Patch::Apply(&wrong_key)).await.unwrap();
    crate::support::eventually("the missing key reported", || {
        let t = h.get("replenish.dev/v1alpha1/tenants", "", "acme")?;
        let ready = condition(&t, "Ready")?;
        ready["message"].as_str()?.contains("Secret tenant-acme/not-yet has no key signing-secret").then_some(())
    })
    .await;
    assert_eq!(endpoint(&h, &key, "later").await.0, 404);

    // A Secret that already signs an endpoint disappears: that endpoint is left as it is.
    secrets.delete("hooks", &Default::default()).await.unwrap();
    put_secret(&h, "not-yet", ROLLED).await;
    patch_spec(&h, "acme", json!({"displayName": "Acme Inc"})).await;
    let t = wait_ready(&h, "acme", "False").await;
    let message = condition(&t, "Ready").unwrap()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("webhook fulfilment: Secret tenant-acme/hooks does not exist"), "{message}");
    assert_eq!(endpoint(&h, &key, "fulfilment").await.1["secret_fingerprint"], fingerprint(SECRET));
    assert_eq!(endpoint(&h, &key, "later").await.1["secret_fingerprint"], fingerprint(ROLLED));

    // The operator keeps retrying: once the Secret is back everything is in place.
    put_secret(&h, "hooks", SECRET).await;
    let t = wait_ready(&h, "acme", "True").await;
    assert_eq!(t["status"]["webhooks"], 2, "{t}");
}
