//! Wiring: the two kube-runtime Controllers, and running them only while this replica leads.

use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Controller, Error as ControllerError};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Predicate, WatchStreamExt, predicates, watcher};

use super::{Context, error_policy, reconcile_device, reconcile_tenant};
use crate::crd::{Device, Tenant};
use crate::desired::MANAGED_BY;
use crate::desired::tenant::tenant_of_namespace;
use crate::leader::LeaderElector;

fn owned_config() -> watcher::Config {
    watcher::Config::default().labels(&format!("{}={}", MANAGED_BY.0, MANAGED_BY.1))
}

/// Runs the Tenant controller until `shutdown` resolves.
pub async fn run_tenants(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let (reader, writer) = reflector::store();
    // Status writes change neither generation nor finalizers, so they do not wake the controller.
    let tenants = watcher(Api::<Tenant>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation.combine(predicates::finalizers), Default::default());
    Controller::for_stream(tenants, reader)
        .owns(Api::<Namespace>::all(client.clone()), owned_config())
        .owns(Api::<Secret>::all(client.clone()), owned_config())
        .owns(Api::<Deployment>::all(client.clone()), owned_config())
        .owns(Api::<Service>::all(client.clone()), owned_config())
        .owns(Api::<HorizontalPodAutoscaler>::all(client.clone()), owned_config())
        .owns(Api::<NetworkPolicy>::all(client.clone()), owned_config())
        // A Device appearing or going changes its tenant's device count.
        .watches(Api::<Device>::all(client), watcher::Config::default(), |device| {
            device.namespace().and_then(|ns| tenant_of_namespace(&ns).map(ObjectRef::new))
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile_tenant, |obj, error, ctx| error_policy("tenant", obj.as_ref(), error, &ctx), ctx)
        .for_each(|result| async move { log_outcome("tenant", result) })
        .await;
}

/// Runs the Device controller until `shutdown` resolves.
pub async fn run_devices(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let client = ctx.client.clone();
    let (reader, writer) = reflector::store();
    let devices = watcher(Api::<Device>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .predicate_filter(predicates::generation.combine(predicates::finalizers), Default::default());
    Controller::for_stream(devices, reader)
        .owns(Api::<Secret>::all(client), owned_config())
        .graceful_shutdown_on(shutdown)
        .run(reconcile_device, |obj, error, ctx| error_policy("device", obj.as_ref(), error, &ctx), ctx)
        .for_each(|result| async move { log_outcome("device", result) })
        .await;
}

/// Logs what the controller reports; failed reconciles were already logged by the error policy.
fn log_outcome<K, A, Q>(kind: &str, result: Result<(ObjectRef<K>, A), ControllerError<crate::Error, Q>>)
where
    K: kube::Resource,
    Q: std::fmt::Display,
{
    match result {
        Ok((object, _)) => tracing::debug!(kind, name = %object.name, "reconciled"),
        Err(ControllerError::ReconcilerFailed(_, object)) => {
            tracing::debug!(kind, name = %object.name, "reconcile failed")
        }
        Err(ControllerError::ObjectNotFound(object)) => {
            tracing::debug!(kind, name = %object.name, "object already gone")
        }
        Err(e) => tracing::warn!(kind, error = %e, "controller error"),
    }
}

/// How long a stopping leader waits for the controllers' current reconciles before it
/// releases the Lease anyway (well inside the pod's default 30 s grace period).
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

/// Waits for leadership, then runs both controllers while it lasts.
///
/// Returns `true` when leadership was lost (the controllers are dropped at once, since
/// another replica may already be acting) and `false` after `shutdown` (the controllers
/// finish their current work, for at most [`SHUTDOWN_GRACE`] and while the Lease is still
/// renewed, and the Lease is released for the next leader).
pub async fn run_as_leader(
    elector: &LeaderElector,
    ctx: Arc<Context>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> bool {
    let mut shutdown = std::pin::pin!(shutdown);
    tokio::select! {
        () = elector.acquire() => {}
        () = &mut shutdown => return false,
    }
    ctx.metrics.set_leader(true);
    let lost = lead(elector, ctx.clone(), shutdown).await;
    ctx.metrics.set_leader(false);
    lost
}

/// The leader's part of [`run_as_leader`]: runs the controllers while the Lease is held.
async fn lead(
    elector: &LeaderElector,
    ctx: Arc<Context>,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> bool {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let controllers = async {
        tokio::join!(run_tenants(ctx.clone(), stopped(stop_rx.clone())), run_devices(ctx.clone(), stopped(stop_rx)));
    };
    let mut controllers = std::pin::pin!(controllers);
    let lost = tokio::select! {
        () = &mut controllers => false,
        () = elector.hold() => true,
        () = &mut shutdown => false,
    };
    if lost {
        return true;
    }
    let _ = stop_tx.send(true);
    // Keep renewing while the controllers drain: a lapsed Lease would let the next leader
    // start while a reconcile here is still writing.
    let lost = tokio::select! {
        () = &mut controllers => false,
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("reconciles still running after the shutdown grace; stopping them");
            false
        }
        () = elector.hold() => true,
    };
    if lost {
        return true;
    }
    match elector.release().await {
        Ok(()) => tracing::info!("released the leader Lease"),
        Err(e) => tracing::warn!(error = %e, "cannot release the leader Lease"),
    }
    false
}
