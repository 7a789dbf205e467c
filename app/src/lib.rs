//! Replenish: multi-tenant auto-replenishment.
//!
//! The binary (`main.rs`) parses configuration and calls into
//! [`startup::Application`]; tests build the same application on port 0.
//! Code is split by domain (`detections`, `intents`, `orders`, `tenants`,
//! `stores`, `catalog`, `devices`, `limits`, `auth`, `assistant`, `reports`),
//! each with its routes, services or actors, and repository side by side.
//! Imports point down: HTTP edge → domain services and actors → repositories
//! (the only SQL) → database; the README's "Architecture" section draws it.

pub mod actors;
pub mod assistant;
pub mod auth;
pub mod catalog;
pub mod changes;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod demo;
pub mod detections;
pub mod devices;
pub mod error;
pub mod events;
pub mod health;
pub mod history;
pub mod http;
pub mod idempotency;
pub mod intents;
pub mod limits;
pub mod openapi;
pub mod orders;
pub mod otlp;
pub mod outbound;
pub mod paged;
pub mod platform;
pub mod problem;
pub mod reports;
pub mod request_id;
pub use replenish_api::signing;
pub mod startup;
pub mod state;
pub mod stores;
pub mod tasks;
pub mod telemetry;
pub mod tenants;
pub mod webhooks;

pub use config::Settings;
pub use startup::{Application, ApplicationHandle};
