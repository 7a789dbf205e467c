//! The replenishment loop's shared services: actor registries, the tenant
//! snapshot cache, order placement and the background sweeper.

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, MailboxError};
use chrono::Utc;
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::actors::{Entry, Registry, spawn_periodic};
use crate::auth::DeviceCaller;
use crate::devices::entity as device_entity;
use crate::error::Error;
use crate::intents::actor::{Decide, Detect, DeviceActor};
use crate::intents::decision::{DecisionRequest, DecisionResponse};
use crate::intents::entity::intent;
use crate::intents::model::DetectionRequest;
use crate::intents::repo::{self, DeviceContext};
use crate::intents::writer::DetectionWriter;
use crate::orders::actor::{PlaceOrder, StoreActor};
use crate::orders::commerce::{OrderRequest, provider_for, submit_with_timeout};
use crate::orders::entity::order;
use crate::orders::model::OrderView;
use crate::stores::model::CommerceSettings;
use crate::stores::model::CommerceSettingsExt as _;
use crate::telemetry::Metrics;
use crate::tenants::cache::TenantCache;

/// Tunables of the loop.
#[derive(Debug, Clone)]
pub struct LoopSettings {
    /// Idle time after which an actor passivates.
    pub idle_timeout: Duration,
    /// Most requests queued or in flight per actor; more get 503.
    pub mailbox_capacity: usize,
    /// The same for a store actor, which every device of the store shares.
    pub store_mailbox_capacity: usize,
    /// Deadline for one commerce-provider call.
    pub commerce_timeout: Duration,
    /// Deadline for an actor to answer a request.
    pub actor_timeout: Duration,
    /// How often the sweeper expires intents and resubmits stuck orders.
    pub sweep_interval: Duration,
}

type Key = (String, String);

/// How often the SQLite WAL is checkpointed.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Everything the loop's actors and routes share.
pub struct Services {
    /// The database.
    pub db: DatabaseConnection,
    /// Tenant limits and catalogs.
    pub tenants: TenantCache,
    /// Group commit for settled detections.
    pub writer: DetectionWriter,
    /// Live device actors.
    pub devices: Registry<Key, DeviceActor>,
    /// Live store actors.
    pub stores: Registry<Key, StoreActor>,
    /// Tunables.
    pub settings: LoopSettings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

fn mailbox_error(err: MailboxError) -> Error {
    match err {
        MailboxError::Timeout => Error::Overloaded("device"),
        MailboxError::Closed => Error::Unavailable("the actor stopped; retry".into()),
    }
}

impl Services {
    /// Builds the services; actors start lazily on first use.
    pub fn new(db: DatabaseConnection, settings: LoopSettings, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            writer: DetectionWriter::spawn(db.clone(), metrics.clone()),
            db,
            tenants: TenantCache::new(Duration::from_secs(2)),
            devices: Registry::default(),
            stores: Registry::default(),
            settings,
            metrics,
        })
    }

    async fn device(self: &Arc<Self>, caller: &DeviceCaller) -> Result<Entry<DeviceActor>, Error> {
        let key = (caller.tenant_id.to_string(), caller.device_id.to_string());
        if let Some(entry) = self.devices.get(&key) {
            return Ok(entry);
        }
        // Load outside the registry lock; if another request activated it meanwhile, theirs wins.
        let row = device_entity::Entity::find_by_id(key.clone()).one(&self.db).await?.ok_or(Error::Unauthorized)?;
        let device =
            DeviceContext { tenant_id: row.tenant_id, device_id: row.id, store_id: row.store_id, owner: row.owner };
        let snapshot = self.tenants.get(&self.db, &device.tenant_id).await?;
        let cooldown = chrono::Duration::seconds(i64::from(snapshot.limits.cooldown_seconds));
        let memory = repo::load_memory(&self.db, &device, cooldown, Utc::now()).await?;
        let services = self.clone();
        let quota = snapshot.limits.device_per_minute;
        self.devices
            .get_or_start(&key, move |generation| DeviceActor::new(device, services, generation, quota, memory).start())
    }

    /// Sends a detection to the device's actor.
    pub async fn detect(
        self: &Arc<Self>,
        caller: &DeviceCaller,
        request: DetectionRequest,
    ) -> Result<crate::intents::model::DetectionResponse, Error> {
        let now = crate::db::now();
        request.validate(now)?;
        let entry = self.device(caller).await?;
        let _slot = entry
            .reserve(self.settings.mailbox_capacity, "device")
            .inspect_err(|_| self.metrics.mailbox_full("device"))?;
        entry.addr.send(Detect { request, now }).timeout(self.settings.actor_timeout).await.map_err(mailbox_error)?
    }

    /// Sends a decision to the device's actor.
    pub async fn decide(
        self: &Arc<Self>,
        caller: &DeviceCaller,
        request: DecisionRequest,
    ) -> Result<DecisionResponse, Error> {
        let now = crate::db::now();
        crate::intents::model::check_device_time("decided_at_ms", request.decided_at_ms, now)?;
        let entry = self.device(caller).await?;
        let _slot = entry
            .reserve(self.settings.mailbox_capacity, "device")
            .inspect_err(|_| self.metrics.mailbox_full("device"))?;
        entry.addr.send(Decide { request, now }).timeout(self.settings.actor_timeout).await.map_err(mailbox_error)?
    }

    /// Places an accepted intent's order through its store's actor.
    pub async fn place_order(
        self: &Arc<Self>,
        device: &DeviceContext,
        order: order::Model,
    ) -> Result<(intent::Model, OrderView), Error> {
        let key = (device.tenant_id.clone(), order.store_id.clone());
        let services = self.clone();
        let store_key = key.clone();
        let entry = self
            .stores
            .get_or_start(&key, move |generation| StoreActor::new(store_key, services, generation).start())?;
        let _slot = entry
            .reserve(self.settings.store_mailbox_capacity, "store")
            .inspect_err(|_| self.metrics.mailbox_full("store"))?;
        let deadline = self.settings.commerce_timeout + self.settings.actor_timeout;
        entry.addr.send(PlaceOrder { order }).timeout(deadline).await.map_err(mailbox_error)?
    }

    /// Submits an order to its store's provider and records the answer, once.
    pub async fn submit(&self, order: &order::Model) -> Result<(intent::Model, order::Model), Error> {
        let store = crate::stores::repo::find(&self.db, &order.tenant_id, &order.store_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("store {} is gone", order.store_id)))?;
        let settings = CommerceSettings::from_stored(&store.commerce_provider, &store.commerce_settings)?;
        crate::orders::repo::mark_submitted(&self.db, order, crate::db::now()).await?;
        let request = OrderRequest {
            order_id: order.id,
            sku: order.sku.clone(),
            quantity: 1,
            total_cents: order.total_cents,
            timezone: store.timezone,
            placed_at: order.created_at,
        };
        let provider = provider_for(&settings);
        let outcome = submit_with_timeout(provider.as_ref(), &request, self.settings.commerce_timeout).await;
        if let Err(err) = &outcome {
            tracing::warn!(order = %order.id, error = %err, "order failed");
        }
        let (intent, order) = crate::orders::repo::finish(&self.db, order, &outcome, crate::db::now()).await?;
        self.metrics.order(&order.status);
        Ok((intent, order))
    }

    /// Expires lapsed intents and resubmits orders whose placement was cut
    /// short (a replica died between accepting and hearing from the provider).
    pub async fn sweep(&self) -> Result<(), Error> {
        let now = crate::db::now();
        repo::expire_all_lapsed(&self.db, now).await?;
        let stale = now - chrono::Duration::from_std(self.settings.commerce_timeout * 2).unwrap_or_default();
        for order in crate::orders::repo::unfinished(&self.db, stale).await? {
            self.submit(&order).await?;
        }
        Ok(())
    }

    /// On SQLite, checkpoints the WAL every half second in the background, so
    /// no detection batch stalls on a checkpoint; stops with the services.
    pub fn spawn_checkpointer(self: &Arc<Self>) {
        if self.db.get_database_backend() != sea_orm::DbBackend::Sqlite {
            return;
        }
        spawn_periodic(self, CHECKPOINT_INTERVAL, |services| async move {
            if let Err(err) = crate::db::checkpoint(&services.db).await {
                tracing::warn!(error = %err, "WAL checkpoint failed");
            }
        });
    }

    /// Runs [`Services::sweep`] every `sweep_interval` until the process ends.
    pub fn spawn_sweeper(self: &Arc<Self>) {
        spawn_periodic(self, self.settings.sweep_interval, |services| async move {
            if let Err(err) = services.sweep().await {
                tracing::warn!(error = %err, "sweep failed");
            }
        });
    }
}
