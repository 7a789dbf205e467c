use super::*;
use crate::crd::{Plan, Scaling, TenantLimits, TenantSpec};

fn tenant(isolation: Isolation) -> Tenant {
    let mut t = Tenant::new(
        "acme",
        TenantSpec {
            display_name: "Acme Corp".into(),
            plan: Plan::Growth,
            isolation,
            limits: Some(TenantLimits {
                device_per_minute: Some(42),
                tenant_per_second: None,
                daily_order_budget_usd: Some(99.5),
                cooldown_seconds: Some(60),
                intent_ttl_seconds: Some(120),
                prompt_on_low_confidence: None,
            }),
            scaling: None,
            paused: false,
        },
    );
    t.metadata.uid = Some("uid-acme".into());
    t
}

fn inputs<'a>(defaults: &'a PlanDefaults, source: Option<&'a Secret>) -> DedicatedInputs<'a> {
    DedicatedInputs {
        defaults,
        image: "registry.example/replenish:1.2.3",
        env_secret_name: "app-env",
        env_secret_source: source,
    }
}

#[test]
fn app_request_carries_name_plan_and_limits_over_plan_profile() {
    let mut defaults = PlanDefaults::default();
    defaults.growth.limits.tenant_per_second = Some(700);
    defaults.growth.limits.device_per_minute = Some(10);
    let request = app_request(&tenant(Isolation::Shared), &defaults);
    assert_eq!(request.display_name, "Acme Corp");
    assert_eq!(request.plan, replenish_api::Plan::Growth);
    // The tenant's own value wins; the plan profile fills what the tenant left out.
    assert_eq!(request.limits.device_per_minute, Some(42));
    assert_eq!(request.limits.tenant_per_second, Some(700));
    assert_eq!(request.limits.daily_order_budget_usd, Some(99.5));
    assert_eq!(request.limits.cooldown_seconds, Some(60));
    assert_eq!(request.limits.intent_ttl_seconds, Some(120));
    assert_eq!(request.limits.prompt_on_low_confidence, None, "left to the app");
    let json = serde_json::to_value(&request).unwrap();
    assert_eq!(json["limits"]["device_per_minute"], 42, "the app speaks snake_case: {json}");
    assert_eq!(json["limits"]["intent_ttl_seconds"], 120, "{json}");
    assert!(json["limits"].get("prompt_on_low_confidence").is_none(), "absent, not null: {json}");
}

#[test]
fn limits_set_through_the_api_are_kept_when_the_tenant_leaves_them_unset() {
    let mut request = app_request(&tenant(Isolation::Shared), &PlanDefaults::default());
    assert!(leaves_api_limits_unset(&request));
    let current = replenish_api::TenantLimits {
        intent_ttl_seconds: Some(30),
        prompt_on_low_confidence: Some(true),
        device_per_minute: Some(1),
        ..Default::default()
    };
    keep_api_limits(&mut request, &current);
    assert_eq!(request.limits.intent_ttl_seconds, Some(120), "the Tenant's own value wins");
    assert_eq!(request.limits.prompt_on_low_confidence, Some(true), "the app's value is kept");
    assert_eq!(request.limits.device_per_minute, Some(42), "other limits are the Tenant's");
    assert!(!leaves_api_limits_unset(&request));
}

#[test]
fn namespace_is_tenant_prefixed_and_owned_by_the_tenant() {
    let ns = namespace(&tenant(Isolation::Shared));
    assert_eq!(ns.metadata.name.as_deref(), Some("tenant-acme"));
    let owner = &ns.metadata.owner_references.unwrap()[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()), ("Tenant", "acme", "uid-acme"));
    assert_eq!(owner.controller, Some(true));
    assert_eq!(ns.metadata.labels.unwrap()["replenish.dev/tenant"], "acme");
    assert_eq!(tenant_of_namespace("tenant-acme"), Some("acme"));
    assert_eq!(tenant_of_namespace("kube-system"), None);
    assert_eq!(tenant_of_namespace("tenant-"), None);
}

#[test]
fn api_key_secret_holds_key_tenant_and_endpoint() {
    let secret = api_key_secret(&tenant(Isolation::Shared), "rpl_key", Some("http://app:8080"));
    assert_eq!(secret.metadata.name.as_deref(), Some(API_KEY_SECRET));
    assert_eq!(secret.metadata.namespace.as_deref(), Some("tenant-acme"));
    let data = secret.data.unwrap();
    assert_eq!(data[API_KEY_FIELD].0, b"rpl_key");
    assert_eq!(data["tenant"].0, b"acme");
    assert_eq!(data["endpoint"].0, b"http://app:8080");
}

#[test]
fn endpoint_follows_isolation() {
    assert_eq!(endpoint(&tenant(Isolation::Shared), Some("http://shared:8080")).as_deref(), Some("http://shared:8080"));
    assert_eq!(endpoint(&tenant(Isolation::Shared), None), None);
    assert_eq!(
        endpoint(&tenant(Isolation::Dedicated), Some("http://shared:8080")).as_deref(),
        Some("http://replenish.tenant-acme.svc:8080")
    );
}

#[test]
fn shared_tenants_have_no_dedicated_app() {
    let defaults = PlanDefaults::default();
    assert_eq!(dedicated(&tenant(Isolation::Shared), inputs(&defaults, None)), None);
}

#[test]
fn dedicated_app_uses_plan_defaults_without_spec_scaling() {
    let mut defaults = PlanDefaults::default();
    defaults.growth.min_replicas = 3;
    defaults.growth.max_replicas = 9;
    defaults.growth.target_cpu_utilization_percentage = 55;
    let d = dedicated(&tenant(Isolation::Dedicated), inputs(&defaults, None)).unwrap();
    let hpa = d.hpa.spec.unwrap();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(3), 9));
    let metric = hpa.metrics.unwrap()[0].resource.clone().unwrap();
    assert_eq!((metric.name.as_str(), metric.target.average_utilization), ("cpu", Some(55)));
    assert_eq!(hpa.scale_target_ref.name, DEDICATED_APP);
    assert_eq!(hpa.scale_target_ref.kind, "Deployment");
    assert_eq!(d.hpa.metadata.namespace.as_deref(), Some("tenant-acme"));
}

#[test]
fn dedicated_app_uses_spec_scaling_when_present() {
    let defaults = PlanDefaults::default();
    let mut t = tenant(Isolation::Dedicated);
    t.spec.scaling = Some(Scaling { min_replicas: 4, max_replicas: 12, target_cpu_utilization_percentage: None });
    let hpa = dedicated(&t, inputs(&defaults, None)).unwrap().hpa.spec.unwrap();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(4), 12));
    // Without a CPU target in the spec the plan's applies.
    let target = hpa.metrics.unwrap()[0].resource.clone().unwrap().target.average_utilization;
    assert_eq!(target, Some(defaults.growth.target_cpu_utilization_percentage));
    t.spec.scaling = Some(Scaling { min_replicas: 1, max_replicas: 2, target_cpu_utilization_percentage: Some(33) });
    let hpa = dedicated(&t, inputs(&defaults, None)).unwrap().hpa.spec.unwrap();
    assert_eq!(hpa.metrics.unwrap()[0].resource.clone().unwrap().target.average_utilization, Some(33));
}

#[test]
fn dedicated_deployment_runs_the_configured_image_and_leaves_replicas_to_the_autoscaler() {
    let defaults = PlanDefaults::default();
    let d = dedicated(&tenant(Isolation::Dedicated), inputs(&defaults, None)).unwrap();
    let spec = d.deployment.spec.unwrap();
    assert_eq!(spec.replicas, None);
    let pod = spec.template.spec.unwrap();
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("registry.example/replenish:1.2.3"));
    let env_from = container.env_from.clone().unwrap();
    assert_eq!(env_from[0].secret_ref.as_ref().unwrap().name, "app-env");
    assert!(container.resources.as_ref().unwrap().requests.as_ref().unwrap().contains_key("cpu"));
    assert_eq!(container.security_context.as_ref().unwrap().run_as_non_root, Some(true));
    // Selector, pod labels and Service selector agree, or the Service would route nowhere.
    let selector = spec.selector.match_labels.unwrap();
    assert_eq!(spec.template.metadata.unwrap().labels.unwrap(), selector);
    assert_eq!(d.service.spec.unwrap().selector.unwrap(), selector);
    assert_eq!(d.deployment.metadata.owner_references.unwrap()[0].uid, "uid-acme");
}

#[test]
fn env_secret_is_copied_only_when_the_source_exists() {
    let defaults = PlanDefaults::default();
    let source = Secret {
        data: Some(BTreeMap::from([("DATABASE_URL".to_owned(), ByteString(b"postgres://db".to_vec()))])),
        ..Secret::default()
    };
    let d = dedicated(&tenant(Isolation::Dedicated), inputs(&defaults, Some(&source))).unwrap();
    let copy = d.env_secret.unwrap();
    assert_eq!(copy.metadata.name.as_deref(), Some("app-env"));
    assert_eq!(copy.metadata.namespace.as_deref(), Some("tenant-acme"));
    assert_eq!(copy.data.unwrap()["DATABASE_URL"].0, b"postgres://db");
    assert!(dedicated(&tenant(Isolation::Dedicated), inputs(&defaults, None)).unwrap().env_secret.is_none());
}
