use super::*;
use crate::config::NetworkPolicySettings;
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
                cancel_window_seconds: Some(600),
                order_in_progress_days: None,
                submit_delay_seconds: Some(30),
            }),
            scaling: None,
            paused: false,
            stores: Vec::new(),
            webhooks: Vec::new(),
        },
    );
    t.metadata.uid = Some("uid-acme".into());
    t
}

/// The chart's defaults: no pull secrets, no NetworkPolicy.
static NO_SETTINGS: std::sync::LazyLock<DedicatedAppSettings> = std::sync::LazyLock::new(DedicatedAppSettings::default);

fn inputs(defaults: &PlanDefaults) -> DedicatedInputs<'_> {
    DedicatedInputs {
        defaults,
        image: "registry.example/replenish:1.2.3",
        namespace: "replenish",
        env_secret_name: "app-env",
        app: &NO_SETTINGS,
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
    assert_eq!(request.limits.cancel_window_seconds, Some(600));
    assert_eq!(request.limits.submit_delay_seconds, Some(30));
    assert_eq!(request.limits.order_in_progress_days, None, "left to the app");
    let json = serde_json::to_value(&request).unwrap();
    assert_eq!(json["limits"]["device_per_minute"], 42, "the app speaks snake_case: {json}");
    assert_eq!(json["limits"]["intent_ttl_seconds"], 120, "{json}");
    assert!(json["limits"].get("prompt_on_low_confidence").is_none(), "absent, not null: {json}");
    assert_eq!(json["limits"]["cancel_window_seconds"], 600, "{json}");
    assert_eq!(json["limits"]["submit_delay_seconds"], 30, "{json}");
}

#[test]
fn limits_set_through_the_api_are_kept_when_the_tenant_leaves_them_unset() {
    let mut request = app_request(&tenant(Isolation::Shared), &PlanDefaults::default());
    assert!(leaves_api_limits_unset(&request));
    let current = replenish_api::TenantLimits {
        intent_ttl_seconds: Some(30),
        prompt_on_low_confidence: Some(true),
        device_per_minute: Some(1),
        order_in_progress_days: Some(7),
        cancel_window_seconds: Some(60),
        ..Default::default()
    };
    keep_api_limits(&mut request, &current);
    assert_eq!(request.limits.intent_ttl_seconds, Some(120), "the Tenant's own value wins");
    assert_eq!(request.limits.prompt_on_low_confidence, Some(true), "the app's value is kept");
    assert_eq!(request.limits.device_per_minute, Some(42), "other limits are the Tenant's");
    assert_eq!(request.limits.order_in_progress_days, Some(7), "the app's value is kept");
    assert_eq!(request.limits.cancel_window_seconds, Some(600), "the Tenant's own value wins");
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
    let shared = endpoint(&tenant(Isolation::Shared), Some("http://shared:8080"), "replenish");
    assert_eq!(shared.as_deref(), Some("http://shared:8080"));
    assert_eq!(endpoint(&tenant(Isolation::Shared), None, "replenish"), None);
    assert_eq!(
        endpoint(&tenant(Isolation::Dedicated), Some("http://shared:8080"), "replenish").as_deref(),
        Some("http://tenant-acme.replenish.svc:8080"),
        "the dedicated app's Service, in the operator's namespace"
    );
}

#[test]
fn shared_tenants_have_no_dedicated_app() {
    let defaults = PlanDefaults::default();
    assert_eq!(dedicated(&tenant(Isolation::Shared), inputs(&defaults)), None);
}

#[test]
fn dedicated_app_uses_plan_defaults_without_spec_scaling() {
    let mut defaults = PlanDefaults::default();
    defaults.growth.min_replicas = 3;
    defaults.growth.max_replicas = 9;
    defaults.growth.target_cpu_utilization_percentage = 55;
    let d = dedicated(&tenant(Isolation::Dedicated), inputs(&defaults)).unwrap();
    let hpa = d.hpa.spec.unwrap();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(3), 9));
    let metric = hpa.metrics.unwrap()[0].resource.clone().unwrap();
    assert_eq!((metric.name.as_str(), metric.target.average_utilization), ("cpu", Some(55)));
    assert_eq!(hpa.scale_target_ref.name, "tenant-acme");
    assert_eq!(hpa.scale_target_ref.kind, "Deployment");
    assert_eq!(d.hpa.metadata.namespace.as_deref(), Some("replenish"));
}

#[test]
fn dedicated_app_uses_spec_scaling_when_present() {
    let defaults = PlanDefaults::default();
    let mut t = tenant(Isolation::Dedicated);
    t.spec.scaling = Some(Scaling { min_replicas: 4, max_replicas: 12, target_cpu_utilization_percentage: None });
    let hpa = dedicated(&t, inputs(&defaults)).unwrap().hpa.spec.unwrap();
    assert_eq!((hpa.min_replicas, hpa.max_replicas), (Some(4), 12));
    // Without a CPU target in the spec the plan's applies.
    let target = hpa.metrics.unwrap()[0].resource.clone().unwrap().target.average_utilization;
    assert_eq!(target, Some(defaults.growth.target_cpu_utilization_percentage));
    t.spec.scaling = Some(Scaling { min_replicas: 1, max_replicas: 2, target_cpu_utilization_percentage: Some(33) });
    let hpa = dedicated(&t, inputs(&defaults)).unwrap().hpa.spec.unwrap();
    assert_eq!(hpa.metrics.unwrap()[0].resource.clone().unwrap().target.average_utilization, Some(33));
}

#[test]
fn dedicated_deployment_runs_the_configured_image_and_leaves_replicas_to_the_autoscaler() {
    let defaults = PlanDefaults::default();
    let d = dedicated(&tenant(Isolation::Dedicated), inputs(&defaults)).unwrap();
    let spec = d.deployment.spec.unwrap();
    assert_eq!(spec.replicas, None);
    let pod = spec.template.spec.unwrap();
    let container = &pod.containers[0];
    assert_eq!(container.image.as_deref(), Some("registry.example/replenish:1.2.3"));
    assert!(container.resources.as_ref().unwrap().requests.as_ref().unwrap().contains_key("cpu"));
    assert_eq!(container.security_context.as_ref().unwrap().run_as_non_root, Some(true));
    // Selector, pod labels and Service selector agree, or the Service would route nowhere.
    let selector = spec.selector.match_labels.unwrap();
    assert_eq!(spec.template.metadata.unwrap().labels.unwrap(), selector);
    assert_eq!(d.service.spec.unwrap().selector.unwrap(), selector);
    assert_eq!(d.deployment.metadata.owner_references.unwrap()[0].uid, "uid-acme");
}

#[test]
fn the_dedicated_app_runs_beside_the_platforms_secrets_and_reads_only_what_it_needs() {
    let defaults = PlanDefaults::default();
    // Even a chart configuration naming secrets does not put them in the pod's plain env.
    let settings = DedicatedAppSettings {
        env: BTreeMap::from([
            ("REPLENISH_ADMIN_TOKEN".to_owned(), "leaked".to_owned()),
            ("DATABASE_URL".to_owned(), "postgres://leaked".to_owned()),
            ("REPLENISH_DEDICATED_TENANT".to_owned(), "globex".to_owned()),
        ]),
        ..DedicatedAppSettings::default()
    };
    let d = dedicated(&tenant(Isolation::Dedicated), DedicatedInputs { app: &settings, ..inputs(&defaults) }).unwrap();
    for meta in [&d.deployment.metadata, &d.service.metadata, &d.hpa.metadata] {
        assert_eq!(meta.namespace.as_deref(), Some("replenish"), "not the tenant's namespace");
        assert_eq!(meta.name.as_deref(), Some("tenant-acme"));
        assert_eq!(meta.labels.as_ref().unwrap()[crate::desired::TENANT_LABEL], "acme");
    }
    let container = d.deployment.spec.unwrap().template.spec.unwrap().containers.remove(0);
    assert_eq!(container.env_from, None, "never the whole Secret");
    let env = container.env.unwrap();
    let by_name = |name: &str| env.iter().find(|e| e.name == name).cloned();
    assert!(by_name("REPLENISH_ADMIN_TOKEN").is_none(), "a dedicated app has no admin token: {env:?}");
    assert_eq!(by_name("REPLENISH_DEDICATED_TENANT").unwrap().value.as_deref(), Some("acme"));
    let database = by_name("DATABASE_URL").unwrap();
    assert_eq!(database.value, None);
    let reference = database.value_from.unwrap().secret_key_ref.unwrap();
    assert_eq!(
        (reference.name.as_str(), reference.key.as_str(), reference.optional),
        ("app-env", "DATABASE_URL", Some(false))
    );
    let referenced: Vec<_> =
        env.iter().filter_map(|e| e.value_from.as_ref()?.secret_key_ref.as_ref().map(|r| r.key.clone())).collect();
    assert_eq!(referenced, ["DATABASE_URL", "REDIS_URL", "SENTRY_DSN", "OPENAI_API_KEY"]);
}

#[test]
fn only_a_namespace_with_the_ownership_labels_is_the_operators() {
    let ns = |labels: &[(&str, &str)]| Namespace {
        metadata: ObjectMeta {
            labels: Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    assert!(owns_namespace(&namespace(&tenant(Isolation::Shared)), "acme"), "what the operator creates is its own");
    let managed = ("app.kubernetes.io/managed-by", "replenish-operator");
    assert!(owns_namespace(&ns(&[managed, (OWNERSHIP_LABEL, "acme")]), "acme"));
    assert!(!owns_namespace(&ns(&[managed, (OWNERSHIP_LABEL, "other")]), "acme"), "another tenant's");
    assert!(!owns_namespace(&ns(&[managed]), "acme"));
    assert!(!owns_namespace(&ns(&[(OWNERSHIP_LABEL, "acme")]), "acme"));
    assert!(!owns_namespace(&Namespace::default(), "acme"));
}

/// What the `restricted` Pod Security Standard (Kubernetes 1.33, "latest") forbids in `pod`,
/// baseline rules included; empty when the pod is admitted.
fn restricted_violations(pod: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    let psc = pod.security_context.clone().unwrap_or_default();
    for (what, set) in [("hostNetwork", pod.host_network), ("hostPID", pod.host_pid), ("hostIPC", pod.host_ipc)] {
        if set == Some(true) {
            out.push(format!("{what} is true"));
        }
    }
    let allowed_volumes =
        ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"];
    for volume in pod.volumes.iter().flatten() {
        let json = serde_json::to_value(volume).unwrap();
        for key in json.as_object().unwrap().keys().filter(|k| *k != "name") {
            if !allowed_volumes.contains(&key.as_str()) {
                out.push(format!("volume {} is of type {key}", volume.name));
            }
        }
    }
    if psc.run_as_user == Some(0) {
        out.push("pod runAsUser is 0".into());
    }
    let pod_seccomp = psc.seccomp_profile.as_ref().map(|p| p.type_.as_str());
    if pod_seccomp == Some("Unconfined") {
        out.push("pod seccompProfile is Unconfined".into());
    }
    for sysctl in psc.sysctls.iter().flatten() {
        out.push(format!("sysctl {} (none are needed)", sysctl.name));
    }
    let containers = pod.containers.iter().chain(pod.init_containers.iter().flatten());
    for c in containers {
        let sc = c.security_context.clone().unwrap_or_default();
        let name = &c.name;
        if sc.privileged == Some(true) {
            out.push(format!("{name}: privileged"));
        }
        if sc.allow_privilege_escalation != Some(false) {
            out.push(format!("{name}: allowPrivilegeEscalation is not false"));
        }
        let non_root = sc.run_as_non_root.or(psc.run_as_non_root);
        if non_root != Some(true) {
            out.push(format!("{name}: runAsNonRoot is not true (pod or container)"));
        }
        if sc.run_as_user == Some(0) {
            out.push(format!("{name}: runAsUser is 0"));
        }
        let seccomp = sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()).or(pod_seccomp);
        if !matches!(seccomp, Some("RuntimeDefault" | "Localhost")) {
            out.push(format!("{name}: seccompProfile is {seccomp:?}, not RuntimeDefault or Localhost"));
        }
        let caps = sc.capabilities.clone().unwrap_or_default();
        if !caps.drop.iter().flatten().any(|c| c == "ALL") {
            out.push(format!("{name}: capabilities do not drop ALL"));
        }
        for added in caps.add.iter().flatten().filter(|c| *c != "NET_BIND_SERVICE") {
            out.push(format!("{name}: adds capability {added}"));
        }
        if sc.proc_mount.as_deref().is_some_and(|m| m != "Default") {
            out.push(format!("{name}: procMount is not Default"));
        }
        for port in c.ports.iter().flatten() {
            if port.host_port.is_some_and(|p| p != 0) {
                out.push(format!("{name}: hostPort {:?}", port.host_port));
            }
        }
    }
    out
}

#[test]
fn the_restricted_check_catches_what_it_should() {
    // The checker itself: a default container violates every container rule.
    let pod =
        PodSpec { containers: vec![Container { name: "c".into(), ..Container::default() }], ..PodSpec::default() };
    let violations = restricted_violations(&pod);
    for needle in ["allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile", "drop ALL"] {
        assert!(violations.iter().any(|v| v.contains(needle)), "{needle} not caught: {violations:?}");
    }
}

#[test]
fn dedicated_pods_pass_the_restricted_pod_security_standard() {
    let defaults = PlanDefaults::default();
    let d = dedicated(&tenant(Isolation::Dedicated), inputs(&defaults)).unwrap();
    let pod = d.deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(restricted_violations(&pod), Vec::<String>::new());
    // And what the issue names, explicitly.
    assert_eq!(pod.automount_service_account_token, Some(false));
    let psc = pod.security_context.unwrap();
    assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    assert_eq!(psc.run_as_non_root, Some(true));
    let sc = pod.containers[0].security_context.clone().unwrap();
    assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
}

fn chart_settings() -> DedicatedAppSettings {
    let quantities = |cpu: &str, memory: &str| {
        BTreeMap::from([("cpu".to_owned(), Quantity(cpu.into())), ("memory".to_owned(), Quantity(memory.into()))])
    };
    let peer: k8s_openapi::api::networking::v1::NetworkPolicyPeer =
        serde_json::from_value(serde_json::json!({"namespaceSelector": {"matchLabels": {"team": "edge"}}})).unwrap();
    DedicatedAppSettings {
        image_pull_secrets: vec![k8s_openapi::api::core::v1::LocalObjectReference { name: "registry".into() }],
        image_pull_policy: Some("Always".into()),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("250m", "256Mi")),
            limits: Some(quantities("2", "1Gi")),
            ..ResourceRequirements::default()
        }),
        env: BTreeMap::from([
            ("REPLENISH_LOG_LEVEL".to_owned(), "debug".to_owned()),
            ("REPLENISH_IP_PER_MINUTE".to_owned(), "77".to_owned()),
            ("REPLENISH_LISTEN".to_owned(), "0.0.0.0:9999".to_owned()),
            ("REPLENISH_RUN_MIGRATIONS".to_owned(), "true".to_owned()),
        ]),
        termination_grace_period_seconds: Some(35),
        network_policy: Some(NetworkPolicySettings { from: vec![peer] }),
    }
}

#[test]
fn dedicated_pods_take_the_charts_settings() {
    let defaults = PlanDefaults::default();
    let settings = chart_settings();
    let d = dedicated(&tenant(Isolation::Dedicated), DedicatedInputs { app: &settings, ..inputs(&defaults) }).unwrap();
    let pod = d.deployment.spec.unwrap().template.spec.unwrap();
    assert_eq!(restricted_violations(&pod), Vec::<String>::new(), "settings never weaken the profile");
    assert_eq!(pod.image_pull_secrets.unwrap()[0].name, "registry");
    assert_eq!(pod.termination_grace_period_seconds, Some(35));
    let container = &pod.containers[0];
    assert_eq!(container.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(container.resources, settings.resources);
    let env: BTreeMap<String, String> =
        container.env.clone().unwrap().into_iter().map(|e| (e.name, e.value.unwrap_or_default())).collect();
    assert_eq!(env["REPLENISH_LOG_LEVEL"], "debug");
    assert_eq!(env["REPLENISH_IP_PER_MINUTE"], "77");
    // What the operator fixes wins over the chart's values: the Service targets this port,
    // and the migration Job owns the schema.
    assert_eq!(env["REPLENISH_LISTEN"], "0.0.0.0:8080");
    assert_eq!(env["REPLENISH_RUN_MIGRATIONS"], "false");

    let policy = d.network_policy.expect("a NetworkPolicy like the shared app's");
    assert_eq!(policy.metadata.namespace.as_deref(), Some("replenish"));
    assert_eq!(policy.metadata.owner_references.unwrap()[0].uid, "uid-acme");
    let spec = policy.spec.unwrap();
    let pod_labels = d.deployment.metadata.labels.unwrap();
    assert_eq!(spec.pod_selector.unwrap().match_labels.unwrap(), pod_labels);
    assert_eq!(spec.policy_types, Some(vec!["Ingress".to_owned()]));
    let rule = &spec.ingress.unwrap()[0];
    assert_eq!(rule.ports.as_ref().unwrap()[0].port, Some(IntOrString::String("http".into())));
    assert_eq!(rule.from.as_ref().unwrap().len(), 1, "the chart's appFrom peers");
}

#[test]
fn no_network_policy_unless_the_chart_enables_them_and_none_without_peers_restricts_sources() {
    let defaults = PlanDefaults::default();
    let d = dedicated(&tenant(Isolation::Dedicated), inputs(&defaults)).unwrap();
    assert!(d.network_policy.is_none());
    let settings = DedicatedAppSettings { network_policy: Some(NetworkPolicySettings::default()), ..chart_settings() };
    let d = dedicated(&tenant(Isolation::Dedicated), DedicatedInputs { app: &settings, ..inputs(&defaults) }).unwrap();
    let rule = &d.network_policy.unwrap().spec.unwrap().ingress.unwrap()[0];
    assert_eq!(rule.from, None, "no peers: any source, on the HTTP port only");
}
