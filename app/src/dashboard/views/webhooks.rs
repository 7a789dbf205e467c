//! Webhooks: the tenant's endpoints, and one endpoint's recent deliveries
//! with a redeliver button each.

use maud::{Markup, html};

use super::{csrf_field, maybe_when, when};
use replenish_api::webhooks::{DeliveryOutcome, DeliveryView, WebhookEndpointView};

/// The endpoints page's body.
pub fn endpoints(endpoints: &[WebhookEndpointView], next: Option<String>) -> Markup {
    html! {
        @if endpoints.is_empty() {
            p { "No webhook endpoints yet. Add one with " code { "PUT /api/v1/webhook-endpoints/{id}" } "." }
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Scrollable table" {
                table #endpoints {
                    caption { "Webhook endpoints" }
                    thead {
                        tr {
                            th scope="col" { "Endpoint" } th scope="col" { "URL" } th scope="col" { "Events" }
                            th scope="col" { "State" } th scope="col" { "Secret" }
                        }
                    }
                    tbody {
                        @for e in endpoints {
                            tr {
                                th scope="row" {
                                    a href=(format!("/dashboard/webhooks/{}", e.endpoint_id)) { (e.endpoint_id) }
                                    @if let Some(d) = &e.description { br; small { (d) } }
                                }
                                td { code { (e.url) } }
                                td { (e.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) }
                                td { (state(e)) }
                                td {
                                    code { (e.secret_fingerprint) }
                                    @if let Some(until) = e.previous_secret_expires_at {
                                        br; small { "previous secret signs until " (when(until)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next { p { a href=(next) { "Next page" } } }
    }
}

fn state(e: &WebhookEndpointView) -> Markup {
    html! {
        @if e.enabled {
            span.badge.badge-active { "enabled" }
        } @else {
            span.badge.badge-revoked { "disabled" }
            @if let Some(reason) = &e.disabled_reason { br; small { (reason) } }
        }
    }
}

/// One endpoint's page: its settings and its recent deliveries.
pub fn endpoint(e: &WebhookEndpointView, deliveries: &[DeliveryView], next: Option<String>, csrf: &str) -> Markup {
    html! {
        dl.fields {
            dt { "URL" } dd { code { (e.url) } }
            dt { "State" } dd { (state(e)) }
            dt { "Events" } dd { (e.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) }
            dt { "Secret fingerprint" } dd { code { (e.secret_fingerprint) } }
        }
        h2 { "Recent deliveries" }
        @if deliveries.is_empty() {
            p { "No deliveries yet." }
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Scrollable table" {
                table #deliveries {
                    caption { "Deliveries, newest first" }
                    thead {
                        tr {
                            th scope="col" { "Event" } th scope="col" { "Outcome" } th scope="col" { "Attempt" }
                            th scope="col" { "Answer" } th scope="col" { "Attempted" } th scope="col" { "Next attempt" }
                            th scope="col" { "Redeliver" }
                        }
                    }
                    tbody {
                        @for d in deliveries {
                            tr {
                                th scope="row" { (d.event_type.as_str()) br; small { code { (d.event_id) } } }
                                td { (outcome(d.outcome)) }
                                td { (d.attempt) }
                                td {
                                    @if let Some(code) = d.status_code { (code) } @else { "—" }
                                    @if let Some(ms) = d.latency_ms { " in " (ms) " ms" }
                                    @if let Some(body) = &d.response_body { br; small { code { (body) } } }
                                }
                                td { (maybe_when(d.attempted_at)) }
                                td { (maybe_when(d.next_attempt_at)) }
                                td {
                                    form method="post" action=(format!("/dashboard/webhooks/{}/redeliver/{}", e.endpoint_id, d.event_id)) {
                                        (csrf_field(csrf))
                                        button type="submit" aria-label=(format!("Redeliver event {}", d.event_id)) { "Redeliver" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next { p { a href=(next) { "Older deliveries" } } }
    }
}

fn outcome(outcome: DeliveryOutcome) -> Markup {
    match outcome {
        DeliveryOutcome::Succeeded => html! { span.badge.badge-confirmed { "succeeded" } },
        DeliveryOutcome::Pending => html! { span.badge.badge-pending { "pending" } },
        DeliveryOutcome::Failed => html! { span.badge.badge-pending { "failed, retrying" } },
        DeliveryOutcome::Abandoned => html! { span.badge.badge-failed { "abandoned" } },
    }
}
