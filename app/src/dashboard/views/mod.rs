//! The dashboard's markup: one layout (landmarks, skip link, `lang`, navigation
//! with `aria-current`) and a module per page. Views take plain values and
//! return [`Markup`]; they know nothing of sessions or the database.

pub mod catalog;
pub mod chart;
pub mod devices;
pub mod orders;
pub mod overview;
pub mod sign_in;
pub mod webhooks;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

/// The pages in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The funnel.
    Overview,
    /// The fleet.
    Devices,
    /// Prompts and decisions.
    Intents,
    /// Orders and their timelines.
    Orders,
    /// Products and variants.
    Catalog,
    /// Webhook endpoints and their deliveries.
    Webhooks,
}

const SECTIONS: [(Section, &str, &str); 6] = [
    (Section::Overview, "/dashboard", "Overview"),
    (Section::Devices, "/dashboard/devices", "Devices"),
    (Section::Intents, "/dashboard/intents", "Intents"),
    (Section::Orders, "/dashboard/orders", "Orders"),
    (Section::Catalog, "/dashboard/catalog", "Catalog"),
    (Section::Webhooks, "/dashboard/webhooks", "Webhooks"),
];

/// What the layout needs of a signed-in session.
pub struct Chrome<'a> {
    /// The tenant signed in.
    pub tenant: &'a str,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: &'a str,
    /// The page shown.
    pub section: Section,
}

/// The hidden CSRF field every form of a session carries.
pub fn csrf_field(csrf: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(csrf); }
}

fn document(title: &str, header: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Replenish dashboard" }
                link rel="stylesheet" href="/dashboard/assets/dashboard.css";
                script src="/dashboard/assets/dashboard.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                (header)
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                footer { p { "Replenish merchant dashboard" } }
            }
        }
    }
}

/// A page behind sign-in: the navigation, the sign-out form, then `body`.
pub fn page(title: &str, chrome: &Chrome<'_>, body: Markup) -> Markup {
    let header = html! {
        header.top {
            p.brand { "Replenish" span.tenant { " · " (chrome.tenant) } }
            nav aria-label="Dashboard" {
                ul {
                    @for (section, href, label) in SECTIONS {
                        li {
                            @if section == chrome.section {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                }
            }
            form.sign-out method="post" action="/dashboard/sign-out" {
                (csrf_field(chrome.csrf))
                button type="submit" { "Sign out" }
            }
        }
    };
    document(title, header, body)
}

/// A page outside a session (sign-in, errors).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    let header = html! { header.top { p.brand { "Replenish" } } };
    document(title, header, body)
}

/// The page of an error: what happened and the way back.
pub fn error_page(title: &str, detail: &str) -> Markup {
    bare_page(
        title,
        html! {
            p role="alert" { (detail) }
            p { a href="/dashboard" { "Back to the dashboard" } }
        },
    )
}

/// An HTML response with the headers every dashboard page gets: no caching
/// (pages show one tenant's data), no framing, scripts and styles from this
/// app only.
pub fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ))
        .body(markup.into_string())
}

/// A time as people read it (UTC, to the minute).
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// An optional time, or a dash.
pub fn maybe_when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "—".to_owned(), when)
}

/// Dollars with cents.
pub fn usd(amount: f64) -> String {
    format!("${amount:.2}")
}

/// A status word as a badge (its text is the information; the class only colours it).
pub fn badge(status: &str) -> Markup {
    let class = format!("badge badge-{}", status.to_ascii_lowercase());
    html! { span class=(class) { (status) } }
}

/// Rows of a filter's `<select>`: (value, label), the current one selected.
pub fn options(choices: &[(&str, &str)], current: &str) -> Markup {
    html! {
        @for (value, label) in choices {
            @if *value == current {
                option value=(value) selected { (label) }
            } @else {
                option value=(value) { (label) }
            }
        }
    }
}
