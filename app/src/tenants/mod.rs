//! Tenants: onboarding, plans and limits, API keys, deactivation.

pub mod entity;
pub mod model;
pub mod repo;
pub mod routes;
