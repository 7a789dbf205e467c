//! Integration tests of the operator: manifests, the app client against the real app,
//! leader election and both controllers against the in-process fake API server.

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod app_client;
mod binary;
mod controller_device;
mod controller_stores;
mod controller_tenant;
mod controller_webhooks;
mod dashboards;
mod fake_api_behaviour;
mod leader;
mod manifests;
mod rbac;
mod support;
