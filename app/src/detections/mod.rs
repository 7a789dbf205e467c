//! Detections: a device reports a product running low; its actor applies the
//! device's limit and the prompt rules, and the group-commit writer makes the
//! outcome durable before the device hears it.
//!
//! `routes` (HTTP edge) → `fleet` (finds or activates the device's actor) →
//! `actor` (rules and memory) → `repo` / `writer` (the only SQL).

pub mod actor;
pub mod fleet;
pub mod repo;
pub mod routes;
pub mod writer;
