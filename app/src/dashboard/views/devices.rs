//! The fleet: search, status, last seen, store, owner, test flag, and revoke.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::{Markup, html};

use crate::devices::model::DeviceView;

/// The device page's filter, as submitted.
pub struct DeviceFilter<'a> {
    /// Text searched in id, owner, store and model.
    pub q: &'a str,
    /// `all`, `active` or `revoked`.
    pub status: &'a str,
}

fn filter_form(f: &DeviceFilter<'_>) -> Markup {
    html! {
        form.filters method="get" action="/dashboard/devices" role="search" {
            p {
                label for="q" { "Search" }
                input #q type="search" name="q" value=(f.q) placeholder="id, owner, store or model";
            }
            p {
                label for="status" { "Status" }
                select #status name="status" {
                    (super::options(&[("all", "All"), ("active", "Active"), ("revoked", "Revoked")], f.status))
                }
            }
            p { button type="submit" { "Search" } }
        }
    }
}

fn row(d: &DeviceView, last_seen: Option<DateTime<Utc>>, csrf: &str) -> Markup {
    let status = d.status.to_string();
    html! {
        tr data-device=(d.device_id) {
            th scope="row" { (d.device_id) }
            td { (super::badge(&status)) }
            td { (super::maybe_when(last_seen)) }
            td { (d.store) }
            td { (d.owner) }
            td { (d.model) }
            td { @if d.test { "Test" } @else { "No" } }
            td {
                @if d.revoked_at.is_none() {
                    form.inline method="post" action=(format!("/dashboard/devices/{}/revoke", d.device_id)) {
                        (super::csrf_field(csrf))
                        button.danger type="submit" aria-label=(format!("Revoke device {}", d.device_id)) { "Revoke" }
                    }
                } @else {
                    "Revoked " (super::maybe_when(d.revoked_at))
                }
            }
        }
    }
}

/// The devices page's body.
pub fn body(
    filter: &DeviceFilter<'_>,
    devices: &[DeviceView],
    last_seen: &HashMap<String, DateTime<Utc>>,
    next: Option<String>,
    csrf: &str,
) -> Markup {
    html! {
        (filter_form(filter))
        @if devices.is_empty() {
            p { "No devices match." }
        } @else {
            div.scroll tabindex="0" role="region" aria-label="Scrollable table" {
                table #devices {
                    caption { "Devices" }
                    thead {
                        tr {
                            th scope="col" { "Device" } th scope="col" { "Status" } th scope="col" { "Last seen" }
                            th scope="col" { "Store" } th scope="col" { "Owner" } th scope="col" { "Model" }
                            th scope="col" { "Test device" } th scope="col" { "Action" }
                        }
                    }
                    tbody {
                        @for d in devices { (row(d, last_seen.get(&d.device_id).copied(), csrf)) }
                    }
                }
            }
        }
        @if let Some(next) = next {
            p { a href=(next) { "Next page" } }
        }
    }
}
