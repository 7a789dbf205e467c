//! Intents: detections become prompts, prompts become decisions.

pub mod actor;
pub mod decision;
pub mod entity;
pub mod listing;
pub mod model;
pub mod repo;
pub mod routes;
pub mod writer;
