//! Webhooks in a load run (`run --webhooks`): the local [`Receiver`] is registered as an
//! endpoint of the run's tenant, subscribed to every event type; after the load the run waits
//! (bounded) for deliveries to drain and checks that every event `GET /api/v1/events` lists
//! for the run's window reached the receiver, counted by event id.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use replenish_api::{Event, EventType};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::checks::Check;
use crate::client::Api;
use crate::error::{Error, Result};
use crate::receiver::{Receiver, Tally, new_secret};

/// What `run --webhooks` was asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookConfig {
    /// Address the receiver binds (`--webhook-listen`, default `127.0.0.1:0`: a free port).
    pub listen: String,
    /// Base URL the app reaches the receiver at, when not the bound address
    /// (`--webhook-public-url`, e.g. `http://host.docker.internal:9000`).
    pub public_url: Option<String>,
    /// Longest wait after the load for the last deliveries (`--webhook-drain-timeout`).
    #[serde(serialize_with = "secs")]
    pub drain_timeout: Duration,
    /// An outage of the receiver (`--webhook-outage START:SECONDS`): from `start` after the
    /// load begins it answers every delivery 503 for `length`, then takes them again; the
    /// check then shows that everything arrived anyway, retries counted apart.
    pub outage: Option<Outage>,
}

/// When the receiver plays "down" during a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outage {
    /// Delay after the start of the load.
    #[serde(serialize_with = "secs")]
    pub start: Duration,
    /// How long it lasts.
    #[serde(serialize_with = "secs")]
    pub length: Duration,
}

impl Outage {
    /// Parses `START:SECONDS`, e.g. `5:30`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || Error::Config(format!("--webhook-outage {text:?}: expected START:SECONDS, e.g. 5:30"));
        let (start, length) = text.split_once(':').ok_or_else(bad)?;
        let seconds = |v: &str| v.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0).ok_or_else(bad);
        Ok(Self { start: Duration::from_secs_f64(seconds(start)?), length: Duration::from_secs_f64(seconds(length)?) })
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:0".into(), public_url: None, drain_timeout: Duration::from_secs(60), outage: None }
    }
}

/// What the webhook part of a run found; in the JSON report as `webhooks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WebhookReport {
    /// The endpoint id registered for the run.
    pub endpoint: String,
    /// Where the app was told to deliver.
    pub url: String,
    /// The window whose events were compared: from just before the load...
    pub since: Option<DateTime<Utc>>,
    /// ...to the last answer of the load.
    pub until: Option<DateTime<Utc>>,
    /// Events `GET /api/v1/events` lists for the window.
    pub events_listed: u64,
    /// Of those, how many reached the receiver at least once.
    pub delivered: u64,
    /// Listed events that never arrived (in time).
    pub missing: u64,
    /// Deliveries the receiver accepted, retries included.
    pub deliveries: u64,
    /// Deliveries beyond the first of each event: retries of the same event id.
    pub retries: u64,
    /// Deliveries of events outside the window (before the load, or written after it).
    pub outside_window: u64,
    /// Deliveries refused because the signature did not verify.
    pub bad_signatures: u64,
    /// Signed deliveries that were not an event, or whose `Replenish-Event-Id` differed.
    pub malformed: u64,
    /// Objects (an order, a device…) some of whose events reached the receiver in another
    /// order than they were written.
    #[serde(default)]
    pub out_of_order: u64,
    /// Deliveries answered 503 during the outage (`--webhook-outage`), to be retried.
    #[serde(default)]
    pub refused_while_down: u64,
    /// Highest `Replenish-Delivery-Attempt` seen.
    pub max_attempt: u32,
    /// Seconds from the end of the load until everything had arrived (or the wait gave up).
    pub drain_seconds: f64,
    /// A few missing event ids and refusals, for the report.
    pub examples: Vec<String>,
}

impl WebhookReport {
    /// The `webhooks_delivered` check: every listed event arrived, every signature verified.
    pub fn check(&self) -> Check {
        let passed = self.missing == 0 && self.bad_signatures == 0 && self.malformed == 0;
        Check {
            name: "webhooks_delivered".into(),
            passed,
            detail: format!(
                "{} of {} events listed for the run reached the receiver ({} missing after {:.1} s); {} deliveries, \
                 {} retries of the same event id, {} bad signatures, {} malformed, {} refused while down",
                self.delivered,
                self.events_listed,
                self.missing,
                self.drain_seconds,
                self.deliveries,
                self.retries,
                self.bad_signatures,
                self.malformed,
                self.refused_while_down
            ),
        }
    }
}

impl WebhookReport {
    /// The `webhooks_in_order` check: for every object, its events' first deliveries came in
    /// the order the events were written (an order's `shipped` never before its `confirmed`).
    pub fn order_check(&self) -> Check {
        Check {
            name: "webhooks_in_order".into(),
            passed: self.out_of_order == 0,
            detail: format!(
                "{} objects had events delivered out of the order they were written (first deliveries compared)",
                self.out_of_order
            ),
        }
    }
}

/// Objects whose events (`listed` in write order) first reached `endpoint` in another order,
/// with an example each. Events that never arrived are left out (the delivery check counts them).
pub fn out_of_order(listed: &[Event], tally: &Tally, endpoint: &str) -> Vec<String> {
    let mut last: std::collections::HashMap<(&str, &str), (u64, Uuid)> = std::collections::HashMap::new();
    let mut objects = Vec::new();
    let mut reported = HashSet::new();
    for event in listed {
        let Some(arrived) = tally.arrival.get(&(endpoint.to_owned(), event.id)) else { continue };
        let key = (event.object.as_str(), event.object_id.as_str());
        if let Some((previous, earlier)) = last.get(&key)
            && arrived < previous
            && reported.insert(key)
        {
            objects.push(format!(
                "{} {}: event {} ({}) arrived before {earlier}, written earlier",
                event.object, event.object_id, event.id, event.event_type
            ));
        }
        last.insert(key, (*arrived, event.id));
    }
    objects
}

/// Compares the events listed for the window with what `endpoint` received.
pub fn compare(listed: &[Uuid], tally: &Tally, endpoint: &str) -> WebhookReport {
    let received = tally.events(endpoint);
    let listed_set: HashSet<Uuid> = listed.iter().copied().collect();
    let missing: Vec<Uuid> = listed.iter().filter(|id| !received.contains(id)).copied().collect();
    let mut examples: Vec<String> = missing.iter().take(5).map(|id| format!("missing event {id}")).collect();
    examples.extend(tally.examples.iter().cloned());
    WebhookReport {
        endpoint: endpoint.to_owned(),
        events_listed: listed_set.len() as u64,
        delivered: listed_set.iter().filter(|id| received.contains(id)).count() as u64,
        missing: missing.len() as u64,
        deliveries: tally.accepted,
        retries: tally.retries(),
        outside_window: received.iter().filter(|id| !listed_set.contains(id)).count() as u64,
        bad_signatures: tally.bad_signatures,
        malformed: tally.malformed,
        refused_while_down: tally.refused_while_down,
        max_attempt: tally.max_attempt,
        examples,
        ..WebhookReport::default()
    }
}

/// The run's receiver and the endpoint registered for it.
pub struct Session {
    /// The receiver.
    pub receiver: Receiver,
    /// The endpoint id in the app.
    pub endpoint: String,
    /// Where the app delivers.
    pub url: String,
}

/// Registers (or replaces) `endpoint` delivering `types` to `url`, signed with `secret`.
/// A refused URL says how to let the app call a local receiver.
pub async fn register(
    api: &Api,
    key: &str,
    endpoint: &str,
    url: &str,
    secret: &str,
    types: &[EventType],
) -> Result<()> {
    let body = json!({
        "url": url,
        "event_types": types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "enabled": true,
        "description": "replenish-load receiver",
        "secret": secret,
    });
    let path = format!("/api/v1/webhook-endpoints/{endpoint}");
    let (status, answer) = api.call(Method::PUT, &path, key, Some(&body)).await?;
    match status {
        200 | 201 => Ok(()),
        422 if answer.to_string().contains("url") => Err(Error::Config(format!(
            "the app refused the receiver's URL {url} ({answer}); a local receiver needs the app started with \
             REPLENISH_COMMERCE_ALLOW_PRIVATE_URLS=true"
        ))),
        _ => Err(Error::Status { call: format!("PUT {path}"), status, body: answer.to_string() }),
    }
}

/// Plays the configured outage on the session's receiver (run as a task beside the load).
pub async fn play_outage(session: &Session, outage: Outage) {
    tokio::time::sleep(outage.start).await;
    session.receiver.set_down(true);
    tokio::time::sleep(outage.length).await;
    session.receiver.set_down(false);
}

/// Deletes `endpoint` (best effort: a missing one is fine).
pub async fn unregister(api: &Api, key: &str, endpoint: &str) {
    let path = format!("/api/v1/webhook-endpoints/{endpoint}");
    let _ = api.call(Method::DELETE, &path, key, None::<&()>).await;
}

/// Starts the receiver and registers it for every event type of the tenant behind `key`.
pub async fn start(api: &Api, key: &str, config: &WebhookConfig, run_id: &str) -> Result<Session> {
    let receiver = Receiver::start(&config.listen, 2)?;
    let endpoint = format!("load-{run_id}");
    let base = config.public_url.clone().unwrap_or_else(|| receiver.base().to_owned());
    let url = Receiver::url_for(&base, &endpoint);
    let secret = new_secret();
    receiver.expect(&endpoint, &secret);
    register(api, key, &endpoint, &url, &secret, EventType::ALL).await?;
    Ok(Session { receiver, endpoint, url })
}

fn rfc3339(at: DateTime<Utc>) -> String {
    // `Z`, never `+00:00`: a `+` in a query string would read as a space.
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Every event of the tenant created in `[since, until)`, oldest first.
pub async fn events_between(api: &Api, key: &str, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<Event>> {
    let path = format!("/api/v1/events?order=asc&since={}&until={}", rfc3339(since), rfc3339(until));
    api.list_all(&path, key).await
}

/// Waits until every event of `[since, until)` reached the session's endpoint, or `timeout`
/// passed, and reports what arrived.
pub async fn drain(
    api: &Api,
    key: &str,
    session: &Session,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    timeout: Duration,
) -> Result<WebhookReport> {
    let started = Instant::now();
    let listed: Vec<Uuid> = events_between(api, key, since, until).await?.iter().map(|e| e.id).collect();
    // Poll the receiver only; the listing is read once more at the end, for events whose
    // transaction committed after the first read.
    while started.elapsed() < timeout && compare(&listed, &session.receiver.tally(), &session.endpoint).missing > 0 {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let events = events_between(api, key, since, until).await?;
    let listed: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let tally = session.receiver.tally();
    let mut report = compare(&listed, &tally, &session.endpoint);
    let disordered = out_of_order(&events, &tally, &session.endpoint);
    report.out_of_order = disordered.len() as u64;
    report.examples.extend(disordered.into_iter().take(5));
    report.url = session.url.clone();
    report.since = Some(since);
    report.until = Some(until);
    report.drain_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
