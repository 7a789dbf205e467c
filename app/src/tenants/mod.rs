//! Tenants: onboarding, plans and limits, API keys, deactivation.

pub mod cache;
pub mod entity;
pub mod model;
pub mod repo;
pub mod routes;
pub mod snapshot;
