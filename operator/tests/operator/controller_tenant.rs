//! The Tenant controller end to end: kube-runtime's Controller against the fake API
//! server, provisioning in the real app.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use replenish_operator::crd::Tenant;
use replenish_operator::reconcile::reconcile_tenant;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{
    Harness, OPERATOR_NAMESPACE, PLATFORM_SECRETS, SHARED_ENDPOINT, base64_encode, condition, eventually, secret_field,
};

pub const TENANTS: &str = "replenish.dev/v1alpha1/tenants";
pub const NAMESPACES: &str = "v1/namespaces";
pub const SECRETS: &str = "v1/secrets";
pub const DEPLOYMENTS: &str = "apps/v1/deployments";
pub const SERVICES: &str = "v1/services";
pub const HPAS: &str = "autoscaling/v2/horizontalpodautoscalers";
pub const NETWORK_POLICIES: &str = "networking.k8s.io/v1/networkpolicies";

pub fn tenant(name: &str, spec: Value) -> Tenant {
    serde_json::from_value(json!({
        "apiVersion": "replenish.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name}, "spec": spec
    }))
    .unwrap()
}

pub async fn create_tenant(h: &Harness, name: &str, spec: Value) {
    Api::<Tenant>::all(h.client.clone()).create(&PostParams::default(), &tenant(name, spec)).await.unwrap();
}

pub async fn patch_spec(h: &Harness, name: &str, spec: Value) {
    let api = Api::<Tenant>::all(h.client.clone());
    api.patch(name, &PatchParams::default(), &Patch::Merge(json!({"spec": spec}))).await.unwrap();
}

/// Waits until the tenant's Ready condition is `status` for its current generation.
pub async fn wait_ready(h: &Harness, name: &str, status: &str) -> Value {
    eventually(&format!("tenant {name} Ready={status}"), || {
        let t = h.get(TENANTS, "", name)?;
        let ready = condition(&t, "Ready")?;
        (ready["status"] == status && ready["observedGeneration"] == t["metadata"]["generation"]).then_some(t)
    })
    .await
}

pub fn api_key(h: &Harness, name: &str) -> Option<String> {
    secret_field(&h.get(SECRETS, &format!("tenant-{name}"), "replenish-api-key")?, "api-key")
}

#[tokio::test]
async fn first_reconcile_provisions_namespace_app_tenant_key_and_status() {
    let h = Harness::start(true).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "growth", "limits": {"tenantPerSecond": 321}}))
        .await;
    let t = wait_ready(&h, "acme", "True").await;

    assert_eq!(t["metadata"]["finalizers"], json!(["replenish.dev/tenant-deactivation"]));
    assert_eq!(t["status"]["namespace"], "tenant-acme");
    assert_eq!(t["status"]["apiKeySecret"], "replenish-api-key");
    assert_eq!(t["status"]["endpoint"], SHARED_ENDPOINT);
    assert_eq!(t["status"]["devices"], 0);
    assert_eq!(t["status"]["observedGeneration"], t["metadata"]["generation"]);
    assert_eq!(condition(&t, "Provisioned").unwrap()["status"], "True");

    let ns = h.get(NAMESPACES, "", "tenant-acme").expect("namespace");
    assert_eq!(ns["metadata"]["ownerReferences"][0]["uid"], t["metadata"]["uid"]);
    let (code, view) = h.app.tenant("acme").await;
    assert_eq!(code, 200);
    assert_eq!((view["plan"].as_str(), view["status"].as_str()), (Some("growth"), Some("active")));
    assert_eq!(view["effective_limits"]["tenant_per_second"], 321);
    // The key in the Secret is the one the app issued: it works.
    let key = api_key(&h, "acme").expect("api key in Secret");
    assert_eq!(h.app.call(Method::GET, "/api/v1/devices", &key, None).await.0, 200);
    assert_eq!(h.events("ApiKeyIssued").len(), 1);
    // Shared tenants have no app of their own.
    assert!(h.get(DEPLOYMENTS, OPERATOR_NAMESPACE, "tenant-acme").is_none());
}

#[tokio::test]
async fn a_second_reconcile_writes_nothing() {
    let h = Harness::start(true).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter", "isolation": "dedicated"})).await;
    wait_ready(&h, "acme", "True").await;
    // Let the watches settle, then reconcile the stored object once more by hand.
    h.settle().await;
    let before = h.fake.writes();
    let updated_before = h.app.tenant("acme").await.1["updated_at"].clone();
    let stored = Api::<Tenant>::all(h.client.clone()).get("acme").await.unwrap();
    reconcile_tenant(Arc::new(stored), h.ctx.clone()).await.unwrap();
    assert_eq!(h.fake.changes_since(before), Vec::<String>::new(), "a steady tenant must cause no writes");
    assert_eq!(h.app.tenant("acme").await.1["updated_at"], updated_before, "nor change anything in the app");
}

fn reconciles(h: &Harness, kind: &str) -> u64 {
    let text = h.ctx.metrics.encode();
    let prefix = format!("replenish_operator_reconciles_total{{kind=\"{kind}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn the_operators_own_status_writes_do_not_wake_it_again() {
    let h = Harness::start(true).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter"})).await;
    wait_ready(&h, "acme", "True").await;
    h.settle().await;
    let settled = reconciles(&h, "tenant");
    // Adding the finalizer, provisioning, the owned objects appearing: a handful, not a loop.
    assert!((2..=10).contains(&settled), "{settled} reconciles to settle");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(reconciles(&h, "tenant"), settled, "no reconcile without a change");
    // A status write by someone else (no generation change) does not wake it either...
    let api = Api::<Tenant>::all(h.client.clone());
    api.patch_status("acme", &PatchParams::default(), &Patch::Merge(json!({"status": {"devices": 42}}))).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(reconciles(&h, "tenant"), settled);
    // ...while a spec change does.
    patch_spec(&h, "acme", json!({"plan": "growth"})).await;
    let t = wait_ready(&h, "acme", "True").await;
    assert!(reconciles(&h, "tenant") > settled);
    assert_eq!(t["status"]["devices"], 0, "and the next reconcile puts status right");
}

#[tokio::test]
async fn plan_and_limit_changes_reach_the_app() {
    let h = Harness::start(true).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter"})).await;
    wait_ready(&h, "acme", "True").await;
    let key = api_key(&h, "acme").unwrap();
    let limits = json!({"devicePerMinute": 7, "cooldownSeconds": 30, "dailyOrderBudgetUsd": 12.5});
    patch_spec(&h, "acme", json!({"plan": "enterprise", "displayName": "Acme Inc", "limits": limits})).await;
    wait_ready(&h, "acme", "True").await;
    let (_, view) = h.app.tenant("acme").await;
    assert_eq!(view["plan"], "enterprise");
    assert_eq!(view["display_name"], "Acme Inc");
    assert_eq!(view["effective_limits"]["device_per_minute"], 7);
    assert_eq!(view["effective_limits"]["cooldown_seconds"], 30);
    assert_eq!(view["effective_limits"]["daily_order_budget_usd"], 12.5);
    assert_eq!(view["effective_limits"]["tenant_per_second"], 5000, "enterprise's default from the app");
    assert_eq!(api_key(&h, "acme").unwrap(), key, "a spec change never rotates the key");
}

#[tokio::test]
async fn intent_ttl_and_low_confidence_reach_the_app_and_are_never_reset() {
    let h = Harness::start(true).await;
    let limits = json!({"intentTtlSeconds": 120, "promptOnLowConfidence": true});
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter", "limits": limits})).await;
    wait_ready(&h, "acme", "True").await;
    let (_, view) = h.app.tenant("acme").await;
    assert_eq!(view["limits"]["intent_ttl_seconds"], 120, "{view}");
    assert_eq!(view["effective_limits"]["intent_ttl_seconds"], 120);
    assert_eq!(view["effective_limits"]["prompt_on_low_confidence"], true);

    // A Tenant that leaves them out, and someone sets them through the admin API.
    create_tenant(&h, "bolt", json!({"displayName": "Bolt", "plan": "starter", "limits": {"cooldownSeconds": 30}}))
        .await;
    wait_ready(&h, "bolt", "True").await;
    let body = json!({"display_name": "Bolt", "plan": "starter",
        "limits": {"cooldown_seconds": 30, "intent_ttl_seconds": 45, "prompt_on_low_confidence": true}});
    let (code, _) = h.app.call(Method::PUT, "/admin/v1/tenants/bolt", &h.app.admin_token, Some(body)).await;
    assert_eq!(code, 200);
    // The next reconcile (a spec change) sends the Tenant's limits but keeps those two.
    patch_spec(&h, "bolt", json!({"displayName": "Bolt Inc", "limits": {"cooldownSeconds": 60}})).await;
    wait_ready(&h, "bolt", "True").await;
    let (_, view) = h.app.tenant("bolt").await;
    assert_eq!(view["display_name"], "Bolt Inc");
    assert_eq!(view["effective_limits"]["cooldown_seconds"], 60, "the Tenant's limits still win: {view}");
    assert_eq!(view["limits"]["intent_ttl_seconds"], 45, "not reset to the plan's 900: {view}");
    assert_eq!(view["limits"]["prompt_on_low_confidence"], true, "not reset: {view}");
}

#[tokio::test]
async fn dedicated_creates_the_app_and_shared_removes_it() {
    let h = Harness::start(true).await;
    // The dedicated app runs in the operator's namespace, beside the app env Secret the harness seeds.
    create_tenant(
        &h,
        "acme",
        json!({"displayName": "Acme", "plan": "growth", "isolation": "dedicated",
        "scaling": {"minReplicas": 2, "maxReplicas": 4}}),
    )
    .await;
    let t = wait_ready(&h, "acme", "True").await;
    let endpoint = "http://tenant-acme.replenish-system.svc:8080";
    assert_eq!(t["status"]["endpoint"], endpoint);
    let deployment = h.get(DEPLOYMENTS, OPERATOR_NAMESPACE, "tenant-acme").expect("deployment");
    assert_eq!(deployment["metadata"]["labels"]["replenish.dev/tenant"], "acme");
    assert_eq!(deployment["spec"]["template"]["spec"]["containers"][0]["image"], "registry.example/replenish:test");
    assert!(h.get(SERVICES, OPERATOR_NAMESPACE, "tenant-acme").is_some());
    let hpa = h.get(HPAS, OPERATOR_NAMESPACE, "tenant-acme").expect("hpa");
    assert_eq!((hpa["spec"]["minReplicas"].as_i64(), hpa["spec"]["maxReplicas"].as_i64()), (Some(2), Some(4)));
    // The chart's settings reach the pods (the harness configures them as the chart would).
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "registry"}]));
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["containers"][0]["resources"]["limits"]["memory"], "1Gi");
    let policy = h.get(NETWORK_POLICIES, OPERATOR_NAMESPACE, "tenant-acme").expect("NetworkPolicy");
    assert_eq!(policy["spec"]["podSelector"]["matchLabels"], deployment["spec"]["selector"]["matchLabels"]);
    assert!(h.get(SECRETS, "tenant-acme", "replenish-app-env").is_none(), "the env Secret is not copied");
    assert_eq!(h.events("DedicatedAppCreated").len(), 1);
    assert_eq!(
        secret_field(&h.get(SECRETS, "tenant-acme", "replenish-api-key").unwrap(), "endpoint").as_deref(),
        Some(endpoint)
    );

    // Scaling without bounds falls back to the plan's defaults (growth: 2..5).
    let api = Api::<Tenant>::all(h.client.clone());
    api.patch("acme", &PatchParams::default(), &Patch::Merge(json!({"spec": {"scaling": null}}))).await.unwrap();
    eventually("plan default bounds", || {
        let hpa = h.get(HPAS, OPERATOR_NAMESPACE, "tenant-acme")?;
        (hpa["spec"]["maxReplicas"] == 5).then_some(())
    })
    .await;

    patch_spec(&h, "acme", json!({"isolation": "shared"})).await;
    let t = wait_ready(&h, "acme", "True").await;
    assert_eq!(t["status"]["endpoint"], SHARED_ENDPOINT);
    for gvr in [DEPLOYMENTS, SERVICES, HPAS, NETWORK_POLICIES] {
        assert!(h.get(gvr, OPERATOR_NAMESPACE, "tenant-acme").is_none(), "{gvr} removed");
    }
    assert!(h.get(SECRETS, OPERATOR_NAMESPACE, "replenish-app-env").is_some(), "the platform's Secret stays");
    assert_eq!(h.events("IsolationChanged").len(), 1);

    patch_spec(&h, "acme", json!({"isolation": "dedicated"})).await;
    wait_ready(&h, "acme", "True").await;
    // Level-triggered: on a loaded box a reconcile queued before the patch may still run
    // once on the older spec, so what counts is where the objects settle.
    eventually("and back again", || h.get(DEPLOYMENTS, OPERATOR_NAMESPACE, "tenant-acme")).await;
}

/// Issue 12 item 1: whoever reads a dedicated tenant's namespace finds that tenant's own
/// credentials and nothing of the platform's: not the admin token, not the database URL,
/// not even a reference to the Secret holding them. An older operator's copy is removed.
#[tokio::test]
async fn a_dedicated_tenants_namespace_holds_no_platform_secret() {
    let h = Harness::start(true).await;
    // As an older operator left it: its namespace, with a copy of the env Secret and an app reading it.
    let labels = json!({"app.kubernetes.io/managed-by": "replenish-operator", "replenish.dev/tenant": "acme"});
    foreign_namespace(&h, "tenant-acme", labels).await;
    let copy = Secret {
        metadata: kube::api::ObjectMeta { name: Some("replenish-app-env".into()), ..Default::default() },
        string_data: Some(PLATFORM_SECRETS.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(h.client.clone(), "tenant-acme").create(&PostParams::default(), &copy).await.unwrap();
    let legacy: k8s_openapi::api::apps::v1::Deployment = serde_json::from_value(json!({
        "metadata": {"name": "replenish"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "app", "envFrom": [{"secretRef": {"name": "replenish-app-env"}}]}]}}}
    }))
    .unwrap();
    Api::namespaced(h.client.clone(), "tenant-acme").create(&PostParams::default(), &legacy).await.unwrap();

    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter", "isolation": "dedicated"})).await;
    wait_ready(&h, "acme", "True").await;
    h.settle().await;
    let objects = h.fake.objects_in("tenant-acme");
    assert!(objects.iter().any(|(gvr, name, _)| gvr == SECRETS && name == "replenish-api-key"), "{objects:?}");
    for (gvr, name, object) in &objects {
        let text = object.to_string();
        for (key, value) in PLATFORM_SECRETS {
            let encoded = base64_encode(value);
            assert!(
                !text.contains(key)
                    && !text.contains(value)
                    && !text.contains(&encoded)
                    && !text.contains("replenish-app-env"),
                "{gvr} tenant-acme/{name} holds or names {key}: {text}"
            );
        }
    }
    // The dedicated app runs beside the platform's secrets and reads the keys it needs by
    // reference, never the admin token.
    let deployment = h.get(DEPLOYMENTS, OPERATOR_NAMESPACE, "tenant-acme").expect("the app runs, elsewhere");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert!(container["envFrom"].is_null(), "{container}");
    let env = container["env"].as_array().unwrap();
    assert!(!env.iter().any(|e| e["name"] == "REPLENISH_ADMIN_TOKEN"), "{container}");
    assert!(env.iter().any(|e| e["name"] == "REPLENISH_DEDICATED_TENANT" && e["value"] == "acme"), "{container}");
    let database = env.iter().find(|e| e["name"] == "DATABASE_URL").unwrap();
    assert_eq!(
        database["valueFrom"]["secretKeyRef"],
        json!({"name": "replenish-app-env", "key": "DATABASE_URL", "optional": false})
    );
}

#[tokio::test]
async fn a_dedicated_tenant_without_the_app_env_secret_is_not_ready_until_it_appears() {
    let h = Harness::start(true).await;
    let env = Api::<Secret>::namespaced(h.client.clone(), OPERATOR_NAMESPACE);
    let seeded = env.get("replenish-app-env").await.unwrap();
    env.delete("replenish-app-env", &DeleteParams::default()).await.unwrap();
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter", "isolation": "dedicated"})).await;
    let t = wait_ready(&h, "acme", "False").await;
    let ready = condition(&t, "Ready").unwrap();
    assert_eq!(ready["reason"], "ConfigError");
    assert!(ready["message"].as_str().unwrap().contains("replenish-system/replenish-app-env"), "{ready}");
    assert_eq!(condition(&t, "Provisioned").unwrap()["status"], "True", "the app side is fine");
    assert!(h.get(DEPLOYMENTS, OPERATOR_NAMESPACE, "tenant-acme").is_none(), "no Deployment that cannot start");

    let recreated = Secret {
        metadata: kube::api::ObjectMeta { name: Some("replenish-app-env".into()), ..Default::default() },
        data: seeded.data.clone(),
        ..Secret::default()
    };
    env.create(&PostParams::default(), &recreated).await.unwrap();
    wait_ready(&h, "acme", "True").await;
    assert!(h.get(DEPLOYMENTS, OPERATOR_NAMESPACE, "tenant-acme").is_some());
}

#[tokio::test]
async fn hand_edits_to_the_deployment_and_hpa_are_undone() {
    let h = Harness::start(true).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter", "isolation": "dedicated"})).await;
    wait_ready(&h, "acme", "True").await;
    let hpas: Api<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler> =
        Api::namespaced(h.client.clone(), OPERATOR_NAMESPACE);
    hpas.patch(
        "tenant-acme",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minReplicas": 9, "maxReplicas": 9}})),
    )
    .await
    .unwrap();
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(h.client.clone(), OPERATOR_NAMESPACE);
    let edit = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "evil:latest"}]}}}});
    deployments.patch("tenant-acme", &PatchParams::default(), &Patch::Merge(edit)).await.unwrap();
    eventually("drift undone", || {
        let hpa = h.get(HPAS, OPERATOR_NAMESPACE, "tenant-acme")?;
        let deployment = h.get(DEPLOYMENTS, OPERATOR_NAMESPACE, "tenant-acme")?;
        let image = &deployment["spec"]["template"]["spec"]["containers"][0]["image"];
        (hpa["spec"]["minReplicas"] == 1
            && hpa["spec"]["maxReplicas"] == 2
            && image == "registry.example/replenish:test")
            .then_some(())
    })
    .await;
    // Deleting an owned object by hand brings it back too.
    Api::<k8s_openapi::api::core::v1::Service>::namespaced(h.client.clone(), OPERATOR_NAMESPACE)
        .delete("tenant-acme", &DeleteParams::default())
        .await
        .unwrap();
    eventually("service recreated", || h.get(SERVICES, OPERATOR_NAMESPACE, "tenant-acme")).await;
}

#[tokio::test]
async fn a_deleted_api_key_secret_is_replaced_by_rotating_the_key() {
    let h = Harness::start(true).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter"})).await;
    wait_ready(&h, "acme", "True").await;
    let old_key = api_key(&h, "acme").unwrap();
    Api::<Secret>::namespaced(h.client.clone(), "tenant-acme")
        .delete("replenish-api-key", &DeleteParams::default())
        .await
        .unwrap();
    let new_key = eventually("a new key in a new Secret", || api_key(&h, "acme")).await;
    assert_ne!(new_key, old_key);
    assert_eq!(h.app.call(Method::GET, "/api/v1/devices", &old_key, None).await.0, 401, "the lost key is dead");
    assert_eq!(h.app.call(Method::GET, "/api/v1/devices", &new_key, None).await.0, 200);
    let events = h.events("ApiKeyRotated");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["regarding"]["name"], "acme");
}

#[tokio::test]
async fn deleting_a_tenant_deactivates_it_and_removes_its_namespace() {
    let h = Harness::start(true).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter"})).await;
    wait_ready(&h, "acme", "True").await;
    let key = api_key(&h, "acme").unwrap();
    Api::<Tenant>::all(h.client.clone()).delete("acme", &DeleteParams::default()).await.unwrap();
    eventually("tenant gone", || h.get(TENANTS, "", "acme").is_none().then_some(())).await;
    assert!(h.get(NAMESPACES, "", "tenant-acme").is_none(), "namespace garbage-collected");
    assert!(h.get(SECRETS, "tenant-acme", "replenish-api-key").is_none());
    assert_eq!(h.app.tenant("acme").await.1["status"], "deactivated");
    assert_eq!(h.app.call(Method::GET, "/api/v1/devices", &key, None).await.0, 401);
    assert_eq!(h.events("Deactivated").len(), 1);
}

#[tokio::test]
async fn a_paused_tenant_is_left_alone_until_resumed() {
    let h = Harness::start(true).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter", "paused": true})).await;
    let t = eventually("paused condition", || {
        let t = h.get(TENANTS, "", "acme")?;
        (condition(&t, "ReconciliationPaused")?["status"] == "True").then_some(t)
    })
    .await;
    assert!(condition(&t, "Ready").is_none());
    assert!(h.get(NAMESPACES, "", "tenant-acme").is_none());
    assert_eq!(h.app.tenant("acme").await.0, 404, "the app was not called");
    assert_eq!(h.events("ReconciliationPaused").len(), 1);

    patch_spec(&h, "acme", json!({"paused": false})).await;
    let t = wait_ready(&h, "acme", "True").await;
    assert!(condition(&t, "ReconciliationPaused").is_none());
    assert_eq!(h.app.tenant("acme").await.0, 200);

    // Paused again, a change of plan is not applied.
    patch_spec(&h, "acme", json!({"paused": true, "plan": "enterprise"})).await;
    eventually("paused again", || {
        let t = h.get(TENANTS, "", "acme")?;
        (condition(&t, "ReconciliationPaused")?["observedGeneration"] == t["metadata"]["generation"]).then_some(())
    })
    .await;
    assert_eq!(h.app.tenant("acme").await.1["plan"], "starter");

    // Deleted while paused: Kubernetes lets it go, the app keeps the tenant active.
    Api::<Tenant>::all(h.client.clone()).delete("acme", &DeleteParams::default()).await.unwrap();
    eventually("paused tenant gone", || h.get(TENANTS, "", "acme").is_none().then_some(())).await;
    assert_eq!(h.app.tenant("acme").await.1["status"], "active");
    assert_eq!(h.events("DeletedWhilePaused").len(), 1);
}

#[tokio::test]
async fn app_down_means_ready_false_with_a_reason_then_a_retry_succeeds() {
    let h = Harness::start(false).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter"})).await;
    let t = wait_ready(&h, "acme", "False").await;
    let ready = condition(&t, "Ready").unwrap();
    assert_eq!(ready["reason"], "AppUnavailable");
    // The first call to the app reads the tenant (to keep limits set through the API).
    assert!(ready["message"].as_str().unwrap().contains("get tenant"), "{ready}");
    assert_eq!(condition(&t, "Provisioned").unwrap()["status"], "False");
    assert!(!h.events("ReconcileFailed").is_empty());
    assert!(h.ctx.metrics.encode().contains("error=\"app_unavailable\""));

    // Retries keep coming (and failing) while the app is down; the backoff grows per failure.
    eventually("several failed attempts", || (h.ctx.consecutive_failures("tenant", None, "acme") >= 3).then_some(()))
        .await;

    h.proxy.set_up(true);
    // No spec change: only the error policy's requeue brings it back.
    let t = wait_ready(&h, "acme", "True").await;
    assert_eq!(condition(&t, "Provisioned").unwrap()["status"], "True");
    assert!(api_key(&h, "acme").is_some());
    assert_eq!(h.ctx.consecutive_failures("tenant", None, "acme"), 0, "a success resets the backoff");
}

/// Someone else's namespace `tenant-<name>`, with a Secret of theirs in it.
async fn foreign_namespace(h: &Harness, name: &str, labels: Value) {
    let ns: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap();
    Api::all(h.client.clone()).create(&PostParams::default(), &ns).await.unwrap();
    let theirs: Secret = serde_json::from_value(json!({"metadata": {"name": "theirs"}})).unwrap();
    Api::<Secret>::namespaced(h.client.clone(), name).create(&PostParams::default(), &theirs).await.unwrap();
}

#[tokio::test]
async fn a_namespace_the_operator_did_not_create_is_refused_and_survives_the_tenant() {
    let h = Harness::start(true).await;
    // Even a managed-by label alone (without the tenant's ownership label) is not enough.
    foreign_namespace(&h, "tenant-acme", json!({"app.kubernetes.io/managed-by": "replenish-operator"})).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter", "isolation": "dedicated"})).await;
    let t = wait_ready(&h, "acme", "False").await;
    assert_eq!(condition(&t, "Ready").unwrap()["reason"], "NamespaceConflict");
    let conflict = condition(&t, "NamespaceConflict").expect("NamespaceConflict condition");
    assert_eq!(conflict["status"], "True");
    assert_eq!(conflict["observedGeneration"], t["metadata"]["generation"]);
    let events = h.events("NamespaceConflict");
    assert_eq!(events.len(), 1, "one Warning event");
    assert_eq!(events[0]["type"], "Warning");
    // Nothing was adopted or written into the namespace, nor provisioned in the app.
    let ns = h.get(NAMESPACES, "", "tenant-acme").unwrap();
    assert!(ns["metadata"]["ownerReferences"].is_null(), "not adopted: {ns}");
    assert!(h.get(SECRETS, "tenant-acme", "replenish-api-key").is_none());
    assert!(h.get(DEPLOYMENTS, OPERATOR_NAMESPACE, "tenant-acme").is_none());
    assert_eq!(h.app.tenant("acme").await.0, 404);

    Api::<Tenant>::all(h.client.clone()).delete("acme", &DeleteParams::default()).await.unwrap();
    eventually("tenant gone", || h.get(TENANTS, "", "acme").is_none().then_some(())).await;
    assert!(h.get(NAMESPACES, "", "tenant-acme").is_some(), "someone else's namespace is not deleted");
    assert!(h.get(SECRETS, "tenant-acme", "theirs").is_some());
}

#[tokio::test]
async fn a_labelled_namespace_is_taken_over_and_an_unlabelled_one_is_never_deleted() {
    let h = Harness::start(true).await;
    // Labelled with the ownership label: handed over to the operator.
    let labels = json!({"app.kubernetes.io/managed-by": "replenish-operator", "replenish.dev/tenant": "acme"});
    foreign_namespace(&h, "tenant-acme", labels).await;
    create_tenant(&h, "acme", json!({"displayName": "Acme", "plan": "starter"})).await;
    let t = wait_ready(&h, "acme", "True").await;
    assert!(condition(&t, "NamespaceConflict").is_none());
    assert!(api_key(&h, "acme").is_some());

    // The ownership label taken off a namespace the operator owns: the Tenant is refused, and
    // deleting it leaves the namespace in place (its ownerReference is dropped first).
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(h.client.clone());
    let unlabel = json!({"metadata": {"labels": {"replenish.dev/tenant": null}}});
    namespaces.patch("tenant-acme", &PatchParams::default(), &Patch::Merge(unlabel)).await.unwrap();
    patch_spec(&h, "acme", json!({"displayName": "Acme Inc"})).await;
    wait_ready(&h, "acme", "False").await;
    Api::<Tenant>::all(h.client.clone()).delete("acme", &DeleteParams::default()).await.unwrap();
    eventually("tenant gone", || h.get(TENANTS, "", "acme").is_none().then_some(())).await;
    let ns = h.get(NAMESPACES, "", "tenant-acme").expect("an unlabelled namespace is never deleted");
    assert_eq!(ns["metadata"]["ownerReferences"], json!([]));
    assert!(h.get(SECRETS, "tenant-acme", "theirs").is_some());
    assert_eq!(h.events("NamespaceKept").len(), 1);
}
