//! Each check on a hand-made history and read-back: clean, then broken the way it claims to catch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;

use super::*;
use crate::chaos::history::Op;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn op(n: u64, kind: OpKind, outcome: Outcome) -> Op {
    Op { n, app: 0, at_ms: n, kind, outcome }
}

fn detection(event: &str) -> OpKind {
    OpKind::Detection { device: "d".into(), event_id: event.into(), repeat: false }
}

fn decision(intent: Uuid, accept: bool) -> OpKind {
    OpKind::Decision { device: "d".into(), intent, accept, repeat: false }
}

fn ok(body: serde_json::Value) -> Outcome {
    Outcome::Ok { status: 200, body }
}

/// Two prompts: intent 1 accepted (order 10), intent 2 declined; a third detection timed out.
fn clean() -> (History, ReadBack) {
    let history = History {
        ops: vec![
            op(0, detection("e0"), ok(json!({"should_prompt": true, "intent_id": id(1)}))),
            op(1, detection("e1"), ok(json!({"should_prompt": true, "intent_id": id(2)}))),
            op(2, detection("e2"), Outcome::Timeout),
            op(0, decision(id(1), true), ok(json!({"order": {"order_id": id(10)}}))),
            op(1, decision(id(2), false), ok(json!({}))),
        ],
    };
    let row = |event: &str| DetectionRow { device_id: "d".into(), event_id: event.into() };
    let intent =
        |n, status: &str, accepted| IntentRow { id: id(n), device_id: "d".into(), status: status.into(), accepted };
    let state = ReadBack {
        detections: vec![row("e0"), row("e1")],
        intents: vec![intent(1, "CONFIRMED", Some(true)), intent(2, "REJECTED", Some(false))],
        orders: vec![order(10, 1, "CONFIRMED")],
        spend: vec![SpendRow { owner: "o".into(), day: "2026-11-30".into(), cents: 1299 }],
        merchant: MerchantLedger { placed: [(id(10), 1)].into(), refused: BTreeSet::new() },
        events: vec![event(20, "intent.created", "intent", id(1)), event(21, "order.confirmed", "order", id(10))],
        // The first event delivered once, the second twice (a retry).
        webhooks: WebhookLedger {
            deliveries: [(id(20), 1), (id(21), 2)].into(),
            bodies: [
                (id(20), vec![event(20, "intent.created", "intent", id(1)).as_delivered()]),
                (id(21), vec![event(21, "order.confirmed", "order", id(10)).as_delivered()]),
            ]
            .into(),
        },
    };
    (history, state)
}

fn event(n: u128, event_type: &str, object: &str, object_id: Uuid) -> EventRow {
    EventRow {
        id: id(n),
        event_type: event_type.into(),
        tenant_id: "t".into(),
        object_kind: object.into(),
        object_id: object_id.to_string(),
    }
}

fn order(n: u128, intent: u128, status: &str) -> OrderRow {
    OrderRow {
        id: id(n),
        intent_id: id(intent),
        owner: "o".into(),
        budget_day: "2026-11-30".into(),
        total_cents: 1299,
        status: status.into(),
        test: false,
    }
}

fn violations(history: &History, state: &ReadBack) -> BTreeMap<String, u64> {
    check(history, state).into_iter().filter(|c| c.violated > 0).map(|c| (c.name, c.violated)).collect()
}

fn only(name: &str, n: u64) -> BTreeMap<String, u64> {
    [(name.to_owned(), n)].into()
}

#[test]
fn a_clean_history_violates_nothing_and_counts_what_it_checked() {
    let (history, state) = clean();
    let checks = check(&history, &state);
    assert!(checks.iter().all(|c| c.violated == 0), "{checks:#?}");
    let checked = |name: &str| checks.iter().find(|c| c.name == name).unwrap().checked;
    assert_eq!(checked("acknowledged_detections_exist_once"), 2);
    assert_eq!(checked("acknowledged_intents_exist_once"), 2);
    assert_eq!(checked("acknowledged_decisions_recorded"), 2);
    assert_eq!(checked("acknowledged_orders_exist_once"), 1);
    assert_eq!(checked("unknown_outcomes_at_most_once"), 1);
    assert_eq!(checked("every_event_delivered"), 2);
    let delivered = checks.iter().find(|c| c.name == "every_event_delivered").unwrap();
    assert_eq!(delivered.retries, Some(1), "the second delivery of one event is a retry, not a violation");
}

#[test]
fn an_event_never_delivered_or_delivered_with_another_body_is_caught() {
    let (history, mut state) = clean();
    state.webhooks.deliveries.remove(&id(20));
    state.webhooks.bodies.remove(&id(20));
    assert_eq!(violations(&history, &state), only("every_event_delivered", 1));
    // A retry whose body names another object.
    let (history, mut state) = clean();
    let mut other = state.events[1].as_delivered();
    other.object_id = id(11).to_string();
    state.webhooks.bodies.get_mut(&id(21)).unwrap().push(other);
    assert_eq!(violations(&history, &state), only("every_event_delivered", 1));
    // Deliveries of events not stored for the tenant are not this check's business.
    let (history, mut state) = clean();
    state.webhooks.deliveries.insert(id(99), 1);
    assert!(violations(&history, &state).is_empty());
}

#[test]
fn a_lost_acknowledged_detection_is_caught() {
    let (history, mut state) = clean();
    state.detections.remove(0);
    assert_eq!(violations(&history, &state), only("acknowledged_detections_exist_once", 1));
}

#[test]
fn a_timed_out_detection_stored_either_way_is_fine_but_not_twice() {
    let (history, mut state) = clean();
    state.detections.push(DetectionRow { device_id: "d".into(), event_id: "e2".into() });
    assert!(violations(&history, &state).is_empty());
    state.detections.push(DetectionRow { device_id: "d".into(), event_id: "e2".into() });
    assert_eq!(violations(&history, &state), only("unknown_outcomes_at_most_once", 1));
}

#[test]
fn a_lost_intent_and_a_decision_stored_the_other_way_are_caught() {
    let (history, mut state) = clean();
    state.intents[1].status = "ACCEPTED".into();
    state.intents[1].accepted = Some(true);
    assert_eq!(violations(&history, &state), only("acknowledged_decisions_recorded", 1));
    state.intents.remove(1);
    let found = violations(&history, &state);
    assert_eq!(found.get("acknowledged_intents_exist_once"), Some(&1));
}

#[test]
fn a_lost_or_doubled_order_is_caught() {
    let (history, mut state) = clean();
    let mut copy = order(11, 1, "CONFIRMED");
    copy.total_cents = 0;
    state.orders.push(copy);
    assert_eq!(violations(&history, &state), only("acknowledged_orders_exist_once", 1));
    state.orders.clear();
    let found = violations(&history, &state);
    assert_eq!(found.get("acknowledged_orders_exist_once"), Some(&1));
    assert_eq!(found.get("merchant_orders_known"), Some(&1));
}

#[test]
fn an_order_nobody_accepted_or_on_an_expired_intent_is_caught() {
    let (mut history, mut state) = clean();
    // Intent 3: prompted, then a decision found it expired; an order appears anyway.
    history.ops.push(op(3, detection("e3"), ok(json!({"should_prompt": true, "intent_id": id(3)}))));
    history.ops.push(op(3, decision(id(3), true), Outcome::Refused { status: 410 }));
    state.detections.push(DetectionRow { device_id: "d".into(), event_id: "e3".into() });
    state.intents.push(IntentRow { id: id(3), device_id: "d".into(), status: "EXPIRED".into(), accepted: None });
    assert!(violations(&history, &state).is_empty());
    let mut stray = order(12, 3, "CONFIRMED");
    stray.total_cents = 0;
    state.orders.push(stray);
    let found = violations(&history, &state);
    assert_eq!(found.get("no_intent_expired_and_ordered"), Some(&1));
    assert_eq!(found.get("no_order_without_accepted_intent"), Some(&1));
}

#[test]
fn spend_that_does_not_match_the_live_orders_is_caught() {
    let (history, mut state) = clean();
    state.spend[0].cents = 2598;
    assert_eq!(violations(&history, &state), only("budget_spend_matches_orders", 1));
}

#[test]
fn a_refund_of_an_order_the_merchant_placed_is_caught_a_refused_one_is_not() {
    let (history, mut state) = clean();
    state.orders[0].status = "FAILED".into();
    state.spend[0].cents = 0;
    assert_eq!(violations(&history, &state), only("no_refund_of_unknown_outcome", 1));
    state.merchant.placed.clear();
    state.merchant.refused.insert(id(10));
    assert!(violations(&history, &state).is_empty());
}
