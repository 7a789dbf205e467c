//! Integration tests: the real app on a random port, a real database per test.
//!
//! Every test body is an `async fn(Backend)`; `on_both_backends!` runs it once
//! on Postgres and once on SQLite.

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

/// Generates a Postgres and a SQLite `#[tokio::test]` for each named test body.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await
                }
            )*
        }
    };
}

mod assistant;
mod bad_input;
mod batches;
mod budget_day;
mod cross_tenant;
mod dashboard;
mod dashboards;
mod dedicated;
mod devices;
mod docs;
mod durability;
mod edge;
mod events;
mod helpers;
mod idempotency;
mod lifecycle;
mod limits;
mod merchant;
mod notices;
mod operations;
mod properties;
mod replenishment;
mod replicas;
mod restart;
mod tenants;
mod unknown_outcomes;
mod webhook_delivery;
mod webhook_delivery_processes;
mod webhook_delivery_support;
mod webhook_merchant;
mod webhook_resilience;
mod webhooks;
