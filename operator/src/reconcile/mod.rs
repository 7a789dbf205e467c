//! The controllers: thin reconcilers around [`crate::desired`], run by kube-runtime.

mod controllers;
mod device;
mod namespace;
mod status;
mod stores;
mod tenant;
mod webhooks;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use controllers::{SHUTDOWN_GRACE, run_as_leader, run_devices, run_tenants};
pub use device::reconcile as reconcile_device;
pub use tenant::reconcile as reconcile_tenant;

use crate::FIELD_MANAGER;
use crate::app_client::AppClient;
use crate::config::{DedicatedAppSettings, PlanDefaults};
use crate::error::{Backoff, Error, Result};
use crate::metrics::Metrics;

/// Finalizer on Tenants: deactivate in the app before the Tenant goes.
pub const TENANT_FINALIZER: &str = "replenish.dev/tenant-deactivation";
/// Finalizer on Devices: revoke in the app before the Device goes.
pub const DEVICE_FINALIZER: &str = "replenish.dev/device-revocation";
/// How often a healthy resource is reconciled anyway, to catch drift inside the app.
pub const RESYNC: Duration = Duration::from_secs(300);

/// What the reconcilers need from the operator's configuration.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Plan defaults (scaling and limits).
    pub plan_defaults: PlanDefaults,
    /// App image for dedicated tenants.
    pub app_image: String,
    /// Name of the app env Secret in [`OperatorConfig::namespace`], whose keys dedicated apps
    /// (running there too) read by reference.
    pub app_env_secret: String,
    /// The operator's own namespace.
    pub namespace: String,
    /// Endpoint reported for shared tenants.
    pub shared_endpoint: Option<String>,
    /// What dedicated apps take over from the chart's settings of the shared app.
    pub dedicated_app: DedicatedAppSettings,
}

/// Shared state of the reconcilers.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Client of the app's admin API.
    pub app: AppClient,
    /// Configuration.
    pub config: OperatorConfig,
    /// Metrics.
    pub metrics: Metrics,
    /// Publishes Kubernetes Events.
    pub recorder: Recorder,
    /// Retry delays after failures.
    pub backoff: Backoff,
    failures: Mutex<HashMap<ObjectKey, u32>>,
}

/// (kind, namespace, name) of a reconciled object, for its failure count.
type ObjectKey = (&'static str, Option<String>, String);

impl Context {
    /// A context; events are reported as `replenish-operator` from `instance`.
    pub fn new(client: Client, app: AppClient, config: OperatorConfig, metrics: Metrics, instance: String) -> Self {
        let reporter = Reporter { controller: FIELD_MANAGER.into(), instance: Some(instance) };
        let recorder = Recorder::new(client.clone(), reporter);
        Self { client, app, config, metrics, recorder, backoff: Backoff::default(), failures: Mutex::default() }
    }

    /// The same context with other retry delays (tests use short ones).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Counts one more consecutive failure of `obj` and returns the count.
    fn record_failure(&self, kind: &'static str, obj: &impl ResourceExt) -> u32 {
        let Ok(mut failures) = self.failures.lock() else { return 1 };
        let n = failures.entry((kind, obj.namespace(), obj.name_any())).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// Consecutive failed reconciles of an object so far (0 after a success).
    pub fn consecutive_failures(&self, kind: &'static str, namespace: Option<&str>, name: &str) -> u32 {
        let key = (kind, namespace.map(str::to_owned), name.to_owned());
        self.failures.lock().map(|f| f.get(&key).copied().unwrap_or(0)).unwrap_or(0)
    }

    /// Forgets `obj`'s failures after a success, so the next failure starts the backoff over.
    fn reset_failures(&self, kind: &'static str, obj: &impl ResourceExt) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&(kind, obj.namespace(), obj.name_any()));
        }
    }

    /// Publishes an event about `obj`; a failure to publish is logged, never fatal.
    async fn event<K: Resource<DynamicType = ()>>(&self, obj: &K, type_: EventType, reason: &str, note: String) {
        let event = Event { type_, reason: reason.into(), note: Some(note), action: reason.into(), secondary: None };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, reason, "cannot publish event");
        }
    }
}

/// Server-side applies `obj` (create or update) as the operator's field manager.
async fn apply<K>(api: &Api<K>, obj: &K) -> Result<K>
where
    K: Resource + Clone + DeserializeOwned + Serialize + std::fmt::Debug,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    Ok(api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj)).await?)
}

/// Deletes `name` if it exists.
async fn delete_if_exists<K>(api: &Api<K>, name: &str) -> Result<bool>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn error_policy(kind: &'static str, obj: &impl ResourceExt, error: &Error, ctx: &Context) -> Action {
    ctx.metrics.failure(kind, error);
    let failures = ctx.record_failure(kind, obj);
    let delay = ctx.backoff.delay(failures);
    tracing::warn!(kind, name = %obj.name_any(), %error, failures, ?delay, "reconcile failed; retrying");
    Action::requeue(delay)
}
