//! The checks over a chaos run: a pure function of the history and of what
//! was read back afterwards, so each check can be tested on hand-made input.
//!
//! Unknown outcomes (timeouts, broken connections, 5xx) may have had their
//! effect or not; they are never a violation either way, but they may never
//! have had it twice.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::history::{History, OpKind, Outcome};
pub use super::readback::{
    DeliveredEvent, DetectionRow, EventRow, IntentRow, MerchantLedger, OrderRow, ReadBack, SpendRow, WebhookLedger,
};

/// How many example violations each check keeps.
const EXAMPLES: usize = 5;

/// Intent statuses an accepted intent may have.
const ACCEPTED_STATES: [&str; 4] = ["ACCEPTED", "ORDERED", "CONFIRMED", "FAILED"];
/// Order statuses that gave the order's amount back to the owner's budget.
const REFUNDING: [&str; 3] = ["FAILED", "CANCELLED", "REFUNDED"];

/// One check's counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Stable name.
    pub name: String,
    /// What it means, in one line.
    pub meaning: String,
    /// Items looked at.
    pub checked: u64,
    /// Items that broke it.
    pub violated: u64,
    /// A few of them.
    pub examples: Vec<String>,
    /// Deliveries beyond the first of the same item (allowed: retries), for checks that count them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
}

impl CheckResult {
    fn new(name: &str, meaning: &str) -> Self {
        Self {
            name: name.into(),
            meaning: meaning.into(),
            checked: 0,
            violated: 0,
            examples: Vec::new(),
            retries: None,
        }
    }

    fn look(&mut self, ok: bool, example: impl FnOnce() -> String) {
        self.checked += 1;
        if !ok {
            self.violated += 1;
            if self.examples.len() < EXAMPLES {
                self.examples.push(example());
            }
        }
    }
}

/// Checks the issue names that cannot run yet, and why (none left: the report keeps the
/// field so a check that needs a missing feature can be named here, not silently skipped).
pub const NOT_YET_CHECKED: &[(&str, &str)] = &[];

/// The facts the history establishes, collected once for all checks.
#[derive(Default)]
struct Facts {
    /// (device, event id) acknowledged with a 2xx.
    acked_detections: BTreeSet<(String, String)>,
    /// (device, event id) whose every answer was unknown, with how many unknown sends.
    unknown_detections: BTreeSet<(String, String)>,
    /// Intent ids acknowledged in a detection's answer, with the device.
    acked_intents: BTreeMap<Uuid, String>,
    /// Decisions acknowledged: intent → accepted?
    acked_decisions: BTreeMap<Uuid, bool>,
    /// Orders named in an acknowledged acceptance: order → intent.
    acked_orders: BTreeMap<Uuid, Uuid>,
    /// Intents whose acceptance went out (any outcome but "not sent" or a refusal).
    acceptance_sent: HashSet<Uuid>,
    /// Intents whose acceptance had an unknown outcome.
    unknown_acceptances: BTreeSet<Uuid>,
    /// Intents a decision found expired (410).
    expired_answers: BTreeSet<Uuid>,
    /// Requests with an unknown outcome.
    unknown_ops: u64,
}

fn facts(history: &History) -> Facts {
    let mut f = Facts::default();
    for op in &history.ops {
        if op.outcome.is_unknown() {
            f.unknown_ops += 1;
        }
        match &op.kind {
            OpKind::Detection { device, event_id, .. } => {
                let key = (device.clone(), event_id.clone());
                if let Some(body) = op.outcome.acknowledged() {
                    f.acked_detections.insert(key);
                    let prompted = body["should_prompt"].as_bool().unwrap_or(false);
                    if let Some(intent) = body["intent_id"].as_str().and_then(|s| s.parse().ok())
                        && prompted
                    {
                        f.acked_intents.insert(intent, device.clone());
                    }
                } else if op.outcome.is_unknown() {
                    f.unknown_detections.insert(key);
                }
            }
            OpKind::Decision { intent, accept, .. } => {
                match &op.outcome {
                    Outcome::Ok { body, .. } => {
                        f.acked_decisions.insert(*intent, *accept);
                        if let Some(order) = body["order"]["order_id"].as_str().and_then(|s| s.parse().ok()) {
                            f.acked_orders.insert(order, *intent);
                        }
                    }
                    Outcome::Refused { status: 410 } => {
                        f.expired_answers.insert(*intent);
                    }
                    _ => {}
                }
                if *accept && !matches!(op.outcome, Outcome::NotSent | Outcome::Refused { .. }) {
                    f.acceptance_sent.insert(*intent);
                }
                if *accept && op.outcome.is_unknown() {
                    f.unknown_acceptances.insert(*intent);
                }
            }
        }
    }
    // An event id acknowledged on another send is no longer unknown.
    let acked = f.acked_detections.clone();
    f.unknown_detections.retain(|k| !acked.contains(k));
    f
}

/// The read-back state, indexed for the checks.
struct Index<'a> {
    detections: HashMap<(&'a str, &'a str), u64>,
    intents: HashMap<Uuid, Vec<&'a IntentRow>>,
    orders_by_id: HashMap<Uuid, Vec<&'a OrderRow>>,
    orders_by_intent: HashMap<Uuid, Vec<&'a OrderRow>>,
}

impl<'a> Index<'a> {
    fn new(state: &'a ReadBack) -> Self {
        let mut index = Self {
            detections: HashMap::new(),
            intents: HashMap::new(),
            orders_by_id: HashMap::new(),
            orders_by_intent: HashMap::new(),
        };
        for d in &state.detections {
            *index.detections.entry((d.device_id.as_str(), d.event_id.as_str())).or_default() += 1;
        }
        for i in &state.intents {
            index.intents.entry(i.id).or_default().push(i);
        }
        for o in &state.orders {
            index.orders_by_id.entry(o.id).or_default().push(o);
            index.orders_by_intent.entry(o.intent_id).or_default().push(o);
        }
        index
    }

    fn detections(&self, (device, event): &(String, String)) -> u64 {
        self.detections.get(&(device.as_str(), event.as_str())).copied().unwrap_or(0)
    }

    fn orders_of(&self, intent: &Uuid) -> usize {
        self.orders_by_intent.get(intent).map_or(0, Vec::len)
    }

    fn intent(&self, id: &Uuid) -> Option<&'a IntentRow> {
        self.intents.get(id).and_then(|rows| rows.first().copied())
    }
}

/// Runs every check of the history against what was read back.
pub fn check(history: &History, state: &ReadBack) -> Vec<CheckResult> {
    let f = facts(history);
    let index = Index::new(state);
    let mut out = acknowledged_checks(&f, &index);
    out.extend(order_checks(&f, &index, state));
    out.push(budget_check(state));
    out.push(refund_check(state));
    out.push(unknown_check(&f, &index));
    out.push(delivery_check(state));
    let mut c = CheckResult::new(
        "merchant_orders_known",
        "every order the merchant placed is a stored order (nothing placed that Replenish does not know of)",
    );
    for id in state.merchant.placed.keys() {
        c.look(index.orders_by_id.contains_key(id), || format!("merchant placed {id}, which is not stored"));
    }
    out.push(c);
    out
}

/// Every acknowledged detection, intent and decision exists exactly once.
fn acknowledged_checks(f: &Facts, index: &Index<'_>) -> Vec<CheckResult> {
    let mut detections =
        CheckResult::new("acknowledged_detections_exist_once", "every detection answered 2xx is stored exactly once");
    for key in &f.acked_detections {
        let n = index.detections(key);
        detections.look(n == 1, || format!("{} {}: stored {n} times", key.0, key.1));
    }
    let mut intents = CheckResult::new(
        "acknowledged_intents_exist_once",
        "every prompt's intent is stored exactly once, for its device",
    );
    for (id, device) in &f.acked_intents {
        let rows = index.intents.get(id).map_or(&[][..], Vec::as_slice);
        intents.look(rows.len() == 1 && rows[0].device_id == *device, || format!("intent {id}: {} rows", rows.len()));
    }
    let mut decisions = CheckResult::new(
        "acknowledged_decisions_recorded",
        "every decision answered 2xx left its intent accepted (or declined) as decided",
    );
    for (id, accept) in &f.acked_decisions {
        let row = index.intent(id);
        let ok = row.is_some_and(|r| {
            if *accept {
                r.accepted == Some(true) && ACCEPTED_STATES.contains(&r.status.as_str())
            } else {
                r.accepted == Some(false) && r.status == "REJECTED"
            }
        });
        let decided = if *accept { "accepted" } else { "declined" };
        decisions.look(ok, || format!("intent {id} ({decided}): stored as {row:?}"));
    }
    vec![detections, intents, decisions]
}

/// Every acknowledged order exists once; no order without an accepted intent; none on an expired one.
fn order_checks(f: &Facts, index: &Index<'_>, state: &ReadBack) -> Vec<CheckResult> {
    let mut acked = CheckResult::new(
        "acknowledged_orders_exist_once",
        "every order named in a 2xx acceptance is stored once, for its intent, and is that intent's only order",
    );
    for (order, intent) in &f.acked_orders {
        let rows = index.orders_by_id.get(order).map_or(0, Vec::len);
        let same = index.orders_by_id.get(order).is_some_and(|r| r.iter().all(|o| o.intent_id == *intent));
        let per_intent = index.orders_of(intent);
        acked.look(rows == 1 && same && per_intent == 1, || {
            format!("order {order} of intent {intent}: {rows} rows, the intent has {per_intent} orders")
        });
    }
    let mut accepted = CheckResult::new(
        "no_order_without_accepted_intent",
        "every stored order belongs to an intent stored as accepted, whose acceptance was sent",
    );
    for o in &state.orders {
        let intent = index.intent(&o.intent_id);
        let ok = intent.is_some_and(|i| i.accepted == Some(true) && ACCEPTED_STATES.contains(&i.status.as_str()))
            && f.acceptance_sent.contains(&o.intent_id);
        accepted.look(ok, || format!("order {} of intent {}: intent {:?}", o.id, o.intent_id, intent));
    }
    let mut expired = CheckResult::new(
        "no_intent_expired_and_ordered",
        "no intent stored as EXPIRED, or answered 410 to a decision, has an order",
    );
    let lapsed = state.intents.iter().filter(|i| i.status == "EXPIRED").map(|i| i.id);
    let lapsed: BTreeSet<Uuid> = lapsed.chain(f.expired_answers.iter().copied()).collect();
    for id in &lapsed {
        let n = index.orders_of(id);
        expired.look(n == 0, || format!("intent {id} expired yet has {n} orders"));
    }
    vec![acked, accepted, expired]
}

/// A request with an unknown outcome had its effect at most once.
fn unknown_check(f: &Facts, index: &Index<'_>) -> CheckResult {
    let mut c = CheckResult::new(
        "unknown_outcomes_at_most_once",
        "a detection or acceptance that timed out (or got a 5xx) had its effect at most once",
    );
    for key in &f.unknown_detections {
        let n = index.detections(key);
        c.look(n <= 1, || format!("{} {}: stored {n} times", key.0, key.1));
    }
    for intent in &f.unknown_acceptances {
        let n = index.orders_of(intent);
        c.look(n <= 1, || format!("intent {intent}: {n} orders"));
    }
    c
}

/// Each owner's spend per budget day equals the sum of their live (not refunded, not test) orders.
fn budget_check(state: &ReadBack) -> CheckResult {
    let mut c = CheckResult::new(
        "budget_spend_matches_orders",
        "each owner's reserved spend per budget day equals the sum of their orders not failed, cancelled or refunded",
    );
    let mut expected: BTreeMap<(String, String), i64> = BTreeMap::new();
    for o in state.orders.iter().filter(|o| !o.test) {
        let live = if REFUNDING.contains(&o.status.as_str()) { 0 } else { o.total_cents };
        *expected.entry((o.owner.clone(), o.budget_day.clone())).or_default() += live;
    }
    let mut stored: BTreeMap<(String, String), i64> = BTreeMap::new();
    for s in &state.spend {
        *stored.entry((s.owner.clone(), s.day.clone())).or_default() += s.cents;
    }
    let keys: BTreeSet<&(String, String)> = expected.keys().chain(stored.keys()).collect();
    for key in keys {
        let (want, got) = (expected.get(key).copied().unwrap_or(0), stored.get(key).copied().unwrap_or(0));
        c.look(want == got, || format!("owner {} day {}: spend {got} cents, live orders {want}", key.0, key.1));
    }
    c
}

/// No order was refunded while the merchant may have placed it: a refund
/// needs a definite refusal from the merchant.
fn refund_check(state: &ReadBack) -> CheckResult {
    let mut c = CheckResult::new(
        "no_refund_of_unknown_outcome",
        "no order is refunded (FAILED/CANCELLED/REFUNDED) unless the merchant definitely refused it",
    );
    for o in &state.orders {
        let placed = state.merchant.placed.contains_key(&o.id);
        let refused = state.merchant.refused.contains(&o.id);
        let refunded = REFUNDING.contains(&o.status.as_str());
        c.look(!refunded || (refused && !placed), || {
            format!(
                "order {} is {} but the merchant {}",
                o.id,
                o.status,
                if placed { "placed it" } else { "never refused it" }
            )
        });
    }
    c
}

/// Every stored event reached the merchant's webhook receiver at least once, and every
/// delivery of it said what the stored event says; further deliveries are retries.
fn delivery_check(state: &ReadBack) -> CheckResult {
    let mut c = CheckResult::new(
        "every_event_delivered",
        "every event stored for the tenant reached the webhook receiver at least once (by event id), each \
         delivery's body matching the stored event (id, type, tenant, object); repeats are retries",
    );
    let mut retries = 0;
    for event in &state.events {
        let deliveries = state.webhooks.deliveries.get(&event.id).copied().unwrap_or(0);
        retries += u64::from(deliveries.saturating_sub(1));
        let stored = event.as_delivered();
        let bodies = state.webhooks.bodies.get(&event.id).map_or(&[][..], Vec::as_slice);
        let wrong = bodies.iter().find(|b| **b != stored);
        c.look(deliveries > 0 && wrong.is_none(), || match wrong {
            Some(body) => format!("event {} ({}): delivered as {body:?}", event.id, event.event_type),
            None => format!(
                "event {} ({} of {} {}): never delivered",
                event.id, event.event_type, event.object_kind, event.object_id
            ),
        });
    }
    c.retries = Some(retries);
    c
}

#[cfg(test)]
mod tests;
