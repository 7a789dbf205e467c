use std::collections::BTreeMap;

use replenish_api::EventType;
use serde_json::json;

use super::*;
use crate::crd::SecretKeyRef;

fn declared(name: &str) -> TenantWebhook {
    TenantWebhook {
        name: name.into(),
        url: "https://hooks.example/replenish".into(),
        event_types: vec!["order.confirmed".into(), "order.failed".into()],
        enabled: true,
        description: Some("fulfilment".into()),
        secret_ref: SecretKeyRef { name: "hooks".into(), key: "signing-secret".into() },
    }
}

const SECRET: &str = "whsec-0123456789abcdef0123456789abcdef";

#[test]
fn the_body_carries_the_secret_and_the_parsed_event_types() {
    let body = webhook_body(&declared("fulfilment"), SECRET.into()).unwrap();
    assert_eq!(body.event_types, [EventType::OrderConfirmed, EventType::OrderFailed]);
    assert_eq!(
        serde_json::to_value(&body).unwrap(),
        json!({
            "url": "https://hooks.example/replenish",
            "event_types": ["order.confirmed", "order.failed"],
            "enabled": true,
            "description": "fulfilment",
            "secret": SECRET
        })
    );
    assert!(!format!("{body:?}").contains("whsec"), "Debug must not show the secret");
    // What the operator sends is what the app's own type accepts (secret included).
    let parsed: replenish_api::webhooks::WebhookEndpointSpec =
        serde_json::from_value(serde_json::to_value(&body).unwrap()).unwrap();
    assert_eq!(parsed.secret.as_deref(), Some(SECRET));
    parsed.validate().unwrap();
}

#[test]
fn a_disabled_endpoint_without_description_says_so() {
    let mut webhook = declared("fulfilment");
    webhook.enabled = false;
    webhook.description = None;
    let body = serde_json::to_value(webhook_body(&webhook, SECRET.into()).unwrap()).unwrap();
    assert_eq!(body["enabled"], false);
    assert!(body.get("description").is_none(), "{body}");
}

#[test]
fn an_unknown_event_type_is_named() {
    let mut webhook = declared("fulfilment");
    webhook.event_types.push("order.teleported".into());
    let error = webhook_body(&webhook, SECRET.into()).unwrap_err();
    assert!(error.contains("fulfilment") && error.contains("order.teleported"), "{error}");
}

#[test]
fn enabled_defaults_to_true_when_left_out() {
    let webhook: TenantWebhook = serde_json::from_value(json!({
        "name": "all", "url": "https://hooks.example/x", "eventTypes": ["device.revoked"],
        "secretRef": {"name": "hooks", "key": "k"}
    }))
    .unwrap();
    assert!(webhook.enabled);
    assert_eq!(webhook.description, None);
}

#[test]
fn the_fingerprint_follows_the_declaration_and_the_secrets_version_only() {
    let webhook = declared("fulfilment");
    let base = fingerprint(&webhook, Some("7"));
    assert_eq!(base, fingerprint(&webhook, Some("7")), "stable");
    assert_ne!(base, fingerprint(&webhook, Some("8")), "a new Secret version is sent again");
    let mut changed = webhook.clone();
    changed.event_types.push("order.cancelled".into());
    assert_ne!(base, fingerprint(&changed, Some("7")));
    let mut disabled = webhook.clone();
    disabled.enabled = false;
    assert_ne!(base, fingerprint(&disabled, Some("7")));
    let applied = BTreeMap::from([("fulfilment".to_owned(), base.clone())]);
    assert!(!needs_put(&applied, "fulfilment", &base));
    assert!(needs_put(&applied, "fulfilment", &fingerprint(&changed, Some("7"))));
    assert!(needs_put(&applied, "other", &base));
}

#[test]
fn only_endpoints_the_operator_made_and_no_longer_declares_are_removed() {
    let applied = BTreeMap::from([("kept".to_owned(), "a".to_owned()), ("dropped".to_owned(), "b".to_owned())]);
    assert_eq!(removed(&applied, &[declared("kept"), declared("new")]), ["dropped"]);
    assert_eq!(removed(&applied, &[]), ["dropped", "kept"]);
    assert!(removed(&BTreeMap::new(), &[declared("kept")]).is_empty(), "never-managed endpoints stay");
}

#[test]
fn duplicate_names_are_found() {
    assert_eq!(duplicate_name(&[declared("a"), declared("b")]), None);
    assert_eq!(duplicate_name(&[declared("a"), declared("b"), declared("a")]), Some("a"));
}
