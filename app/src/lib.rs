//! Replenish: multi-tenant auto-replenishment.
//!
//! The binary (`main.rs`) parses configuration and calls into
//! [`startup::Application`]; tests build the same application on port 0.
//! Code is split by domain (`tenants`, `stores`, `catalog`, `devices`,
//! `intents`, `orders`, `limits`, `assistant`, `reports`), each
//! with its routes, its queries and its table mappings side by side.

pub mod actors;
pub mod assistant;
pub mod auth;
pub mod catalog;
pub mod changes;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod detections;
pub mod devices;
pub mod error;
pub mod health;
pub mod history;
pub mod http;
pub mod intents;
pub mod limits;
pub mod openapi;
pub mod orders;
pub mod platform;
pub mod problem;
pub mod reports;
pub mod startup;
pub mod state;
pub mod stores;
pub mod tasks;
pub mod telemetry;
pub mod tenants;

pub use config::Settings;
pub use startup::{Application, ApplicationHandle};
