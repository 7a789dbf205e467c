//! The operator's calls to the app, against the real app on SQLite.

use replenish_operator::Error;
use replenish_operator::app_client::{DeviceSpec, Plan, TenantLimits, TenantSpec, TenantStatus};
use reqwest::Method;

use crate::support::spawn_app;

fn tenant_request(plan: Plan, tenant_per_second: Option<u32>) -> TenantSpec {
    TenantSpec {
        display_name: "Acme".into(),
        plan,
        limits: TenantLimits { tenant_per_second, device_per_minute: Some(77), ..TenantLimits::default() },
    }
}

#[tokio::test]
async fn tenant_lifecycle_put_rotate_deactivate_reactivate() {
    let app = spawn_app().await;
    let client = app.client(&app.url);

    let created = client.put_tenant("acme", &tenant_request(Plan::Starter, None)).await.unwrap();
    let first_key = created.api_key.expect("a key on creation");
    assert_eq!(app.call(Method::GET, "/api/v1/devices", &first_key, None).await.0, 200);

    let again = client.put_tenant("acme", &tenant_request(Plan::Growth, Some(321))).await.unwrap();
    assert!(again.api_key.is_none(), "an update issues no key");
    assert_eq!(again.plan, Plan::Growth);
    assert_eq!(again.effective_limits.tenant_per_second, 321);
    assert_eq!(again.effective_limits.device_per_minute, 77);

    let rotated = client.rotate_api_key("acme").await.unwrap();
    assert_ne!(rotated, first_key);
    assert_eq!(app.call(Method::GET, "/api/v1/devices", &first_key, None).await.0, 401);
    assert_eq!(app.call(Method::GET, "/api/v1/devices", &rotated, None).await.0, 200);

    client.deactivate_tenant("acme").await.unwrap();
    client.deactivate_tenant("acme").await.unwrap();
    assert_eq!(client.get_tenant("acme").await.unwrap().unwrap().status, TenantStatus::Deactivated);
    let reactivated = client.put_tenant("acme", &tenant_request(Plan::Growth, None)).await.unwrap();
    assert!(reactivated.api_key.is_some(), "reactivation issues a key");
    assert_eq!(reactivated.status, TenantStatus::Active);

    assert!(client.get_tenant("nobody").await.unwrap().is_none());
    client.deactivate_tenant("nobody").await.unwrap();
}

#[tokio::test]
async fn device_register_update_revoke() {
    let app = spawn_app().await;
    let client = app.client(&app.url);
    let key = client.put_tenant("acme", &tenant_request(Plan::Starter, None)).await.unwrap().api_key.unwrap();
    let request = DeviceSpec {
        store: "main".parse().unwrap(),
        model: "spectacles-5".into(),
        serial: None,
        owner: "house".into(),
        test: false,
    };

    // The store does not exist yet: the app refuses, and says why.
    match client.put_device("acme", "glasses", &request).await {
        Err(Error::AppRejected { status: 422, problem, .. }) => assert_eq!(problem, "validation-failed"),
        other => panic!("expected a 422 validation problem, got {other:?}"),
    }
    assert_eq!(app.put_store(&key, "main").await, 201);

    let registered = client.put_device("acme", "glasses", &request).await.unwrap();
    let token = registered.token.expect("a token on registration");
    assert_eq!(app.call(Method::GET, "/api/v1/device", &token, None).await.0, 200);
    let updated = client
        .put_device("acme", "glasses", &DeviceSpec { serial: Some("SN-9".into()), ..request.clone() })
        .await
        .unwrap();
    assert!(updated.token.is_none());
    assert_eq!(updated.status, replenish_operator::app_client::DeviceStatus::Active);

    client.revoke_device("acme", "glasses").await.unwrap();
    client.revoke_device("acme", "glasses").await.unwrap();
    client.revoke_device("acme", "never-registered").await.unwrap();
    assert_eq!(app.call(Method::GET, "/api/v1/device", &token, None).await.0, 401);
    let again = client.put_device("acme", "glasses", &request).await.unwrap();
    let new_token = again.token.expect("re-registering a revoked device issues a token");
    assert_ne!(new_token, token);
}

#[tokio::test]
async fn unreachable_app_and_wrong_token_are_told_apart() {
    let app = spawn_app().await;
    let wrong = replenish_operator::app_client::AppClient::new(&app.url, "not-the-token".to_owned().into()).unwrap();
    match wrong.get_tenant("acme").await {
        Err(Error::AppRejected { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = app.client(&format!("http://127.0.0.1:{port}"));
    let error = down.put_tenant("acme", &tenant_request(Plan::Starter, None)).await.unwrap_err();
    assert!(matches!(error, Error::AppUnavailable(_)), "{error:?}");
    assert_eq!(error.reason(), "AppUnavailable");
}
