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
pub mod meter;
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
use meter::Metered;
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

    /// Lets a call of `caller` through the guard rails; [`Metered::admit`]
    /// wraps this so the call is metered even if it is dropped.
    pub fn admit(&self, caller: &DeviceCaller, route: &'static str) -> Result<Ticket, Error> {
        self.guard.admit(caller.tenant_id.as_str()).inspect_err(|err| {
            let outcome = if matches!(err, Error::RateLimited(_)) { "limited" } else { "breaker-open" };
            self.metrics.assistant_call(route, outcome);
        })
    }

    /// Closes an admitted call with its outcome and the tokens it used:
    /// breaker, budget, metrics, and the usage row.
    pub async fn close(
        &self,
        caller: &DeviceCaller,
        route: &'static str,
        ticket: Ticket,
        outcome: Result<(), &Error>,
        usage: Usage,
    ) {
        let upstream_failed = matches!(outcome, Err(Error::UpstreamUnavailable { .. }));
        self.guard.finish(ticket, upstream_failed, usage.total_tokens);
        self.metrics.set_breaker_open(self.guard.breaker_open());
        self.metrics.assistant_call(route, outcome_label(&outcome));
        self.record(caller, route, usage).await;
    }

    /// Closes a call its device went away from (a hang-up mid-stream, a
    /// cancelled request): its tokens count, but it says nothing about the
    /// provider's health, so the breaker is left as it was.
    pub async fn cancelled(&self, caller: &DeviceCaller, route: &'static str, ticket: Ticket, usage: Usage) {
        self.guard.cancel(ticket, usage.total_tokens);
        self.metrics.assistant_call(route, "cancelled");
        self.record(caller, route, usage).await;
    }

    async fn record(&self, caller: &DeviceCaller, route: &'static str, usage: Usage) {
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

    /// One guarded, metered chat completion (metered even if the caller's
    /// request is cancelled while the provider answers).
    pub async fn chat(
        self: &Arc<Self>,
        caller: &DeviceCaller,
        route: &'static str,
        request: &Value,
    ) -> Result<Value, Error> {
        let metered = Metered::admit(self.clone(), caller, route, Some(request))?;
        let result = self.provider.chat(request).await;
        let usage = result.as_ref().ok().and_then(provider::usage_of).unwrap_or_default();
        metered.finish(result.as_ref().map(|_| ()), usage).await;
        result
    }
}
