use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use serde_json::json;

use super::*;
use crate::crd::StoreCommerce;

fn webhook() -> TenantStore {
    TenantStore {
        id: "mission-st".into(),
        name: "Mission St.".into(),
        timezone: "America/Los_Angeles".into(),
        commerce: StoreCommerce {
            provider: StoreProvider::Webhook,
            url: Some("https://shop.example/orders".into()),
            cancel_url: Some("https://shop.example/cancel".into()),
            secret_ref: Some(SecretKeyRef { name: "shop-webhook".into(), key: "secret".into() }),
        },
    }
}

fn secret(key: &str, value: &str) -> Secret {
    Secret {
        data: Some(BTreeMap::from([(key.to_owned(), ByteString(value.as_bytes().to_vec()))])),
        ..Secret::default()
    }
}

#[test]
fn the_body_carries_the_secret_the_api_crate_would_drop() {
    let body = store_body(&webhook(), Some("s3cret-s3cret-s3cret".into()));
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({
            "name": "Mission St.", "timezone": "America/Los_Angeles",
            "commerce": {
                "provider": "webhook", "url": "https://shop.example/orders",
                "cancel_url": "https://shop.example/cancel", "secret": "s3cret-s3cret-s3cret"
            }
        })
    );
    assert!(!format!("{body:?}").contains("s3cret"), "Debug must not show the secret");
}

#[test]
fn a_mock_store_sends_only_its_provider() {
    let mut store = webhook();
    store.commerce = StoreCommerce { provider: StoreProvider::Mock, url: None, cancel_url: None, secret_ref: None };
    let body = serde_json::to_value(store_body(&store, None)).unwrap();
    assert_eq!(body["commerce"], json!({"provider": "mock"}));
}

#[test]
fn the_secret_value_comes_from_the_named_key_or_says_what_is_missing() {
    let reference = SecretKeyRef { name: "shop-webhook".into(), key: "secret".into() };
    let found = secret_value(&reference, Some(&secret("secret", "abc")), "tenant-acme");
    assert_eq!(found.as_deref(), Ok("abc"));
    let missing = secret_value(&reference, None, "tenant-acme").unwrap_err();
    assert_eq!(missing, "Secret tenant-acme/shop-webhook does not exist");
    let no_key = secret_value(&reference, Some(&secret("other", "abc")), "tenant-acme").unwrap_err();
    assert_eq!(no_key, "Secret tenant-acme/shop-webhook has no key secret");
    // An empty value is as good as none: never a store without its secret.
    assert!(secret_value(&reference, Some(&secret("secret", "")), "tenant-acme").is_err());
}

#[test]
fn the_fingerprint_follows_the_store_and_the_secrets_version_only() {
    let store = webhook();
    let base = fingerprint(&store, Some("41"));
    assert_eq!(base, fingerprint(&store, Some("41")), "stable");
    assert_ne!(base, fingerprint(&store, Some("42")), "a new Secret version is sent again");
    let mut renamed = store.clone();
    renamed.name = "Mission Street".into();
    assert_ne!(base, fingerprint(&renamed, Some("41")));
    let applied = BTreeMap::from([("mission-st".to_owned(), base.clone())]);
    assert!(!needs_put(&applied, "mission-st", &base));
    assert!(needs_put(&applied, "mission-st", &fingerprint(&renamed, Some("41"))));
    assert!(needs_put(&applied, "other", &base));
}

#[test]
fn duplicate_ids_are_found() {
    let mut second = webhook();
    assert_eq!(duplicate_id(&[webhook()]), None);
    assert_eq!(duplicate_id(&[webhook(), second.clone()]), Some("mission-st"));
    second.id = "castro".into();
    assert_eq!(duplicate_id(&[webhook(), second]), None);
}
