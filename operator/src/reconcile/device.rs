//! Device reconciler: app registration, credentials Secret, status.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};

use super::{Context, DEVICE_FINALIZER, RESYNC, apply, status};
use crate::crd::{Device, DeviceStatus, RECONCILIATION_PAUSED};
use crate::desired::device::{self as desired, TOKEN_FIELD};
use crate::error::{Error, Result};

/// Reconciles one Device (entry point for the controller).
pub async fn reconcile(device: Arc<Device>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile("device");
    let namespace = device.namespace().unwrap_or_default();
    let api: Api<Device> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, DEVICE_FINALIZER, device.clone(), |event| async {
        match event {
            Finalizer::Apply(device) => apply_device(&device, &ctx).await,
            Finalizer::Cleanup(device) => cleanup(&device, &ctx).await,
        }
    })
    .await
    .map_err(Error::from);
    match &result {
        Ok(_) => ctx.reset_failures("device", device.as_ref()),
        Err(error) => {
            let old = device.status.clone().unwrap_or_default();
            let mut new = old.clone();
            status::failed(&mut new.conditions, device.metadata.generation.unwrap_or(0), error);
            if let Err(e) = status::write(&api, device.as_ref(), Some(&old), &new).await {
                tracing::warn!(error = %e, "cannot write failure status");
            }
            ctx.event(device.as_ref(), EventType::Warning, "ReconcileFailed", error.to_string()).await;
        }
    }
    result
}

async fn apply_device(device: &Device, ctx: &Context) -> Result<Action> {
    let name = device.name_any();
    let namespace = device.namespace().unwrap_or_default();
    let api: Api<Device> = Api::namespaced(ctx.client.clone(), &namespace);
    let generation = device.metadata.generation.unwrap_or(0);
    let old = device.status.clone().unwrap_or_default();
    let mut new = old.clone();

    if device.spec.paused {
        if !old.conditions.iter().any(|c| c.type_ == RECONCILIATION_PAUSED) {
            ctx.event(device, EventType::Normal, "ReconciliationPaused", "spec.paused is true".into()).await;
        }
        status::paused(&mut new.conditions, generation);
        status::write(&api, device, Some(&old), &new).await?;
        return Ok(Action::await_change());
    }
    status::unpaused(&mut new.conditions);

    let tenant = desired::tenant_of(device)?;
    let request = desired::app_request(device)?;
    let mut view = ctx.app.put_device(&tenant, &name, &request).await?;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let secret_name = desired::credentials_secret_name(&name);
    let mut registered_at = old.registered_at.clone();

    let token = match view.token.take() {
        Some(token) => {
            ctx.event(
                device,
                EventType::Normal,
                "Registered",
                format!("registered in tenant {tenant}; token in Secret {secret_name}"),
            )
            .await;
            registered_at = Some(crate::crd::condition_now());
            token
        }
        None => match existing_token(&secrets, &secret_name).await? {
            Some(token) => token,
            None => {
                // The app shows a token once: revoke and register again to get a new one.
                ctx.app.revoke_device(&tenant, &name).await?;
                let reissued = ctx.app.put_device(&tenant, &name, &request).await?;
                let token = reissued
                    .token
                    .ok_or_else(|| Error::AppProtocol("re-registering a revoked device returned no token".into()))?;
                let note = format!(
                    "Secret {secret_name} was missing: revoked the device and registered it again with a new token"
                );
                ctx.event(device, EventType::Warning, "CredentialsReissued", note).await;
                registered_at = Some(crate::crd::condition_now());
                token
            }
        },
    };
    apply(&secrets, &desired::credentials_secret(device, &tenant, &token)).await?;

    new = DeviceStatus {
        credentials_secret: Some(secret_name),
        registered_at: registered_at.or(Some(view.created_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))),
        observed_generation: Some(generation),
        ..new
    };
    status::succeeded(
        &mut new.conditions,
        generation,
        &format!("device is {} in tenant {tenant}", view.status),
        "registered; credentials Secret in place",
    );
    status::write(&api, device, Some(&old), &new).await?;
    Ok(Action::requeue(RESYNC))
}

async fn existing_token(secrets: &Api<Secret>, name: &str) -> Result<Option<String>> {
    let Some(secret) = secrets.get_opt(name).await? else { return Ok(None) };
    let token = secret.data.and_then(|d| d.get(TOKEN_FIELD).map(|v| String::from_utf8_lossy(&v.0).into_owned()));
    Ok(token.filter(|t| !t.is_empty()))
}

async fn cleanup(device: &Device, ctx: &Context) -> Result<Action> {
    if device.spec.paused {
        let note = "deleted while paused: the device was left as it is in the app".to_owned();
        ctx.event(device, EventType::Normal, "DeletedWhilePaused", note).await;
        return Ok(Action::await_change());
    }
    // A Device outside a tenant namespace was never registered: nothing to revoke.
    if let Ok(tenant) = desired::tenant_of(device) {
        ctx.app.revoke_device(&tenant, &device.name_any()).await?;
        ctx.event(device, EventType::Normal, "Revoked", format!("token revoked in tenant {tenant}")).await;
    }
    Ok(Action::await_change())
}
