//! Tenant reconciler: namespace, app tenant, API key Secret, dedicated app, status.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};

use super::{Context, RESYNC, TENANT_FINALIZER, apply, delete_if_exists, namespace, status, stores, webhooks};
use crate::crd::{Device, Tenant, TenantStatus};
use crate::desired::tenant::{self as desired, API_KEY_FIELD, API_KEY_SECRET, DedicatedInputs, LEGACY_DEDICATED_APP};
use crate::error::{Error, Result};

/// Reconciles one Tenant (entry point for the controller).
pub async fn reconcile(tenant: Arc<Tenant>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile("tenant");
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    let result = finalizer(&api, TENANT_FINALIZER, tenant.clone(), |event| async {
        match event {
            Finalizer::Apply(tenant) => apply_tenant(&tenant, &ctx).await,
            Finalizer::Cleanup(tenant) => cleanup(&tenant, &ctx).await,
        }
    })
    .await
    .map_err(Error::from);
    match &result {
        Ok(_) => ctx.reset_failures("tenant", tenant.as_ref()),
        Err(error) => report_failure(&api, &tenant, error, &ctx).await,
    }
    result
}

async fn report_failure(api: &Api<Tenant>, tenant: &Tenant, error: &Error, ctx: &Context) {
    // Build on the stored status: this reconcile may have written part of it (e.g. Provisioned).
    let current = api.get_opt(&tenant.name_any()).await.ok().flatten();
    let base = current.as_ref().unwrap_or(tenant);
    let old = base.status.clone().unwrap_or_default();
    let mut new = old.clone();
    status::failed(&mut new.conditions, tenant.metadata.generation.unwrap_or(0), error);
    if let Err(e) = status::write(api, base, Some(&old), &new).await {
        tracing::warn!(error = %e, "cannot write failure status");
    }
    ctx.event(tenant, EventType::Warning, "ReconcileFailed", error.to_string()).await;
}

async fn apply_tenant(tenant: &Tenant, ctx: &Context) -> Result<Action> {
    let api: Api<Tenant> = Api::all(ctx.client.clone());
    let name = tenant.name_any();
    let generation = tenant.metadata.generation.unwrap_or(0);
    let old = tenant.status.clone().unwrap_or_default();
    let mut new = old.clone();

    if tenant.spec.paused {
        if !old.conditions.iter().any(|c| c.type_ == crate::crd::RECONCILIATION_PAUSED) {
            ctx.event(tenant, EventType::Normal, "ReconciliationPaused", "spec.paused is true".into()).await;
        }
        status::paused(&mut new.conditions, generation);
        status::write(&api, tenant, Some(&old), &new).await?;
        return Ok(Action::await_change());
    }
    status::unpaused(&mut new.conditions);

    if namespace::foreign(ctx, tenant).await?.is_some() {
        return namespace::refuse(tenant, ctx, &old, new).await;
    }
    namespace::resolved(&mut new.conditions);
    let namespace = desired::namespace_name(&name);
    apply(&Api::<Namespace>::all(ctx.client.clone()), &desired::namespace(tenant)).await?;

    let mut request = desired::app_request(tenant, &ctx.config.plan_defaults);
    if desired::leaves_api_limits_unset(&request)
        && let Some(current) = ctx.app.get_tenant(&name).await?
    {
        desired::keep_api_limits(&mut request, &current.limits);
    }
    let view = ctx.app.put_tenant(&name, &request).await?;

    let provisioned = format!("tenant is {} in the app on plan {}", view.status, view.plan);
    status::provisioned(&mut new.conditions, generation, &provisioned);
    let mut applied_webhooks = old.applied_webhooks.clone();
    let served = match serve(tenant, ctx, &namespace, view.api_key).await {
        Ok((endpoint, devices, key)) => match stores::sync(tenant, ctx, &namespace, &key, &old.applied_stores).await {
            Ok(stores) => webhooks::sync(tenant, ctx, &namespace, &key, &mut applied_webhooks)
                .await
                .map(|()| (endpoint, devices, stores)),
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    // Endpoints created or deleted before a failure are recorded, so none is forgotten.
    new.webhooks = webhooks::in_place(tenant, &applied_webhooks);
    new.applied_webhooks = applied_webhooks;
    let (endpoint, devices, applied_stores) = match served {
        Ok(served) => served,
        Err(error) => {
            // Record what did succeed; the caller then marks Ready=False on top of it.
            status::write(&api, tenant, Some(&old), &new).await?;
            return Err(error);
        }
    };
    if old.endpoint.is_some() && old.endpoint != endpoint {
        let note = format!("now served at {}", endpoint.as_deref().unwrap_or("the shared app"));
        ctx.event(tenant, EventType::Normal, "IsolationChanged", note).await;
    }
    new = TenantStatus {
        namespace: Some(namespace),
        api_key_secret: Some(API_KEY_SECRET.into()),
        endpoint,
        devices,
        observed_generation: Some(generation),
        applied_stores,
        ..new
    };
    status::succeeded(
        &mut new.conditions,
        generation,
        &provisioned,
        "namespace, API key, serving objects, declared stores and webhook endpoints are in place",
    );
    status::write(&api, tenant, Some(&old), &new).await?;
    Ok(Action::requeue(RESYNC))
}

/// Everything after the app knows the tenant: API key Secret, dedicated app, device count.
/// Returns the endpoint, the number of Devices and the tenant's API key.
async fn serve(
    tenant: &Tenant,
    ctx: &Context,
    namespace: &str,
    issued_key: Option<String>,
) -> Result<(Option<String>, i32, String)> {
    let name = tenant.name_any();
    let endpoint = desired::endpoint(tenant, ctx.config.shared_endpoint.as_deref(), &ctx.config.namespace);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let api_key = match issued_key {
        Some(key) => {
            ctx.event(
                tenant,
                EventType::Normal,
                "ApiKeyIssued",
                format!("the app issued an API key, stored in Secret {namespace}/{API_KEY_SECRET}"),
            )
            .await;
            key
        }
        None => match existing_key(&secrets).await? {
            Some(key) => key,
            None => {
                // The key is shown only once; with the Secret gone the only way back is a new one.
                let key = ctx.app.rotate_api_key(&name).await?;
                let note = format!(
                    "Secret {namespace}/{API_KEY_SECRET} was missing: rotated the API key \
                     (previous keys stopped working) and stored the new one"
                );
                ctx.event(tenant, EventType::Warning, "ApiKeyRotated", note).await;
                key
            }
        },
    };
    apply(&secrets, &desired::api_key_secret(tenant, &api_key, endpoint.as_deref())).await?;

    reconcile_dedicated(tenant, ctx, namespace).await?;

    let devices = Api::<Device>::namespaced(ctx.client.clone(), namespace).list(&ListParams::default()).await?;
    Ok((endpoint, i32::try_from(devices.items.len()).unwrap_or(i32::MAX), api_key))
}

async fn existing_key(secrets: &Api<Secret>) -> Result<Option<String>> {
    let Some(secret) = secrets.get_opt(API_KEY_SECRET).await? else { return Ok(None) };
    let key = secret.data.and_then(|d| d.get(API_KEY_FIELD).map(|v| String::from_utf8_lossy(&v.0).into_owned()));
    Ok(key.filter(|k| !k.is_empty()))
}

/// Applies the dedicated app's objects in the operator's namespace, or deletes them when
/// the tenant is shared; either way deletes what older operators put in `namespace`.
async fn reconcile_dedicated(tenant: &Tenant, ctx: &Context, namespace: &str) -> Result<()> {
    remove_legacy(ctx, namespace).await?;
    let client = ctx.client.clone();
    let home = &ctx.config.namespace;
    let name = desired::dedicated_app_name(&tenant.name_any());
    let env_name = &ctx.config.app_env_secret;
    if tenant.spec.isolation != crate::crd::Isolation::Dedicated {
        if remove_app(ctx, home, &name).await? {
            ctx.event(tenant, EventType::Normal, "DedicatedAppRemoved", "tenant is shared again".into()).await;
        }
        return Ok(());
    }
    if Api::<Secret>::namespaced(client.clone(), home).get_opt(env_name).await?.is_none() {
        // Without it the pods could not start; say so on the Tenant instead of deploying them broken.
        return Err(Error::Config(format!(
            "Secret {home}/{env_name}, the dedicated app's environment, does not exist"
        )));
    }
    let inputs = DedicatedInputs {
        defaults: &ctx.config.plan_defaults,
        image: &ctx.config.app_image,
        namespace: home,
        env_secret_name: env_name,
        app: &ctx.config.dedicated_app,
    };
    let Some(objects) = desired::dedicated(tenant, inputs) else { return Ok(()) };
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), home);
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), home);
    let created = deployments.get_opt(&name).await?.is_none();
    apply(&deployments, &objects.deployment).await?;
    apply(&Api::<Service>::namespaced(client.clone(), home), &objects.service).await?;
    apply(&Api::<HorizontalPodAutoscaler>::namespaced(client, home), &objects.hpa).await?;
    if let Some(policy) = &objects.network_policy {
        apply(&policies, policy).await?;
    } else {
        delete_if_exists(&policies, &name).await?;
    }
    if created {
        let note = format!("Deployment, Service and HPA {name} in {home}");
        ctx.event(tenant, EventType::Normal, "DedicatedAppCreated", note).await;
    }
    Ok(())
}

/// Deletes the dedicated app objects called `name` in `namespace`; true if there were any.
async fn remove_app(ctx: &Context, namespace: &str, name: &str) -> Result<bool> {
    let client = ctx.client.clone();
    let mut removed = false;
    removed |= delete_if_exists(&Api::<NetworkPolicy>::namespaced(client.clone(), namespace), name).await?;
    removed |= delete_if_exists(&Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), namespace), name).await?;
    removed |= delete_if_exists(&Api::<Service>::namespaced(client.clone(), namespace), name).await?;
    removed |= delete_if_exists(&Api::<Deployment>::namespaced(client, namespace), name).await?;
    Ok(removed)
}

/// Older operators ran a dedicated app in the tenant's namespace with a copy of the app
/// env Secret (the admin token and database URL within reach of whoever reads that
/// namespace): delete the copy and those objects.
async fn remove_legacy(ctx: &Context, namespace: &str) -> Result<()> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let copy = delete_if_exists(&secrets, &ctx.config.app_env_secret).await?;
    let app = remove_app(ctx, namespace, LEGACY_DEDICATED_APP).await?;
    if copy || app {
        tracing::info!(namespace, "removed the dedicated app and env Secret copy an older operator left there");
    }
    Ok(())
}

async fn cleanup(tenant: &Tenant, ctx: &Context) -> Result<Action> {
    let name = tenant.name_any();
    // Whatever else happens, a namespace that is not the operator's is not deleted with the Tenant.
    namespace::keep_if_foreign(tenant, ctx).await?;
    if tenant.spec.paused {
        let note = "deleted while paused: the tenant was left as it is in the app".to_owned();
        ctx.event(tenant, EventType::Normal, "DeletedWhilePaused", note).await;
        return Ok(Action::await_change());
    }
    ctx.app.deactivate_tenant(&name).await?;
    let note = format!("deactivated in the app; namespace {} goes with the Tenant", desired::namespace_name(&name));
    ctx.event(tenant, EventType::Normal, "Deactivated", note).await;
    Ok(Action::await_change())
}
