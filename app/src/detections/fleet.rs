//! The device fleet of this replica: finds a device's actor, activating it
//! (with its memory loaded from the database) on first use, and hands it
//! detections and decisions within its mailbox bound and deadline.

use std::sync::Arc;

use actix::Actor;

use crate::actors::Entry;
use crate::auth::DeviceCaller;
use crate::detections::actor::{Decide, Detect, DeviceActor, DeviceDeps};
use crate::error::Error;
use crate::intents::decision::{DecisionRequest, DecisionResponse};
use crate::intents::model::{DetectionRequest, DetectionResponse};
use crate::orders::actor::mailbox_error;

/// The device actors of this replica.
pub struct DeviceFleet {
    deps: Arc<DeviceDeps>,
}

impl DeviceFleet {
    /// A fleet whose actors start lazily on first use.
    pub fn new(deps: DeviceDeps) -> Self {
        Self { deps: Arc::new(deps) }
    }

    async fn activate(&self, caller: &DeviceCaller) -> Result<Entry<DeviceActor>, Error> {
        let key = (caller.tenant_id.to_string(), caller.device_id.to_string());
        if let Some(entry) = self.deps.registry.get(&key) {
            return Ok(entry);
        }
        // Load outside the registry lock; if another request activated it meanwhile, theirs wins.
        let deps = &self.deps;
        let device = crate::devices::repo::context(&deps.db, &caller.scope()).await?.ok_or(Error::Unauthorized)?;
        let snapshot = deps.tenants.get(&device.tenant_id).await?;
        let cooldown = chrono::Duration::seconds(i64::from(snapshot.limits.cooldown_seconds));
        let memory = crate::detections::repo::load_memory(&deps.db, &device, cooldown, crate::db::now()).await?;
        let quota = snapshot.limits.device_per_minute;
        let deps = deps.clone();
        self.deps
            .registry
            .get_or_start(&key, move |generation| DeviceActor::new(device, deps, generation, quota, memory).start())
    }

    /// Sends a detection to the device's actor.
    pub async fn detect(&self, caller: &DeviceCaller, request: DetectionRequest) -> Result<DetectionResponse, Error> {
        let now = crate::db::now();
        request.validate(now)?;
        let entry = self.activate(caller).await?;
        let _slot = self.admit(&entry)?;
        entry
            .addr
            .send(Detect { request, now })
            .timeout(self.deps.settings.answer_timeout)
            .await
            .map_err(mailbox_error)?
    }

    /// Sends a decision to the device's actor.
    pub async fn decide(&self, caller: &DeviceCaller, request: DecisionRequest) -> Result<DecisionResponse, Error> {
        let now = crate::db::now();
        crate::intents::model::check_device_time("decided_at_ms", request.decided_at_ms, now)?;
        let entry = self.activate(caller).await?;
        let _slot = self.admit(&entry)?;
        entry
            .addr
            .send(Decide { request, now })
            .timeout(self.deps.settings.answer_timeout)
            .await
            .map_err(mailbox_error)?
    }

    fn admit(&self, entry: &Entry<DeviceActor>) -> Result<crate::limits::mailbox::InflightGuard, Error> {
        entry
            .admission
            .reserve(self.deps.settings.mailbox_capacity, "device")
            .inspect_err(|_| self.deps.metrics.mailbox_full("device"))
    }

    /// Drops the device's actor, so its next request starts from the
    /// database (after a move, a revocation or a re-registration).
    pub fn forget(&self, tenant: &str, device: &str) {
        self.deps.registry.forget(&(tenant.to_owned(), device.to_owned()));
    }
}
