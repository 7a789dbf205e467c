//! Who a request acts as, and the extractors that hand the caller to handlers.
//! The [`middleware`](crate::auth::middleware) stored it in the request's
//! extensions; an extractor only reads it back.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::db::scope::{DeviceScope, TenantScope};
use crate::error::Error;
use crate::http::ResourceId;

/// An authenticated merchant: requests act on this tenant only.
#[derive(Debug, Clone)]
pub struct Merchant {
    /// The tenant the API key belongs to.
    pub tenant_id: ResourceId,
}

/// An authenticated device.
#[derive(Debug, Clone)]
pub struct DeviceCaller {
    /// The device's tenant.
    pub tenant_id: ResourceId,
    /// The device itself.
    pub device_id: ResourceId,
}

/// The platform admin.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// Whoever the middleware authenticated.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The platform admin.
    Admin,
    /// A merchant.
    Merchant(Merchant),
    /// A device.
    Device(DeviceCaller),
}

fn caller(req: &HttpRequest) -> Result<Caller, Error> {
    req.extensions().get::<Caller>().cloned().ok_or(Error::Unauthorized)
}

impl FromRequest for Caller {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller(req))
    }
}

impl Caller {
    /// The tenant a merchant or device acts for, and the device when it is one
    /// (a device sees only its own objects); the admin has no tenant here.
    pub fn tenant_scope(&self) -> Result<(TenantScope, Option<DeviceScope>), Error> {
        match self {
            Caller::Merchant(m) => Ok((m.scope(), None)),
            Caller::Device(d) => {
                let device = d.scope();
                Ok((device.tenant().clone(), Some(device)))
            }
            Caller::Admin => Err(Error::Forbidden("this route needs a tenant API key or a device token")),
        }
    }
}

impl Merchant {
    /// The tenant this merchant may act on.
    pub fn scope(&self) -> TenantScope {
        TenantScope::new(&self.tenant_id)
    }
}

impl DeviceCaller {
    /// This device within its tenant.
    pub fn scope(&self) -> DeviceScope {
        DeviceScope::new(TenantScope::new(&self.tenant_id), &self.device_id)
    }
}

/// An extractor for the caller a route needs: `$pattern` of the
/// authenticated [`Caller`] gives `$value`; any other caller is a 403 saying
/// what the route needs.
macro_rules! caller_extractor {
    ($target:ty, $pattern:pat => $value:expr, $needs:literal) => {
        impl FromRequest for $target {
            type Error = Error;
            type Future = Ready<Result<Self, Error>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(caller(req).and_then(|caller| match caller {
                    $pattern => Ok($value),
                    _ => Err(Error::Forbidden($needs)),
                }))
            }
        }
    };
}

caller_extractor!(Admin, Caller::Admin => Admin, "this route needs the platform admin token");
caller_extractor!(Merchant, Caller::Merchant(merchant) => merchant, "this route needs a tenant API key");
caller_extractor!(DeviceCaller, Caller::Device(device) => device, "this route needs a device token");
