//! The application state every handler can reach through
//! `web::Data<AppState>`: the services the HTTP edge calls into. It sits
//! below the routes and above the domain; nothing in the domain imports it.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::credentials::CredentialCache;
use crate::changes::Invalidator;
use crate::clock::Clock;
use crate::db::scope::TenantScope;
use crate::detections::fleet::DeviceFleet;
use crate::limits::client_ip::ClientIpPolicy;
use crate::limits::requests::Limiter;
use crate::orders::lifecycle::OrderLifecycle;
use crate::tasks::TaskScope;
use crate::tenants::cache::TenantCache;

/// Whom one running application serves.
#[derive(Debug, Clone)]
pub enum Audience {
    /// Every tenant, and the platform admin holding the token of this hash.
    Platform {
        /// Hex SHA-256 of the platform admin token.
        admin_token_hash: String,
    },
    /// One dedicated tenant alone (`REPLENISH_DEDICATED_TENANT`): no admin, and
    /// credentials of every other tenant are refused.
    Dedicated(TenantScope),
}

impl Audience {
    /// The tenant of a dedicated app, `None` for the platform's app.
    pub fn dedicated_tenant(&self) -> Option<&TenantScope> {
        match self {
            Self::Platform { .. } => None,
            Self::Dedicated(tenant) => Some(tenant),
        }
    }
}

/// Shared state of one running application.
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// Whom this app serves: the platform (with its admin), or one dedicated tenant.
    pub audience: Audience,
    /// Redis pool, when `REDIS_URL` is set.
    pub redis: Option<deadpool_redis::Pool>,
    /// Tenant limits and catalogs, cached per replica.
    pub tenants: Arc<TenantCache>,
    /// The device actors: detections and decisions go through them.
    pub devices: Arc<DeviceFleet>,
    /// Status reports and cancellations of placed orders.
    pub orders: Arc<OrderLifecycle>,
    /// IP and tenant rate limits.
    pub limiter: Limiter,
    /// Credentials the database confirmed recently.
    pub credentials: Arc<CredentialCache>,
    /// Where a request's client address comes from, for the per-IP limit.
    pub client_ip: ClientIpPolicy,
    /// Applies committed changes to the caches above, this replica's and (by
    /// listening) every other replica's.
    pub changes: Arc<Invalidator>,
    /// Background work (sweeper, WAL checkpoints) that stops with the state.
    pub tasks: TaskScope,
    /// The time every handler and service reads (manual in tests).
    pub clock: Clock,
    /// Which merchant URLs a store may name (checked again at every call).
    pub merchant_urls: crate::outbound::UrlPolicy,
}
