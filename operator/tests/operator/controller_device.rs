//! The Device controller end to end, against the fake API server and the real app.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, PostParams};
use replenish_operator::crd::Device;
use reqwest::Method;
use serde_json::{Value, json};

use crate::controller_tenant::{SECRETS, TENANTS, create_tenant, wait_ready};
use crate::support::{Harness, condition, eventually, secret_field};

pub const DEVICES: &str = "replenish.dev/v1alpha1/devices";

pub async fn create_device(h: &Harness, name: &str, store: &str) {
    let device: Device = serde_json::from_value(json!({
        "apiVersion": "replenish.dev/v1alpha1", "kind": "Device",
        "metadata": {"name": name, "namespace": "tenant-acme"},
        "spec": {"store": store, "model": "spectacles-5", "serial": "SN-1", "owner": "household-1"}
    }))
    .unwrap();
    Api::<Device>::namespaced(h.client.clone(), "tenant-acme").create(&PostParams::default(), &device).await.unwrap();
}

pub async fn wait_device_ready(h: &Harness, name: &str, status: &str) -> Value {
    eventually(&format!("device {name} Ready={status}"), || {
        let d = h.get(DEVICES, "tenant-acme", name)?;
        let ready = condition(&d, "Ready")?;
        (ready["status"] == status && ready["observedGeneration"] == d["metadata"]["generation"]).then_some(d)
    })
    .await
}

fn token(h: &Harness, name: &str) -> Option<String> {
    secret_field(&h.get(SECRETS, "tenant-acme", &format!("device-{name}-credentials"))?, "token")
}

/// A ready tenant `acme` with store `main`; returns its API key.
async fn tenant_with_store(h: &Harness) -> String {
    create_tenant(h, "acme", json!({"displayName": "Acme", "plan": "starter"})).await;
    wait_ready(h, "acme", "True").await;
    let key = secret_field(&h.get(SECRETS, "tenant-acme", "replenish-api-key").unwrap(), "api-key").unwrap();
    assert_eq!(h.app.put_store(&key, "main").await, 201);
    key
}

#[tokio::test]
async fn a_device_is_registered_counted_and_revoked_on_deletion() {
    let h = Harness::start(true).await;
    let key = tenant_with_store(&h).await;
    create_device(&h, "glasses", "main").await;
    let d = wait_device_ready(&h, "glasses", "True").await;
    assert_eq!(d["status"]["credentialsSecret"], "device-glasses-credentials");
    assert!(d["status"]["registeredAt"].is_string());
    assert_eq!(d["metadata"]["finalizers"], json!(["replenish.dev/device-revocation"]));
    let secret = h.get(SECRETS, "tenant-acme", "device-glasses-credentials").unwrap();
    assert_eq!(secret["metadata"]["ownerReferences"][0]["uid"], d["metadata"]["uid"]);
    let token = token(&h, "glasses").unwrap();
    let (code, me) = h.app.call(Method::GET, "/api/v1/device", &token, None).await;
    assert_eq!(code, 200, "the token in the Secret works");
    assert_eq!(
        (me["store"].as_str(), me["serial"].as_str(), me["owner"].as_str()),
        (Some("main"), Some("SN-1"), Some("household-1"))
    );
    assert_eq!(h.events("Registered").len(), 1);
    eventually("tenant counts the device", || (h.get(TENANTS, "", "acme")?["status"]["devices"] == 1).then_some(()))
        .await;

    // A spec change reaches the app and keeps the token.
    let patch = json!({"spec": {"owner": "household-2", "model": "spectacles-6"}});
    Api::<Device>::namespaced(h.client.clone(), "tenant-acme")
        .patch("glasses", &kube::api::PatchParams::default(), &kube::api::Patch::Merge(patch))
        .await
        .unwrap();
    wait_device_ready(&h, "glasses", "True").await;
    let (_, me) = h.app.call(Method::GET, "/api/v1/device", &token, None).await;
    assert_eq!((me["owner"].as_str(), me["model"].as_str()), (Some("household-2"), Some("spectacles-6")));
    assert_eq!(self::token(&h, "glasses").as_deref(), Some(token.as_str()));

    Api::<Device>::namespaced(h.client.clone(), "tenant-acme")
        .delete("glasses", &DeleteParams::default())
        .await
        .unwrap();
    eventually("device gone", || h.get(DEVICES, "tenant-acme", "glasses").is_none().then_some(())).await;
    assert!(h.get(SECRETS, "tenant-acme", "device-glasses-credentials").is_none(), "owned Secret collected");
    assert_eq!(h.app.call(Method::GET, "/api/v1/device", &token, None).await.0, 401, "revoked in the app");
    let (_, listed) = h.app.call(Method::GET, "/api/v1/devices", &key, None).await;
    assert_eq!(listed["items"][0]["status"], "revoked", "{listed}");
    eventually("tenant count back to 0", || (h.get(TENANTS, "", "acme")?["status"]["devices"] == 0).then_some(()))
        .await;
}

#[tokio::test]
async fn a_lost_credentials_secret_reissues_the_token() {
    let h = Harness::start(true).await;
    tenant_with_store(&h).await;
    create_device(&h, "glasses", "main").await;
    wait_device_ready(&h, "glasses", "True").await;
    let old = token(&h, "glasses").unwrap();
    Api::<Secret>::namespaced(h.client.clone(), "tenant-acme")
        .delete("device-glasses-credentials", &DeleteParams::default())
        .await
        .unwrap();
    let new = eventually("a new token", || token(&h, "glasses")).await;
    assert_ne!(new, old);
    assert_eq!(h.app.call(Method::GET, "/api/v1/device", &old, None).await.0, 401);
    assert_eq!(h.app.call(Method::GET, "/api/v1/device", &new, None).await.0, 200);
    let events = h.events("CredentialsReissued");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "Warning");
}

#[tokio::test]
async fn a_device_whose_store_is_missing_is_not_ready_and_recovers() {
    let h = Harness::start(true).await;
    let key = tenant_with_store(&h).await;
    create_device(&h, "glasses", "attic").await;
    let d = wait_device_ready(&h, "glasses", "False").await;
    let ready = condition(&d, "Ready").unwrap();
    assert_eq!(ready["reason"], "AppRejected");
    assert!(ready["message"].as_str().unwrap().contains("422"), "{ready}");
    // The merchant creates the store; the retry picks it up with no change to the Device.
    assert_eq!(h.app.put_store(&key, "attic").await, 201);
    wait_device_ready(&h, "glasses", "True").await;
    assert!(token(&h, "glasses").is_some());
}

#[tokio::test]
async fn a_paused_device_is_left_alone() {
    let h = Harness::start(true).await;
    let key = tenant_with_store(&h).await;
    let device: Device = serde_json::from_value(json!({
        "apiVersion": "replenish.dev/v1alpha1", "kind": "Device",
        "metadata": {"name": "glasses", "namespace": "tenant-acme"},
        "spec": {"store": "main", "model": "m", "owner": "o", "paused": true}
    }))
    .unwrap();
    Api::<Device>::namespaced(h.client.clone(), "tenant-acme").create(&PostParams::default(), &device).await.unwrap();
    eventually("paused condition", || {
        let d = h.get(DEVICES, "tenant-acme", "glasses")?;
        (condition(&d, "ReconciliationPaused")?["status"] == "True").then_some(())
    })
    .await;
    let (_, listed) = h.app.call(Method::GET, "/api/v1/devices", &key, None).await;
    assert_eq!(listed["items"], json!([]), "not registered while paused");
    assert!(token(&h, "glasses").is_none());
    // Deleting it while paused releases it without touching the app.
    Api::<Device>::namespaced(h.client.clone(), "tenant-acme")
        .delete("glasses", &DeleteParams::default())
        .await
        .unwrap();
    eventually("paused device gone", || h.get(DEVICES, "tenant-acme", "glasses").is_none().then_some(())).await;
    assert_eq!(h.events("DeletedWhilePaused").len(), 1);
    assert!(h.events("Revoked").is_empty());
}

#[tokio::test]
async fn a_device_outside_a_tenant_namespace_is_invalid() {
    let h = Harness::start(true).await;
    let device: Device = serde_json::from_value(json!({
        "apiVersion": "replenish.dev/v1alpha1", "kind": "Device",
        "metadata": {"name": "stray", "namespace": "default"},
        "spec": {"store": "main", "model": "m", "owner": "o"}
    }))
    .unwrap();
    Api::<Device>::namespaced(h.client.clone(), "default").create(&PostParams::default(), &device).await.unwrap();
    let d = eventually("stray device not ready", || {
        let d = h.get(DEVICES, "default", "stray")?;
        (condition(&d, "Ready")?["status"] == "False").then_some(d)
    })
    .await;
    assert_eq!(condition(&d, "Ready").unwrap()["reason"], "InvalidSpec");
    // Its deletion does not hang on a revocation that cannot apply.
    Api::<Device>::namespaced(h.client.clone(), "default").delete("stray", &DeleteParams::default()).await.unwrap();
    eventually("stray device gone", || h.get(DEVICES, "default", "stray").is_none().then_some(())).await;
}
