//! Detections: a device reports a product running low; its actor applies the
//! device's limit and the prompt rules, and the group-commit writer makes the
//! outcome durable before the device hears it.
//!
//! `routes` (HTTP edge) → `fleet` (finds or activates the device's actor) →
//! `actor` (rules and memory) → `writer` / `prompts` (group commit of settled
//! detections and of prompt candidates) → `repo` / `candidates` (the only SQL).

pub mod activation;
pub mod actor;
pub mod candidates;
pub mod fleet;
pub mod prompts;
pub mod repo;
pub mod routes;
pub mod writer;
