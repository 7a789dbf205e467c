//! End-of-run correctness checks: what the simulator saw against what the API reports.

use std::collections::{HashMap, HashSet};

use replenish_api::{IntentStatus, IntentView, OrderView, Summary};
use serde::Serialize;
use uuid::Uuid;

use crate::client::{Api, Fleet};
use crate::error::Result;
use crate::stats::Snapshot;

/// How many mismatch examples a report keeps.
const EXAMPLES: usize = 5;

/// What the simulator learnt from the answers it got, to be compared with the API afterwards.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Distinct event ids answered 2xx.
    pub detections_ok: u64,
    /// Distinct event ids with no answer or a 5xx: the server may or may not have kept them.
    pub detections_uncertain: u64,
    /// Detections answered with a new prompt.
    pub prompts: u64,
    /// Intents created by this run's prompts.
    pub intents: HashSet<Uuid>,
    /// Intents accepted (2xx), with the order id the answer named.
    pub accepted: HashMap<Uuid, Option<Uuid>>,
    /// Acceptances that got no answer or a 5xx: an order may or may not exist.
    pub accepted_uncertain: HashSet<Uuid>,
    /// Intents declined (2xx).
    pub rejected: HashSet<Uuid>,
    /// Acceptances refused with 422 budget-exceeded.
    pub budget_exceeded: u64,
    /// Decisions answered 410 (intent expired).
    pub expired: u64,
    /// Duplicate event ids whose answers were compared.
    pub duplicates_compared: u64,
    /// Duplicates whose answer differed from the first one.
    pub duplicate_mismatches: u64,
    /// Retried requests whose answers were compared.
    pub retries_compared: u64,
    /// Retries whose answer differed from the first one.
    pub retry_mismatches: u64,
    /// A few mismatches, for the report.
    pub examples: Vec<String>,
}

impl Ledger {
    /// Notes a mismatch and keeps the first few as examples.
    pub fn mismatch(&mut self, retry: bool, example: String) {
        if retry {
            self.retry_mismatches += 1;
        } else {
            self.duplicate_mismatches += 1;
        }
        if self.examples.len() < EXAMPLES {
            self.examples.push(example);
        }
    }
}

/// One correctness check's outcome.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Check {
    /// Stable name, e.g. `no_5xx`.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What was compared.
    pub detail: String,
}

fn check(name: &str, passed: bool, detail: String) -> Check {
    Check { name: name.to_owned(), passed, detail }
}

/// Reads orders, intents and the funnel back through the merchant API and compares them with `ledger`.
/// `before` is the funnel summary taken just before the load started.
pub async fn verify(
    api: &Api,
    fleet: &Fleet,
    ledger: &Ledger,
    stats: &Snapshot,
    before: &Summary,
) -> Result<Vec<Check>> {
    let ours = |device: &str| device.starts_with(&format!("{}-", fleet.device_prefix));
    let orders: Vec<OrderView> = api.list_all("/api/v1/orders", &fleet.api_key).await?;
    let orders: Vec<OrderView> = orders.into_iter().filter(|o| ours(&o.device_id)).collect();
    let intents: Vec<IntentView> = api.list_all("/api/v1/intents", &fleet.api_key).await?;
    let intents: Vec<IntentView> = intents.into_iter().filter(|i| ours(&i.device_id)).collect();
    let after = api.summary(&fleet.api_key).await?;
    let mut checks = Vec::new();

    let server_errors: u64 = stats.endpoints.iter().map(|e| e.count_in(500..=599)).sum();
    let transport: u64 = stats.endpoints.iter().map(|e| e.transport_errors).sum();
    checks.push(check("no_5xx", server_errors == 0, format!("{server_errors} answers were 5xx")));
    checks.push(check("every_request_answered", transport == 0, format!("{transport} requests got no HTTP answer")));
    checks.push(check(
        "duplicate_event_ids_identical",
        ledger.duplicate_mismatches == 0,
        format!(
            "{} of {} repeated event ids got a different answer",
            ledger.duplicate_mismatches, ledger.duplicates_compared
        ),
    ));
    checks.push(check(
        "retries_identical",
        ledger.retry_mismatches == 0,
        format!("{} of {} retried requests got a different answer", ledger.retry_mismatches, ledger.retries_compared),
    ));

    // One order per intent, one intent per order id.
    let mut by_intent: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let mut order_ids = HashSet::new();
    let mut repeated_ids = 0;
    for order in &orders {
        if !order_ids.insert(order.order_id) {
            repeated_ids += 1;
        }
        by_intent.entry(order.intent_id).or_default().push(order.order_id);
    }
    let doubled = by_intent.values().filter(|ids| ids.len() > 1).count();
    checks.push(check(
        "one_order_per_intent",
        doubled == 0 && repeated_ids == 0,
        format!(
            "{} orders; {doubled} intents with more than one order; {repeated_ids} repeated order ids",
            orders.len()
        ),
    ));

    // Orders placed = intents accepted, and each is the order the decision named.
    let missing = ledger.accepted.iter().filter(|(intent, order)| match (by_intent.get(intent), order) {
        (None, _) => true,
        (Some(ids), Some(order)) => !ids.contains(order),
        (Some(_), None) => false,
    });
    let missing = missing.count();
    let unexplained = by_intent
        .keys()
        .filter(|intent| !ledger.accepted.contains_key(intent) && !ledger.accepted_uncertain.contains(intent))
        .count();
    checks.push(check(
        "orders_equal_accepted",
        missing == 0 && unexplained == 0,
        format!(
            "{} intents accepted ({} more unanswered), {} with orders; {missing} acceptances without their order, \
             {unexplained} orders nobody accepted",
            ledger.accepted.len(),
            ledger.accepted_uncertain.len(),
            by_intent.len()
        ),
    ));

    // Every prompt the simulator saw is an intent, in the state its decision left it.
    let listed: HashMap<Uuid, IntentStatus> = intents.iter().map(|i| (i.intent_id, i.status)).collect();
    let unknown = ledger.intents.iter().filter(|i| !listed.contains_key(i)).count();
    let wrong_state = ledger
        .rejected
        .iter()
        .filter(|i| listed.get(*i).is_some_and(|s| *s != IntentStatus::Rejected))
        .chain(ledger.accepted.keys().filter(|i| {
            listed.get(*i).is_some_and(|s| {
                !matches!(
                    s,
                    IntentStatus::Accepted | IntentStatus::Ordered | IntentStatus::Confirmed | IntentStatus::Failed
                )
            })
        }))
        .count();
    let extra = listed.len() as u64 > ledger.intents.len() as u64 + ledger.detections_uncertain;
    checks.push(check(
        "intents_match_prompts",
        unknown == 0 && wrong_state == 0 && !extra,
        format!(
            "{} prompts seen, {} intents listed; {unknown} prompts without an intent, {wrong_state} intents in a state \
             their decision contradicts",
            ledger.intents.len(),
            listed.len()
        ),
    ));

    // The funnel counts this run added (after minus before) are what the simulator was told.
    let delta = |count: fn(&Summary) -> u64| count(&after).saturating_sub(count(before));
    let within = |got: u64, at_least: u64, slack: u64| got >= at_least && got <= at_least + slack;
    let (detections, prompts, accepted) = (delta(|s| s.detections), delta(|s| s.prompts), delta(|s| s.accepted));
    checks.push(check(
        "telemetry_matches",
        within(detections, ledger.detections_ok, ledger.detections_uncertain)
            && within(prompts, ledger.prompts, ledger.detections_uncertain)
            && within(accepted, ledger.accepted.len() as u64, ledger.accepted_uncertain.len() as u64),
        format!(
            "summary: {detections} detections, {prompts} prompts, {accepted} accepted; simulator: {} detections \
             ({} unanswered), {} prompts, {} accepted",
            ledger.detections_ok,
            ledger.detections_uncertain,
            ledger.prompts,
            ledger.accepted.len()
        ),
    ));
    Ok(checks)
}
