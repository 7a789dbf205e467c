//! Replenish load tests: a Spectacles fleet simulator and the benchmark suite.
//!
//! The simulator speaks only HTTP to the service (it never imports the app), so
//! it runs against a local process or a remote deployment alike:
//! [`client`] provisions a tenant, a catalog and a fleet; [`sim`] drives
//! detections and decisions in an open model (fixed arrival rate, latency from
//! the intended send time) or a closed model (fixed concurrency); [`stats`]
//! records latencies in HdrHistograms; [`checks`] reads the results back through
//! the API; [`threshold`] judges them against k6-style criteria; [`report`]
//! and [`html`] present them. [`bench`] runs the whole
//! suite against freshly started app processes and a bare actix-web baseline.
//! [`receiver`] is a local webhook receiver that verifies signatures and counts deliveries;
//! [`webhooks`] registers it for a run and checks every event arrived; [`webhook_bench`]
//! measures delivery. [`hashing_proxy`] routes each device to one of several app processes by its
//! token, as the chart's Ingress does; [`replicas_bench`] compares one replica with two behind it.

pub mod backend;
pub mod baseline;
pub mod bench;
pub mod bench_memory;
pub mod bench_phase;
pub mod chaos;
pub mod checks;
pub mod client;
pub mod cold;
pub mod config;
pub mod cpu;
pub mod error;
pub mod generator;
pub mod hashing_proxy;
pub mod html;
pub mod million;
pub mod process;
pub mod rawhttp;
pub mod receiver;
pub mod replicas_bench;
pub mod report;
pub mod schedule;
pub mod sim;
pub mod soak;
pub mod stats;
pub mod threshold;
pub mod webhook_bench;
pub mod webhooks;
pub mod windows;
pub mod wrk;

pub use config::{LoadModel, Mix, RunConfig, Stop, Target};
pub use error::{Error, Result};
pub use report::Report;
pub use sim::run;
