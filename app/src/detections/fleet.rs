//! The device fleet of this replica: finds a device's actor, activating it
//! (with its memory loaded from the database) on first use, and hands it
//! detections and decisions within its mailbox bound and deadline.
//!
//! An actor keeps its device's store and owner, so a [`Change::Device`] (a
//! move, a re-registration, a revocation) from any replica drops it and the
//! next request starts from the database. While change notices could be
//! missed, every request checks the actor's device against the database and
//! replaces an actor whose device moved.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use actix::Actor;

use crate::actors::Entry;
use crate::auth::DeviceCaller;
use crate::changes::{Change, ChangeSink};
use crate::detections::activation::{Activation, ActivationLoader, Sources};
use crate::detections::actor::{Decide, Detect, DeviceActor, DeviceDeps, Recheck, TakeSlot};
use crate::error::Error;
use crate::intents::decision::{DecisionRequest, DecisionResponse};
use crate::intents::model::{DetectionRequest, DetectionResponse};
use crate::limits::report::LimitReport;
use crate::orders::actor::mailbox_error;

/// One request the device's rate limit already admitted, for
/// [`DeviceFleet::detect_admitted`]; only [`DeviceFleet::take_slot`] makes one.
#[derive(Debug)]
#[must_use]
pub struct Slot(());

/// Whether a detection still has to pass the device's rate limit.
enum Admission {
    /// A [`Slot`] was taken for it.
    Taken,
    /// It is checked on arrival; where the limit stands goes into the report.
    Check(LimitReport),
}

/// The device actors of this replica.
pub struct DeviceFleet {
    deps: Arc<DeviceDeps>,
    /// Loads new actors' state in batches.
    loader: ActivationLoader,
    /// False while change notices could be missed.
    trusted: AtomicBool,
    /// Ticks before actors are forgotten for a change, so an activation that
    /// loaded the device before the change does not outlive it.
    forgets: AtomicU64,
}

impl DeviceFleet {
    /// A fleet whose actors start lazily on first use.
    pub fn new(deps: DeviceDeps) -> Self {
        let loader = ActivationLoader::spawn(Sources {
            db: deps.db.clone(),
            tenants: deps.tenants.clone(),
            clock: deps.clock.clone(),
            metrics: deps.metrics.clone(),
        });
        Self { deps: Arc::new(deps), loader, trusted: AtomicBool::new(true), forgets: AtomicU64::new(0) }
    }

    async fn activate(&self, caller: &DeviceCaller) -> Result<Entry<DeviceActor>, Error> {
        let key = (caller.tenant_id.to_string(), caller.device_id.to_string());
        let live = self.deps.registry.get(&key);
        if let Some(entry) = &live
            && self.trusted.load(Ordering::Acquire)
        {
            return Ok(entry.clone());
        }
        let forgets = self.forgets.load(Ordering::Acquire);
        let deps = &self.deps;
        if let Some(entry) = live {
            // The device may have moved without this replica hearing of it.
            let device = crate::devices::repo::context(&deps.db, &caller.scope()).await?.ok_or(Error::Unauthorized)?;
            if entry.addr.send(Recheck(device)).await.unwrap_or(false) {
                return Ok(entry);
            }
        }
        // Loaded outside the registry lock, batched with other activations; if
        // another request activated it meanwhile, theirs wins.
        let Activation { device, memory, quota_per_minute } =
            self.loader.load(caller.scope()).await?.ok_or(Error::Unauthorized)?;
        let deps = deps.clone();
        let entry = self.deps.registry.get_or_start(&key, move |generation| {
            DeviceActor::new(device, deps, generation, quota_per_minute, memory).start()
        })?;
        if self.forgets.load(Ordering::Acquire) != forgets {
            // A change came in while this actor loaded; it may hold the device as it
            // was. It serves this request (which raced the change); the next one reloads.
            self.deps.registry.forget(&key);
        }
        Ok(entry)
    }

    /// Sends a detection to the device's actor, recording into `report`
    /// where the device's rate limit stands after it.
    pub async fn detect(
        &self,
        caller: &DeviceCaller,
        request: DetectionRequest,
        report: &LimitReport,
    ) -> Result<DetectionResponse, Error> {
        self.send_detection(caller, request, Admission::Check(report.clone())).await
    }

    /// Takes one request from the device's rate limit (429 when it is used
    /// up), for a detection that costs something before it is known, such as
    /// a frame the model provider must classify first.
    pub async fn take_slot(&self, caller: &DeviceCaller, report: &LimitReport) -> Result<Slot, Error> {
        let entry = self.activate(caller).await?;
        let _inflight = self.admit(&entry)?;
        entry
            .addr
            .send(TakeSlot(report.clone()))
            .timeout(self.deps.settings.answer_timeout)
            .await
            .map_err(mailbox_error)??;
        Ok(Slot(()))
    }

    /// Sends a detection whose request [`DeviceFleet::take_slot`] already took.
    pub async fn detect_admitted(
        &self,
        caller: &DeviceCaller,
        _slot: Slot,
        request: DetectionRequest,
    ) -> Result<DetectionResponse, Error> {
        self.send_detection(caller, request, Admission::Taken).await
    }

    async fn send_detection(
        &self,
        caller: &DeviceCaller,
        request: DetectionRequest,
        admission: Admission,
    ) -> Result<DetectionResponse, Error> {
        let (admitted, report) = match admission {
            Admission::Taken => (true, LimitReport::default()),
            Admission::Check(report) => (false, report),
        };
        let now = self.deps.clock.now();
        request.validate(now)?;
        let entry = self.activate(caller).await?;
        let _slot = self.admit(&entry)?;
        entry
            .addr
            .send(Detect { request, now, admitted, report })
            .timeout(self.deps.settings.answer_timeout)
            .await
            .map_err(mailbox_error)?
    }

    /// Sends a decision to the device's actor, recording into `report`
    /// where the device's rate limit stands after it.
    pub async fn decide(
        &self,
        caller: &DeviceCaller,
        request: DecisionRequest,
        report: &LimitReport,
    ) -> Result<DecisionResponse, Error> {
        let now = self.deps.clock.now();
        crate::intents::model::check_device_time("decided_at_ms", request.decided_at_ms, now)?;
        let entry = self.activate(caller).await?;
        let _slot = self.admit(&entry)?;
        entry
            .addr
            .send(Decide { request, now, report: report.clone() })
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
}

impl ChangeSink for DeviceFleet {
    fn apply(&self, change: &Change) {
        // Limits and catalog are read from the tenant snapshot on every request,
        // and the memory of cooldowns stays right when the cooldown changes.
        if let Change::Device { tenant, device } = change {
            self.forgets.fetch_add(1, Ordering::AcqRel);
            self.deps.registry.forget(&(tenant.clone(), device.clone()));
        }
    }

    fn forget_all(&self) {
        self.forgets.fetch_add(1, Ordering::AcqRel);
        self.deps.registry.forget_all();
    }

    fn set_trusted(&self, trusted: bool) {
        self.trusted.store(trusted, Ordering::Release);
    }
}
