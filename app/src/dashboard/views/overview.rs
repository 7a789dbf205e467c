//! The overview: the funnel of a chosen period as a chart, orders and revenue
//! per store and day, and what went wrong (failed orders, rate limits).

use maud::{Markup, html};

use crate::reports::model::Summary;

/// The periods the overview offers: (value, label, hours).
pub const PERIODS: [(&str, &str, i64); 4] = [
    ("24h", "Last 24 hours", 24),
    ("7d", "Last 7 days", 24 * 7),
    ("30d", "Last 30 days", 24 * 30),
    ("90d", "Last 90 days", 24 * 90),
];

/// What the overview shows.
pub struct Overview<'a> {
    /// The chosen period's value.
    pub period: &'a str,
    /// The funnel over it.
    pub summary: &'a Summary,
    /// Requests of this tenant refused by a rate limit on this replica since it started.
    pub rate_limited: u64,
}

fn period_form(period: &str) -> Markup {
    let choices: Vec<(&str, &str)> = PERIODS.iter().map(|(value, label, _)| (*value, *label)).collect();
    html! {
        form.filters method="get" action="/dashboard" {
            p {
                label for="period" { "Period" }
                select #period name="period" data-autosubmit {
                    (super::options(&choices, period))
                }
            }
            p { button type="submit" { "Show" } }
        }
    }
}

fn funnel(s: &Summary) -> Markup {
    let stages = [
        ("Detections", s.detections),
        ("Prompts", s.prompts),
        ("Accepted", s.accepted),
        ("Orders confirmed", s.orders_confirmed),
    ];
    html! {
        section aria-labelledby="funnel-heading" {
            h2 #funnel-heading { "Funnel" }
            (super::chart::funnel("funnel-chart", "Detections to confirmed orders", &stages))
            table.figures {
                caption { "Funnel figures" }
                thead { tr { th scope="col" { "Stage" } th scope="col" { "Count" } th scope="col" { "Rate" } } }
                tbody {
                    tr { th scope="row" { "Detections" } td { (s.detections) } td { "—" } }
                    tr { th scope="row" { "Prompts" } td { (s.prompts) } td { (pct(s.conversion.prompt_rate)) " of detections" } }
                    tr { th scope="row" { "Accepted" } td { (s.accepted) } td { (pct(s.conversion.acceptance_rate)) " of prompts" } }
                    tr { th scope="row" { "Orders confirmed" } td { (s.orders_confirmed) } td { (pct(s.conversion.detection_to_order_rate)) " of detections" } }
                }
            }
        }
    }
}

fn pct(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn problems(o: &Overview<'_>) -> Markup {
    let s = o.summary;
    html! {
        section aria-labelledby="problems-heading" {
            h2 #problems-heading { "Failures and limits" }
            dl.stats {
                div { dt { "Orders failed at the provider" } dd { (s.orders_failed) } }
                div { dt { "Order success rate" } dd { (pct(s.conversion.order_success_rate)) } }
                div { dt { "Orders cancelled" } dd { (s.orders_cancelled) } }
                div { dt { "Prompts rejected / expired" } dd { (s.rejected) " / " (s.expired) } }
                div { dt { "Test orders (not counted above)" } dd { (s.test_orders) } }
                div { dt { "Rate-limited requests (this server, since it started)" } dd { (o.rate_limited) } }
            }
        }
    }
}

fn days(s: &Summary) -> Markup {
    html! {
        section aria-labelledby="days-heading" {
            h2 #days-heading { "Orders and revenue per day" }
            @if s.store_days.is_empty() {
                p { "No confirmed orders in this period." }
            } @else {
                (super::chart::bars("revenue-chart", "Revenue per day, all stores", &daily(s)))
                div.scroll tabindex="0" role="region" aria-label="Scrollable table" {
                    table {
                        caption { "Confirmed orders per store and store-local day" }
                        thead { tr { th scope="col" { "Day" } th scope="col" { "Store" } th scope="col" { "Orders" } th scope="col" { "Revenue" } } }
                        tbody {
                            @for day in &s.store_days {
                                tr { td { (day.day) } td { (day.store_id) } td { (day.orders) } td { (super::usd(day.revenue_usd)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Revenue and orders per day over every store (the table below splits them by store).
fn daily(s: &Summary) -> Vec<super::chart::Bar> {
    let mut days: std::collections::BTreeMap<&str, (f64, u64)> = std::collections::BTreeMap::new();
    for day in &s.store_days {
        let entry = days.entry(day.day.as_str()).or_default();
        entry.0 += day.revenue_usd;
        entry.1 += day.orders;
    }
    days.into_iter()
        .map(|(day, (revenue, orders))| super::chart::Bar {
            label: day.to_owned(),
            value: revenue,
            figure: format!("{} ({orders} orders)", super::usd(revenue)),
        })
        .collect()
}

/// The overview page's body.
pub fn body(o: &Overview<'_>) -> Markup {
    let s = o.summary;
    html! {
        (period_form(o.period))
        p.window { "From " (super::when(s.since)) " to " (super::when(s.until)) "." }
        (funnel(s))
        (problems(o))
        (days(s))
    }
}
