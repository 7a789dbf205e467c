//! Replenish operator: turns `Tenant` and `Device` custom resources into tenants and
//! devices provisioned in the Replenish app (through its admin HTTP API) and the
//! Kubernetes objects that serve them.
//!
//! Layout, in the kube-rs/controller-rs manner:
//! - [`crd`]: the resource types; the CRD YAML is generated from them.
//! - [`desired`]: pure functions from a resource (and the plan defaults) to the
//!   objects and app requests it should produce; unit-tested without a cluster.
//! - [`reconcile`]: thin reconcilers that apply those with server-side apply,
//!   talk to the app through [`app_client`], and write status.
//! - [`leader`], [`shutdown`], [`metrics`], [`server`], [`config`], [`error`]: the operations around them.

#![warn(missing_docs)]

pub mod app_client;
pub mod config;
pub mod crd;
pub mod desired;
pub mod error;
pub mod leader;
pub mod metrics;
pub mod reconcile;
pub mod server;
pub mod shutdown;

pub use error::{Error, Result};

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "replenish-operator";
