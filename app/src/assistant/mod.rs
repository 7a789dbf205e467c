//! The vision assistant: a wearer's question about a camera frame, frame-based
//! detection for devices without on-device vision, and text to speech, all
//! through one OpenAI-compatible provider (async-openai).
//!
//! Every provider call passes the [`guard::Guard`] (breaker, tenant budget,
//! provider-wide limit) and is metered per tenant in the metrics and the
//! `assistant_usage` table. Images, prompts and replies are never stored and
//! never logged: errors carry only what went wrong, not the content.

pub mod chat;
pub mod entity;
pub mod frame;
pub mod guard;
pub mod image;
pub mod provider;
pub mod repo;
pub mod routes;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::auth::DeviceCaller;
use crate::config::AssistantSettings;
use crate::error::Error;
use crate::intents::model::DetectionResponse;
use crate::telemetry::Metrics;
use guard::{Guard, Ticket, Usage};
use provider::Provider;

/// The provider, its guard rails and the meter, shared by the assistant routes.
pub struct Assistant {
    /// The OpenAI-compatible provider.
    pub provider: Provider,
    /// Breaker, budgets and the provider-wide limit.
    pub guard: Guard,
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    /// Longest text to speak, in characters.
    pub speech_max_chars: usize,
    /// Largest audio answer passed on, in bytes.
    pub speech_max_bytes: usize,
}

fn outcome_label(result: &Result<(), &Error>) -> &'static str {
    match result {
        Ok(()) => "ok",
        Err(Error::UpstreamUnavailable { .. }) => "unavailable",
        Err(Error::UpstreamInvalid(_)) => "invalid",
        Err(_) => "error",
    }
}

impl Assistant {
    /// Builds the assistant from its settings.
    pub fn new(settings: &AssistantSettings, db: DatabaseConnection, metrics: Arc<Metrics>) -> Self {
        Self {
            provider: Provider::new(settings),
            guard: Guard::new(
                settings.provider_per_minute,
                settings.assistant_tenant_requests_per_day,
                settings.assistant_tenant_tokens_per_day,
                settings.breaker_failures,
                Duration::from_millis(settings.breaker_open_ms),
            ),
            db,
            metrics,
            speech_max_chars: settings.speech_max_chars,
            speech_max_bytes: settings.speech_max_bytes,
        }
    }

    /// Lets a call of `caller` through the guard rails.
    pub fn admit(&self, caller: &DeviceCaller, route: &'static str) -> Result<Ticket, Error> {
        self.guard.admit(caller.tenant_id.as_str()).inspect_err(|err| {
            let outcome = if matches!(err, Error::RateLimited(_)) { "limited" } else { "breaker-open" };
            self.metrics.assistant_call(route, outcome);
        })
    }

    /// Closes an admitted call: breaker, budget, metrics, and the usage row.
    pub async fn finish(
        &self,
        caller: &DeviceCaller,
        route: &'static str,
        ticket: Ticket,
        outcome: Result<Usage, &Error>,
    ) {
        let upstream_failed = matches!(outcome, Err(Error::UpstreamUnavailable { .. }));
        let usage = outcome.as_ref().copied().unwrap_or_default();
        self.guard.finish(ticket, upstream_failed, usage.total_tokens);
        self.metrics.set_breaker_open(self.guard.breaker_open());
        self.metrics.assistant_call(route, outcome_label(&outcome.map(|_| ())));
        if usage.total_tokens == 0 {
            return;
        }
        let tenant = caller.tenant_id.as_str();
        self.metrics.assistant_tokens(tenant, usage.prompt_tokens, usage.completion_tokens);
        if let Err(err) = repo::record_usage(&self.db, &caller.scope(), route, usage).await {
            tracing::warn!(tenant, error = %err, "assistant usage not recorded");
        }
    }

    /// The answer already given to `event_id` of this device, if any, so a
    /// repeated frame is answered without spending tokens again.
    pub async fn answered(&self, caller: &DeviceCaller, event_id: &str) -> Result<Option<DetectionResponse>, Error> {
        crate::detections::repo::stored_response(&self.db, &caller.scope(), event_id).await
    }

    /// One guarded, metered chat completion.
    pub async fn chat(&self, caller: &DeviceCaller, route: &'static str, request: &Value) -> Result<Value, Error> {
        let ticket = self.admit(caller, route)?;
        let result = self.provider.chat(request).await;
        let outcome = match &result {
            Ok(completion) => Ok(provider::usage_of(completion).unwrap_or_default()),
            Err(err) => Err(err),
        };
        self.finish(caller, route, ticket, outcome).await;
        result
    }
}
