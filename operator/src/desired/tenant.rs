//! What a `Tenant` should produce.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, Namespace,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, Secret,
    SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPort, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt};

use super::tenant_labels;
use crate::config::{DedicatedAppSettings, PlanDefaults};
use crate::crd::{Isolation, Tenant};

/// Name of the Secret holding a tenant's API key, in the tenant's namespace.
pub const API_KEY_SECRET: &str = "replenish-api-key";
/// Key of the API key inside [`API_KEY_SECRET`].
pub const API_KEY_FIELD: &str = "api-key";
/// Name of the dedicated app's Deployment, Service, autoscaler and NetworkPolicy that
/// earlier operators put in the tenant's namespace (with a copy of the app env Secret,
/// platform secrets included); the operator deletes them there.
pub const LEGACY_DEDICATED_APP: &str = "replenish";
/// Keys of the app env Secret a dedicated app reads, each by `secretKeyRef`, and whether
/// the Secret may lack it. Never `REPLENISH_ADMIN_TOKEN`: a dedicated app has no admin.
pub const DEDICATED_SECRET_KEYS: [(&str, bool); 4] =
    [("DATABASE_URL", false), ("REDIS_URL", true), ("SENTRY_DSN", true), ("OPENAI_API_KEY", true)];
/// Variable that makes the app serve one tenant alone (`app/src/config.rs`).
pub const DEDICATED_TENANT_ENV: &str = "REPLENISH_DEDICATED_TENANT";
/// Port the app listens on.
pub const APP_PORT: i32 = 8080;
/// User and group the app runs as: the image's `nonroot` user (as in the chart).
pub const APP_USER: i64 = 65532;
/// Prefix of tenant namespaces.
pub const NAMESPACE_PREFIX: &str = "tenant-";

/// Name of tenant `name`'s dedicated app (Deployment, Service, autoscaler, NetworkPolicy)
/// in the operator's namespace: `tenant-<name>`, a DNS label like the tenant's namespace.
pub fn dedicated_app_name(name: &str) -> String {
    namespace_name(name)
}

/// The namespace of tenant `name`.
pub fn namespace_name(name: &str) -> String {
    format!("{NAMESPACE_PREFIX}{name}")
}

/// Label that marks a namespace as the operator's (with the tenant's name as its value), next
/// to `app.kubernetes.io/managed-by: replenish-operator`. The operator puts both on the
/// namespaces it creates and refuses to use (or delete) a `tenant-<name>` without them.
pub const OWNERSHIP_LABEL: &str = super::TENANT_LABEL;

/// Whether `namespace` is the operator's namespace of tenant `tenant`: it carries
/// [`OWNERSHIP_LABEL`]`=<tenant>` and the operator's `managed-by` label.
pub fn owns_namespace(namespace: &Namespace, tenant: &str) -> bool {
    let labels = namespace.metadata.labels.as_ref();
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    label(OWNERSHIP_LABEL) == Some(tenant) && label(super::MANAGED_BY.0) == Some(super::MANAGED_BY.1)
}

/// The tenant a namespace belongs to, if it is a tenant namespace.
pub fn tenant_of_namespace(namespace: &str) -> Option<&str> {
    namespace.strip_prefix(NAMESPACE_PREFIX).filter(|t| !t.is_empty())
}

/// The body of `PUT /admin/v1/tenants/{name}`: the tenant's own limits laid over the plan profile's.
pub fn app_request(tenant: &Tenant, defaults: &PlanDefaults) -> replenish_api::TenantSpec {
    let base = &defaults.profile(tenant.spec.plan).limits;
    let own = tenant.spec.limits.clone().unwrap_or_default();
    replenish_api::TenantSpec {
        display_name: tenant.spec.display_name.clone(),
        plan: tenant.spec.plan.api(),
        limits: replenish_api::TenantLimits {
            device_per_minute: own.device_per_minute.or(base.device_per_minute),
            tenant_per_second: own.tenant_per_second.or(base.tenant_per_second),
            daily_order_budget_usd: own.daily_order_budget_usd.or(base.daily_order_budget_usd),
            cooldown_seconds: own.cooldown_seconds.or(base.cooldown_seconds),
            intent_ttl_seconds: own.intent_ttl_seconds.or(base.intent_ttl_seconds),
            prompt_on_low_confidence: own.prompt_on_low_confidence.or(base.prompt_on_low_confidence),
            cancel_window_seconds: own.cancel_window_seconds.or(base.cancel_window_seconds),
            order_in_progress_days: own.order_in_progress_days.or(base.order_in_progress_days),
            submit_delay_seconds: own.submit_delay_seconds.or(base.submit_delay_seconds),
        },
    }
}

/// Whether `request` leaves a limit unset that the operator must not reset: one that
/// could only be set through the app's API before the Tenant resource carried it.
pub fn leaves_api_limits_unset(request: &replenish_api::TenantSpec) -> bool {
    let l = &request.limits;
    l.intent_ttl_seconds.is_none()
        || l.prompt_on_low_confidence.is_none()
        || l.cancel_window_seconds.is_none()
        || l.order_in_progress_days.is_none()
        || l.submit_delay_seconds.is_none()
}

/// Keeps the app's `current` value of every limit of [`leaves_api_limits_unset`] that
/// `request` leaves unset, so a PUT does not reset a value set through the app's API.
pub fn keep_api_limits(request: &mut replenish_api::TenantSpec, current: &replenish_api::TenantLimits) {
    let limits = &mut request.limits;
    limits.intent_ttl_seconds = limits.intent_ttl_seconds.or(current.intent_ttl_seconds);
    limits.prompt_on_low_confidence = limits.prompt_on_low_confidence.or(current.prompt_on_low_confidence);
    limits.cancel_window_seconds = limits.cancel_window_seconds.or(current.cancel_window_seconds);
    limits.order_in_progress_days = limits.order_in_progress_days.or(current.order_in_progress_days);
    limits.submit_delay_seconds = limits.submit_delay_seconds.or(current.submit_delay_seconds);
}

/// Metadata of an object owned (and garbage-collected) by the tenant.
fn owned_meta(tenant: &Tenant, name: &str, namespace: Option<String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace,
        labels: Some(tenant_labels(&tenant.name_any())),
        owner_references: tenant.controller_owner_ref(&()).map(|r| vec![r]),
        ..ObjectMeta::default()
    }
}

/// The tenant's namespace, owned by the Tenant so deleting the Tenant removes it.
pub fn namespace(tenant: &Tenant) -> Namespace {
    Namespace { metadata: owned_meta(tenant, &namespace_name(&tenant.name_any()), None), ..Namespace::default() }
}

/// The in-cluster URL serving the tenant: its own Service (in `app_namespace`, the
/// operator's) when dedicated, else the shared app.
pub fn endpoint(tenant: &Tenant, shared_endpoint: Option<&str>, app_namespace: &str) -> Option<String> {
    match tenant.spec.isolation {
        Isolation::Dedicated => {
            Some(format!("http://{}.{app_namespace}.svc:{APP_PORT}", dedicated_app_name(&tenant.name_any())))
        }
        Isolation::Shared => shared_endpoint.map(str::to_owned),
    }
}

/// The Secret carrying the API key the app issued, plus what a client needs to use it.
pub fn api_key_secret(tenant: &Tenant, api_key: &str, endpoint: Option<&str>) -> Secret {
    let mut data = BTreeMap::from([
        (API_KEY_FIELD.to_owned(), ByteString(api_key.as_bytes().to_vec())),
        ("tenant".to_owned(), ByteString(tenant.name_any().into_bytes())),
    ]);
    if let Some(endpoint) = endpoint {
        data.insert("endpoint".to_owned(), ByteString(endpoint.as_bytes().to_vec()));
    }
    Secret {
        metadata: owned_meta(tenant, API_KEY_SECRET, Some(namespace_name(&tenant.name_any()))),
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

/// Replica bounds and CPU target in force: `spec.scaling`, else the plan's defaults.
pub fn scaling(tenant: &Tenant, defaults: &PlanDefaults) -> (i32, i32, i32) {
    let profile = defaults.profile(tenant.spec.plan);
    match &tenant.spec.scaling {
        Some(s) => (
            s.min_replicas,
            s.max_replicas,
            s.target_cpu_utilization_percentage.unwrap_or(profile.target_cpu_utilization_percentage),
        ),
        None => (profile.min_replicas, profile.max_replicas, profile.target_cpu_utilization_percentage),
    }
}

/// The objects of a dedicated app, all in the operator's namespace (where the platform's
/// secrets already are), named [`dedicated_app_name`] and labelled with their tenant. None
/// goes to the tenant's namespace, which holds only the tenant's own credentials. The
/// caller deletes them when the tenant is shared.
#[derive(Debug, Clone, PartialEq)]
pub struct Dedicated {
    /// The app.
    pub deployment: Deployment,
    /// Its Service.
    pub service: Service,
    /// Its autoscaler.
    pub hpa: HorizontalPodAutoscaler,
    /// Its NetworkPolicy, when the chart enables them (else the caller deletes it).
    pub network_policy: Option<NetworkPolicy>,
}

/// What the dedicated app needs from the operator's configuration.
#[derive(Debug, Clone, Copy)]
pub struct DedicatedInputs<'a> {
    /// Plan defaults (scaling when `spec.scaling` is absent).
    pub defaults: &'a PlanDefaults,
    /// App image.
    pub image: &'a str,
    /// The operator's namespace: the dedicated app runs there.
    pub namespace: &'a str,
    /// Name of the app env Secret there; the pods read [`DEDICATED_SECRET_KEYS`] from it.
    pub env_secret_name: &'a str,
    /// What the pods take over from the chart's settings of the shared app.
    pub app: &'a DedicatedAppSettings,
}

/// The dedicated app of `tenant`, or `None` when it is served by the shared app.
pub fn dedicated(tenant: &Tenant, inputs: DedicatedInputs<'_>) -> Option<Dedicated> {
    if tenant.spec.isolation != Isolation::Dedicated {
        return None;
    }
    let name = tenant.name_any();
    let mut selector = tenant_labels(&name);
    selector.insert("app.kubernetes.io/name".into(), "replenish".into());
    selector.insert("app.kubernetes.io/component".into(), "dedicated-app".into());
    let mut meta = owned_meta(tenant, &dedicated_app_name(&name), Some(inputs.namespace.to_owned()));
    meta.labels = Some(selector.clone());

    let deployment = Deployment {
        metadata: meta.clone(),
        spec: Some(DeploymentSpec {
            // No `replicas`: the autoscaler owns that field.
            selector: LabelSelector { match_labels: Some(selector.clone()), ..LabelSelector::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(selector.clone()), ..ObjectMeta::default() }),
                spec: Some(pod_spec(&name, inputs)),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    };
    let service = Service {
        metadata: meta.clone(),
        spec: Some(ServiceSpec {
            selector: Some(selector.clone()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: APP_PORT,
                target_port: Some(IntOrString::String("http".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let network_policy = inputs.app.network_policy.as_ref().map(|settings| NetworkPolicy {
        metadata: meta.clone(),
        spec: Some(network_policy_spec(&selector, &settings.from)),
    });
    let hpa = autoscaler(tenant, inputs.defaults, meta);
    Some(Dedicated { deployment, service, hpa, network_policy })
}

/// The dedicated app's autoscaler: `spec.scaling`, else the plan's bounds and CPU target.
fn autoscaler(tenant: &Tenant, defaults: &PlanDefaults, meta: ObjectMeta) -> HorizontalPodAutoscaler {
    let (min, max, cpu) = scaling(tenant, defaults);
    HorizontalPodAutoscaler {
        metadata: meta,
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name: dedicated_app_name(&tenant.name_any()),
            },
            min_replicas: Some(min),
            max_replicas: max,
            metrics: Some(vec![MetricSpec {
                type_: "Resource".into(),
                resource: Some(ResourceMetricSource {
                    name: "cpu".into(),
                    target: MetricTarget {
                        type_: "Utilization".into(),
                        average_utilization: Some(cpu),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        ..HorizontalPodAutoscaler::default()
    }
}

/// Like the chart's NetworkPolicy of the shared app: only the HTTP port is reachable, from
/// `from` when given (else from anywhere); egress stays open.
fn network_policy_spec(
    selector: &BTreeMap<String, String>,
    from: &[k8s_openapi::api::networking::v1::NetworkPolicyPeer],
) -> NetworkPolicySpec {
    NetworkPolicySpec {
        pod_selector: Some(LabelSelector { match_labels: Some(selector.clone()), ..LabelSelector::default() }),
        policy_types: Some(vec!["Ingress".into()]),
        ingress: Some(vec![NetworkPolicyIngressRule {
            ports: Some(vec![NetworkPolicyPort {
                port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..NetworkPolicyPort::default()
            }]),
            from: (!from.is_empty()).then(|| from.to_vec()),
        }]),
        ..NetworkPolicySpec::default()
    }
}

/// The app's environment: the chart's app configuration, under the settings the operator
/// fixes (its one tenant, listen address, no migrations, JSON logs), then the keys of
/// [`DEDICATED_SECRET_KEYS`] by reference (nothing else of the Secret: no admin token).
/// Sorted, so the rendering is stable.
fn app_env(tenant: &str, inputs: DedicatedInputs<'_>) -> Vec<EnvVar> {
    let mut env = inputs.app.env.clone();
    // Secrets come by reference only, whatever the configuration says.
    env.retain(|name, _| name != "REPLENISH_ADMIN_TOKEN" && !DEDICATED_SECRET_KEYS.iter().any(|(k, _)| k == name));
    for (name, value) in [
        (DEDICATED_TENANT_ENV, tenant.to_owned()),
        ("REPLENISH_LISTEN", format!("0.0.0.0:{APP_PORT}")),
        // The chart's migration Job owns the schema; replicas never migrate.
        ("REPLENISH_RUN_MIGRATIONS", "false".to_owned()),
        ("REPLENISH_LOG_FORMAT", "json".to_owned()),
    ] {
        env.insert(name.to_owned(), value);
    }
    let plain = env.into_iter().map(|(name, value)| EnvVar { name, value: Some(value), ..EnvVar::default() });
    let secret = DEDICATED_SECRET_KEYS.iter().map(|(key, optional)| EnvVar {
        name: (*key).to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: inputs.env_secret_name.to_owned(),
                key: (*key).to_owned(),
                optional: Some(*optional),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    });
    plain.chain(secret).collect()
}

/// Requests and limits: the chart's, else built-in ones. The autoscaler's CPU target is a
/// share of the request, so there must be one.
fn app_resources(settings: &DedicatedAppSettings) -> ResourceRequirements {
    let quantities = |cpu: &str, memory: &str| {
        BTreeMap::from([("cpu".to_owned(), Quantity(cpu.into())), ("memory".to_owned(), Quantity(memory.into()))])
    };
    settings.resources.clone().unwrap_or_else(|| ResourceRequirements {
        requests: Some(quantities("100m", "128Mi")),
        limits: Some(quantities("1", "512Mi")),
        ..ResourceRequirements::default()
    })
}

/// A pod that passes the `restricted` Pod Security Standard: non-root, no privilege
/// escalation, every capability dropped, the runtime's default seccomp profile, no
/// service account token, and only an emptyDir for `/tmp` beside the read-only root.
fn pod_spec(tenant: &str, inputs: DedicatedInputs<'_>) -> PodSpec {
    let settings = inputs.app;
    PodSpec {
        // The app never calls the Kubernetes API.
        automount_service_account_token: Some(false),
        image_pull_secrets: (!settings.image_pull_secrets.is_empty()).then(|| settings.image_pull_secrets.clone()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(APP_USER),
            run_as_group: Some(APP_USER),
            fs_group: Some(APP_USER),
            seccomp_profile: Some(runtime_default_seccomp()),
            ..PodSecurityContext::default()
        }),
        termination_grace_period_seconds: settings.termination_grace_period_seconds,
        containers: vec![app_container(tenant, inputs)],
        // The root filesystem is read-only; /tmp is the only writable place.
        volumes: Some(vec![Volume {
            name: "tmp".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("64Mi".into())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    }
}

fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile { type_: "RuntimeDefault".into(), ..SeccompProfile::default() }
}

/// The app container of `tenant`, with the chart's image pull policy, configuration and resources.
fn app_container(tenant: &str, inputs: DedicatedInputs<'_>) -> Container {
    let probe = |path: &str| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        ..Probe::default()
    };
    Container {
        name: "app".into(),
        image: Some(inputs.image.into()),
        image_pull_policy: inputs.app.image_pull_policy.clone(),
        args: Some(vec!["serve".into(), "--no-migrate".into()]),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: APP_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        env: Some(app_env(tenant, inputs)),
        readiness_probe: Some(probe("/readyz")),
        liveness_probe: Some(probe("/healthz")),
        resources: Some(app_resources(inputs.app)),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Capabilities::default() }),
            seccomp_profile: Some(runtime_default_seccomp()),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}

#[cfg(test)]
#[path = "tenant_tests.rs"]
mod tests;
