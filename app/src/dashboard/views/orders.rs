//! Intents and orders: filtered lists, one order with its timeline, and the
//! cancel form while the cancel window is open.

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::intents::decision::IntentView;
use crate::orders::model::{IntentStatus, OrderEvent, OrderStatus, OrderView};

/// A history list's filter, as submitted.
pub struct HistoryFilter<'a> {
    /// A status, or empty for all.
    pub status: &'a str,
    /// A device id, or empty for all.
    pub device: &'a str,
}

fn filter_form(action: &str, statuses: &[&str], f: &HistoryFilter<'_>) -> Markup {
    let mut choices = vec![("", "All")];
    choices.extend(statuses.iter().map(|s| (*s, *s)));
    html! {
        form.filters method="get" action=(action) {
            p {
                label for="status" { "Status" }
                select #status name="status" { (super::options(&choices, f.status)) }
            }
            p {
                label for="device" { "Device" }
                input #device type="text" name="device" value=(f.device) placeholder="device id";
            }
            p { button type="submit" { "Filter" } }
        }
    }
}

fn next_link(next: Option<String>) -> Markup {
    html! { @if let Some(next) = next { p { a href=(next) { "Next page" } } } }
}

/// The orders page's body.
pub fn list(filter: &HistoryFilter<'_>, orders: &[OrderView], next: Option<String>) -> Markup {
    let statuses: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
    html! {
        (filter_form("/dashboard/orders", &statuses, filter))
        @if orders.is_empty() {
            p { "No orders match." }
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Scrollable table" {
                table #orders {
                    caption { "Orders, newest first" }
                    thead {
                        tr {
                            th scope="col" { "Order" } th scope="col" { "Status" } th scope="col" { "Placed" }
                            th scope="col" { "Device" } th scope="col" { "SKU" } th scope="col" { "Total" }
                            th scope="col" { "Test" }
                        }
                    }
                    tbody {
                        @for o in orders {
                            tr data-order=(o.order_id) {
                                th scope="row" { a href=(format!("/dashboard/orders/{}", o.order_id)) { (short(o.order_id)) } }
                                td { (super::badge(o.status.as_str())) }
                                td { (super::when(o.created_at)) }
                                td { (o.device_id) }
                                td { (o.sku) }
                                td { (super::usd(o.total_usd)) }
                                td { @if o.test { "Test" } @else { "No" } }
                            }
                        }
                    }
                }
            }
        }
        (next_link(next))
    }
}

/// The first block of a UUID, enough to tell orders apart on a page (the link has the whole id).
fn short(id: uuid::Uuid) -> String {
    let full = id.to_string();
    format!("{}…", &full[..8])
}

fn event(e: &OrderEvent) -> Markup {
    let d = &e.details;
    let parts: Vec<String> = [
        d.by.map(|by| format!("by {by}")),
        d.channel.map(|c| format!("via {c}")),
        d.reason.clone().map(|r| format!("reason: {r}")),
        d.carrier.clone().map(|c| format!("carrier: {c}")),
        d.tracking_number.clone().map(|t| format!("tracking: {t}")),
        d.provider_ref.clone().map(|p| format!("provider ref: {p}")),
        d.eta.clone().map(|eta| format!("ETA {eta}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    html! {
        li {
            (super::badge(e.status.as_str())) " "
            time datetime=(e.at.to_rfc3339()) { (super::when(e.at)) }
            @if !parts.is_empty() { " — " (parts.join(", ")) }
        }
    }
}

/// One order: its fields, its timeline and, while it may be cancelled, the cancel form.
pub fn detail(o: &OrderView, cancel_until: Option<DateTime<Utc>>, csrf: &str) -> Markup {
    html! {
        dl.fields {
            div { dt { "Order id" } dd { code { (o.order_id) } } }
            div { dt { "Status" } dd #order-status { (super::badge(o.status.as_str())) } }
            div { dt { "Placed" } dd { (super::when(o.created_at)) } }
            div { dt { "Device" } dd { (o.device_id) } }
            div { dt { "Owner" } dd { (o.owner) } }
            div { dt { "Store" } dd { (o.store_id) } }
            div { dt { "Product / SKU" } dd { (o.product_id) " / " (o.sku) } }
            div { dt { "Total" } dd { (super::usd(o.total_usd)) } }
            div { dt { "Provider" } dd { (o.provider) @if let Some(r) = &o.provider_ref { " (" (r) ")" } } }
            @if let Some(why) = &o.failure_reason { div { dt { "Failure" } dd { (why) } } }
            @if let Some(eta) = &o.eta { div { dt { "ETA" } dd { (eta) } } }
            div { dt { "Test order" } dd { @if o.test { "Yes" } @else { "No" } } }
        }
        section aria-labelledby="timeline-heading" {
            h2 #timeline-heading { "Timeline" }
            @match &o.timeline {
                Some(events) if !events.is_empty() => { ol.timeline #timeline { @for e in events { (event(e)) } } }
                _ => { p { "No events yet." } }
            }
        }
        @if let Some(until) = cancel_until {
            section aria-labelledby="cancel-heading" {
                h2 #cancel-heading { "Cancel" }
                p { "This order can be cancelled until " (super::when(until)) "; its amount goes back to the owner's budget." }
                form method="post" action=(format!("/dashboard/orders/{}/cancel", o.order_id)) {
                    (super::csrf_field(csrf))
                    button.danger type="submit" { "Cancel this order" }
                }
            }
        }
        p { a href="/dashboard/orders" { "All orders" } }
    }
}

/// The intents page's body.
pub fn intents(filter: &HistoryFilter<'_>, intents: &[IntentView], next: Option<String>) -> Markup {
    let statuses: Vec<&str> = IntentStatus::ALL.iter().map(|s| s.as_str()).collect();
    html! {
        (filter_form("/dashboard/intents", &statuses, filter))
        @if intents.is_empty() {
            p { "No intents match." }
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Scrollable table" {
                table #intents {
                    caption { "Intents (prompts and what the wearer decided), newest first" }
                    thead {
                        tr {
                            th scope="col" { "Prompted" } th scope="col" { "Status" } th scope="col" { "Device" }
                            th scope="col" { "Product" } th scope="col" { "Price" } th scope="col" { "Decided" }
                            th scope="col" { "Channel" }
                        }
                    }
                    tbody {
                        @for i in intents {
                            tr data-intent=(i.intent_id) {
                                th scope="row" { (super::when(i.created_at)) }
                                td { (super::badge(i.status.as_str())) }
                                td { (i.device_id) }
                                td { (i.label) " (" (i.sku) ")" }
                                td { (super::usd(i.unit_price_usd)) }
                                td { (super::maybe_when(i.decided_at)) }
                                td { (i.channel.clone().unwrap_or_else(|| "—".into())) }
                            }
                        }
                    }
                }
            }
        }
        (next_link(next))
    }
}
