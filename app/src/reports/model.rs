//! The merchant's funnel report as it goes over the wire (the shared API types).

pub use replenish_api::telemetry::{AssistantUsage, Conversion, StoreDay, Summary, SummaryQuery};
