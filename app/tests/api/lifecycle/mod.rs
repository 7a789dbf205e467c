//! An order's life after placement: the merchant's status reports and the
//! timeline, the household guard while an order is on its way, the cancel
//! window, and test devices.

mod cancel;
mod guard;
mod status;
mod test_devices;

use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{Api, Reply, now_ms};

/// Prompts `device` for `object_class` (event `event`), accepts, expects
/// `status` for the intent and returns the decision's body.
async fn accepted(api: &Api, device: &str, event: &str, object_class: &str, status: &str) -> Value {
    let intent = api.prompted(device, event, object_class).await;
    let decided = api.decide(device, &intent, true, "GESTURE").await;
    let body = decided.assert_status(200).clone();
    assert_eq!(body["status"], status, "{body}");
    body
}

/// The order id of a decision's body.
fn order_of(decision: &Value) -> String {
    decision["order"]["order_id"].as_str().expect("order id").to_owned()
}

/// A merchant's status report.
async fn report(api: &Api, key: &str, order: &str, body: Value) -> Reply {
    api.call(Method::POST, &format!("/api/v1/orders/{order}/status"), Some(key), Some(body)).await
}

/// A cancellation by `token` (a device's or the merchant's).
async fn cancel(api: &Api, token: &str, order: &str, body: Value) -> Reply {
    api.call(Method::POST, &format!("/api/v1/orders/{order}/cancel"), Some(token), Some(body)).await
}

/// The order as `token` sees it.
async fn order(api: &Api, token: &str, order: &str) -> Reply {
    api.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(token), None).await
}

/// The statuses of an order view's timeline, oldest first.
fn timeline(view: &Value) -> Vec<String> {
    let entries = view["timeline"].as_array().unwrap_or_else(|| panic!("a timeline in {view}"));
    entries.iter().map(|e| e["status"].as_str().unwrap_or_default().to_owned()).collect()
}

/// A detection whose capture time is `ahead_ms` past the real clock (the app's
/// clock was advanced that far: the device's clock agrees with the server's).
async fn detect_at(api: &Api, device: &str, event: &str, object_class: &str, ahead_ms: i64) -> Reply {
    let body = json!({"event_id": event, "object_class": object_class, "fill_level": "EMPTY",
        "confidence": "HIGH", "captured_at_ms": now_ms() + ahead_ms});
    api.call(Method::POST, "/api/v1/detections", Some(device), Some(body)).await
}

/// Cents the tenant's households have committed to orders (the budget's
/// ledger): a refund lowers it, a second refund would lower it twice.
async fn committed_cents(db_url: &str) -> i64 {
    use replenish_app::orders::entity::spend;
    let db = sea_orm::Database::connect(db_url).await.expect("test database");
    spend::Entity::find().all(&db).await.expect("spend").iter().map(|s| s.cents).sum()
}
