//! The Replenish HTTP API as Rust types: every request body, response body and
//! enum the service accepts or returns, shared by the app (which serves them),
//! the operator's app client and the load tests, so the three cannot drift.
//!
//! Serde attributes here define the wire format. The `openapi` feature adds
//! utoipa's schema derives for the app's OpenAPI document; clients leave it off.
//! Validation that needs no database lives here too, returning [`Invalid`].

macro_rules! wire_enum {
    ($ty:ident, $kind:literal { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            /// The wire (and stored) form.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }

            /// Parses the wire (and stored) form.
            pub fn parse(value: &str) -> Result<Self, $crate::problem::UnknownValue> {
                match value {
                    $($text => Ok(Self::$variant),)*
                    other => Err($crate::problem::UnknownValue { kind: $kind, value: other.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod catalog;
pub mod devices;
pub mod events;
pub mod ids;
pub mod intents;
pub mod orders;
pub mod page;
pub mod problem;
pub mod signing;
pub mod stores;
pub mod telemetry;
pub mod tenants;
pub mod time;
pub mod webhooks;

pub use catalog::{FillLevel, ProductSpec, ProductView, Variant, usd_to_cents};
pub use devices::{DeviceBatch, DeviceSpec, DeviceStatus, DeviceView, MAX_BATCH, NewDevice, RegisteredBatch};
pub use events::{Event, EventType};
pub use ids::{InvalidId, ResourceId};
pub use intents::{
    Channel, Confidence, DecisionRequest, DecisionResponse, DetectionRequest, DetectionResponse, IntentView,
    MAX_CLOCK_SKEW_MS, ProductOffer, Reason, check_device_time,
};
pub use orders::{
    Actor, CancelRequest, EventDetails, IntentStatus, OrderEvent, OrderStatus, OrderSummary, OrderView, StatusUpdate,
};
pub use page::{Page, PageRequest};
pub use problem::{FieldError, Invalid, Problem, UnknownValue, Violations, storable_text, text_ok};
pub use stores::{CommerceProviderKind, CommerceSettings, MockOutcome, StoreSpec, StoreView};
pub use telemetry::{AssistantUsage, Conversion, StoreDay, Summary, SummaryQuery};
pub use tenants::{
    EffectiveLimits, Plan, RotateKeyRequest, RotatedKey, TenantLimits, TenantSpec, TenantStatus, TenantView,
};
