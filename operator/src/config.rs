//! Operator configuration: command-line flags or environment variables, plus the
//! plan defaults file the Helm chart renders into a ConfigMap.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{LocalObjectReference, ResourceRequirements};
use k8s_openapi::api::networking::v1::NetworkPolicyPeer;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::crd::{Plan, TenantLimits};
use crate::error::{Error, Result};

/// Settings of `replenish-operator run`, each also readable from the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Base URL of the app's admin API, e.g. `http://replenish.replenish.svc:8080`.
    #[arg(long, env = "REPLENISH_OPERATOR_APP_URL")]
    pub app_url: String,
    /// Admin token of the app.
    #[arg(long, env = "REPLENISH_OPERATOR_ADMIN_TOKEN", hide_env_values = true, conflicts_with = "admin_token_file")]
    pub admin_token: Option<String>,
    /// File holding the admin token (a mounted Secret); read at start.
    #[arg(long, env = "REPLENISH_OPERATOR_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Image of the app, for dedicated tenants' Deployments.
    #[arg(long, env = "REPLENISH_OPERATOR_APP_IMAGE", default_value = "replenish:latest")]
    pub app_image: String,
    /// Secret in the operator's namespace from which dedicated apps (which run there too)
    /// read `DATABASE_URL`, `REDIS_URL`, `SENTRY_DSN` and `OPENAI_API_KEY`, each by reference;
    /// never the admin token, and nothing of it is copied into a tenant's namespace.
    #[arg(long, env = "REPLENISH_OPERATOR_APP_ENV_SECRET", default_value = "replenish-app-env")]
    pub app_env_secret: String,
    /// Endpoint reported for shared tenants: the shared app's in-cluster URL.
    #[arg(long, env = "REPLENISH_OPERATOR_SHARED_ENDPOINT")]
    pub shared_endpoint: Option<String>,
    /// YAML file of plan defaults (see [`PlanDefaults`]); built-in defaults when unset.
    #[arg(long, env = "REPLENISH_OPERATOR_PLAN_DEFAULTS")]
    pub plan_defaults: Option<PathBuf>,
    /// YAML file of what dedicated apps take over from the shared one (see
    /// [`DedicatedAppSettings`]); built-in defaults when unset.
    #[arg(long, env = "REPLENISH_OPERATOR_DEDICATED_APP")]
    pub dedicated_app: Option<PathBuf>,
    /// Address of `/metrics` and `/healthz`.
    #[arg(long, env = "REPLENISH_OPERATOR_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// The operator's own namespace: where its Lease and the app env Secret live.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, env = "REPLENISH_OPERATOR_LEASE_NAME", default_value = "replenish-operator")]
    pub lease_name: String,
    /// This replica's identity in the Lease (the pod name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

impl Settings {
    /// The admin token, from the flag/variable or the file.
    pub fn admin_token(&self) -> Result<SecretString> {
        match (&self.admin_token, &self.admin_token_file) {
            (Some(token), _) => Ok(SecretString::from(token.trim().to_owned())),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|t| SecretString::from(t.trim().to_owned()))
                .map_err(|e| Error::Config(format!("cannot read admin token file {}: {e}", path.display()))),
            (None, None) => Err(Error::Config(
                "an admin token is required: REPLENISH_OPERATOR_ADMIN_TOKEN or REPLENISH_OPERATOR_ADMIN_TOKEN_FILE"
                    .into(),
            )),
        }
    }

    /// The plan defaults from the file, or the built-in ones.
    pub fn plan_defaults(&self) -> Result<PlanDefaults> {
        match &self.plan_defaults {
            Some(path) => PlanDefaults::from_file(path),
            None => Ok(PlanDefaults::default()),
        }
    }

    /// The dedicated apps' settings from the file, or the built-in ones.
    pub fn dedicated_app(&self) -> Result<DedicatedAppSettings> {
        match &self.dedicated_app {
            Some(path) => DedicatedAppSettings::from_file(path),
            None => Ok(DedicatedAppSettings::default()),
        }
    }
}

/// What a dedicated tenant's app takes over from the shared app's chart settings; the
/// chart renders it into the operator's ConfigMap (`dedicated-app.yaml`). Every field is
/// optional:
/// ```yaml
/// imagePullSecrets: [{name: registry}]          # the chart's imagePullSecrets
/// imagePullPolicy: IfNotPresent                 # image.pullPolicy
/// resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: "1", memory: 512Mi}}
/// env: {REPLENISH_LOG_LEVEL: info}              # the app's ConfigMap (app.config)
/// terminationGracePeriodSeconds: 35
/// networkPolicy: {from: []}                     # present: a NetworkPolicy like the shared app's
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DedicatedAppSettings {
    /// Secrets the kubelet pulls the image with (in the operator's namespace, where dedicated apps run).
    #[serde(default)]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// Image pull policy.
    #[serde(default)]
    pub image_pull_policy: Option<String>,
    /// Requests and limits of the app container; built-in ones when absent.
    #[serde(default)]
    pub resources: Option<ResourceRequirements>,
    /// Non-secret environment (`REPLENISH_*`); the operator's own listen address and
    /// migration settings win over these.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Grace period of the app's pods.
    #[serde(default)]
    pub termination_grace_period_seconds: Option<i64>,
    /// When present, each dedicated app gets a NetworkPolicy admitting only its HTTP port.
    #[serde(default)]
    pub network_policy: Option<NetworkPolicySettings>,
}

/// The NetworkPolicy of dedicated apps, as the chart's `networkPolicy` values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkPolicySettings {
    /// Peers allowed to reach the app's HTTP port (read in the operator's namespace, where dedicated apps run); empty: any source.
    #[serde(default)]
    pub from: Vec<NetworkPolicyPeer>,
}

impl DedicatedAppSettings {
    /// Parses a dedicated app settings document.
    pub fn parse(text: &str) -> Result<Self> {
        serde_saphyr::from_str(text).map_err(|e| Error::Config(format!("dedicated app settings do not parse: {e}")))
    }

    /// Reads a dedicated app settings file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read dedicated app settings {}: {e}", path.display())))?;
        Self::parse(&text)
    }
}

/// Per-plan defaults: the Helm chart's `plans.starter|growth|enterprise` values.
///
/// File format (YAML or JSON), every plan required:
/// ```yaml
/// starter:
///   minReplicas: 1
///   maxReplicas: 2
///   targetCPUUtilizationPercentage: 80
///   limits: {devicePerMinute: 100, tenantPerSecond: 50}   # optional
/// growth: {...}
/// enterprise: {...}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDefaults {
    /// Defaults of the starter plan.
    pub starter: PlanProfile,
    /// Defaults of the growth plan.
    pub growth: PlanProfile,
    /// Defaults of the enterprise plan.
    pub enterprise: PlanProfile,
}

/// What one plan brings when a tenant does not say otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanProfile {
    /// Fewest replicas of a dedicated app.
    pub min_replicas: i32,
    /// Most replicas of a dedicated app.
    pub max_replicas: i32,
    /// CPU target of a dedicated app's autoscaler, in percent.
    #[serde(rename = "targetCPUUtilizationPercentage")]
    pub target_cpu_utilization_percentage: i32,
    /// Limits sent to the app beneath the tenant's own overrides; the app's plan defaults fill the rest.
    #[serde(default)]
    pub limits: TenantLimits,
}

impl PlanDefaults {
    /// The profile of `plan`.
    pub fn profile(&self, plan: Plan) -> &PlanProfile {
        match plan {
            Plan::Starter => &self.starter,
            Plan::Growth => &self.growth,
            Plan::Enterprise => &self.enterprise,
        }
    }

    /// Parses and checks a plan defaults document.
    pub fn parse(text: &str) -> Result<Self> {
        let defaults: Self =
            serde_saphyr::from_str(text).map_err(|e| Error::Config(format!("plan defaults do not parse: {e}")))?;
        for plan in [Plan::Starter, Plan::Growth, Plan::Enterprise] {
            let p = defaults.profile(plan);
            let ok = p.min_replicas >= 1
                && p.max_replicas >= p.min_replicas
                && (1..=100).contains(&p.target_cpu_utilization_percentage);
            if !ok {
                return Err(Error::Config(format!(
                    "plan defaults of {}: need 1 <= minReplicas <= maxReplicas and a CPU target of 1-100",
                    plan.as_str()
                )));
            }
        }
        Ok(defaults)
    }

    /// Reads a plan defaults file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read plan defaults {}: {e}", path.display())))?;
        Self::parse(&text)
    }
}

impl Default for PlanDefaults {
    /// Defaults used when no file is mounted; the chart's values normally replace them.
    fn default() -> Self {
        let profile = |min, max, cpu| PlanProfile {
            min_replicas: min,
            max_replicas: max,
            target_cpu_utilization_percentage: cpu,
            limits: TenantLimits::default(),
        };
        Self { starter: profile(1, 2, 80), growth: profile(2, 5, 75), enterprise: profile(3, 10, 70) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_format() {
        let text = "starter: {minReplicas: 1, maxReplicas: 3, targetCPUUtilizationPercentage: 60, limits: {tenantPerSecond: 40}}\n\
                    growth: {minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 70}\n\
                    enterprise: {minReplicas: 4, maxReplicas: 20, targetCPUUtilizationPercentage: 65}\n";
        let defaults = PlanDefaults::parse(text).unwrap();
        assert_eq!(defaults.profile(Plan::Starter).max_replicas, 3);
        assert_eq!(defaults.profile(Plan::Starter).limits.tenant_per_second, Some(40));
        assert_eq!(defaults.profile(Plan::Enterprise).min_replicas, 4);
        assert_eq!(defaults.profile(Plan::Growth).target_cpu_utilization_percentage, 70);
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme.find("```yaml\n").map(|i| i + 8).unwrap();
        let end = start + readme[start..].find("```").unwrap();
        let defaults = PlanDefaults::parse(&readme[start..end]).unwrap();
        assert_eq!(defaults.profile(Plan::Enterprise).limits.tenant_per_second, Some(5000));
        assert_eq!(defaults.profile(Plan::Growth).max_replicas, 5);
        let section = &readme[readme.find("## Dedicated app settings file").unwrap()..];
        let start = section.find("```yaml\n").map(|i| i + 8).unwrap();
        let end = start + section[start..].find("```").unwrap();
        let settings = DedicatedAppSettings::parse(&section[start..end]).unwrap();
        assert_eq!(settings.image_pull_secrets[0].name, "registry");
        assert!(settings.network_policy.is_some());
    }

    #[test]
    fn dedicated_app_settings_parse_as_the_chart_renders_them() {
        // As charts/replenish/templates/operator-configmap.yaml renders it (all-on values).
        let text = r#"
imagePullSecrets: [{"name":"registry"}]
imagePullPolicy: "Always"
resources:
  limits:
    cpu: "1"
  requests:
    cpu: "100m"
    memory: "128Mi"
env:
  REPLENISH_LISTEN: "0.0.0.0:9090"
  # The migrations Job owns the schema; replicas never migrate.
  REPLENISH_LOG_FORMAT: json
  REPLENISH_LOG_LEVEL: "debug"
terminationGracePeriodSeconds: 35
networkPolicy:
  from: [{"namespaceSelector":{"matchLabels":{"team":"edge"}}}]
"#;
        let settings = DedicatedAppSettings::parse(text).unwrap();
        assert_eq!(settings.image_pull_secrets[0].name, "registry");
        let resources = settings.resources.unwrap();
        assert_eq!(resources.limits.unwrap()["cpu"].0, "1");
        assert_eq!(settings.env["REPLENISH_LOG_LEVEL"], "debug");
        assert_eq!(settings.termination_grace_period_seconds, Some(35));
        let from = &settings.network_policy.unwrap().from;
        assert!(from[0].namespace_selector.is_some());
        assert_eq!(DedicatedAppSettings::parse("{}").unwrap(), DedicatedAppSettings::default());
        assert!(DedicatedAppSettings::parse("imagePullSecret: []").is_err(), "typos are refused");
    }

    #[test]
    fn rejects_typos_missing_plans_and_inverted_bounds() {
        let ok = "{minReplicas: 1, maxReplicas: 2, targetCPUUtilizationPercentage: 80}";
        let typo = format!(
            "starter: {{minReplica: 1, maxReplicas: 2, targetCPUUtilizationPercentage: 80}}\ngrowth: {ok}\nenterprise: {ok}"
        );
        assert!(PlanDefaults::parse(&typo).is_err());
        assert!(PlanDefaults::parse(&format!("starter: {ok}\ngrowth: {ok}")).is_err());
        let inverted = format!(
            "starter: {{minReplicas: 3, maxReplicas: 2, targetCPUUtilizationPercentage: 80}}\ngrowth: {ok}\nenterprise: {ok}"
        );
        assert!(PlanDefaults::parse(&inverted).is_err());
    }
}
