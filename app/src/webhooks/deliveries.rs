//! The delivery service: what the dispatcher does with an attempt's result
//! (including disabling an endpoint past the retry horizon), manual
//! redelivery, and the view the delivery log shows.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::events::{self, NewEvent};
use crate::webhooks::delivery_repo::{self, AttemptRecord};
use crate::webhooks::entity::delivery;
use crate::webhooks::{endpoints, repo};
use replenish_api::EventType;
use replenish_api::webhooks::{DeliveryOutcome, DeliveryView};

/// The API view of a stored delivery.
pub fn view(row: &delivery::Model) -> Result<DeliveryView, Error> {
    let outcome = DeliveryOutcome::parse(&row.outcome)?;
    let open = matches!(outcome, DeliveryOutcome::Pending | DeliveryOutcome::Failed);
    Ok(DeliveryView {
        delivery_id: row.id,
        event_id: row.event_id,
        event_type: EventType::parse(&row.event_type)?,
        attempt: u32::try_from(row.attempt).unwrap_or(0),
        outcome,
        status_code: row.status_code.and_then(|s| u16::try_from(s).ok()),
        latency_ms: row.latency_ms.and_then(|l| u64::try_from(l).ok()),
        response_body: row.response_body.clone(),
        attempted_at: row.attempted_at,
        next_attempt_at: row.next_attempt_at.filter(|_| open),
        created_at: row.created_at,
    })
}

/// What became of a delivery that failed past the retry horizon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GaveUp {
    /// Whether the attempt was recorded (not overtaken by a newer one).
    pub recorded: bool,
    /// Whether this call disabled the endpoint.
    pub disabled: bool,
    /// Other open deliveries of the endpoint abandoned with it.
    pub abandoned: u64,
}

/// Records the last failed attempt of `claimed` as abandoned and disables
/// its endpoint with `reason`: the endpoint's open deliveries are abandoned
/// and an `endpoint.disabled` event is written, all in one transaction.
pub async fn give_up(
    db: &DatabaseConnection,
    claimed: &delivery::Model,
    attempt: &AttemptRecord,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<GaveUp, Error> {
    let tenant = TenantScope::parse(&claimed.tenant_id)?;
    let txn = crate::db::begin_write(db).await?;
    let record = AttemptRecord { outcome: DeliveryOutcome::Abandoned, next_attempt_at: None, ..attempt.clone() };
    if !delivery_repo::record(&txn, claimed, &record).await? {
        return Ok(GaveUp { recorded: false, disabled: false, abandoned: 0 });
    }
    let disabled = repo::disable(&txn, &tenant, &claimed.endpoint_id, reason, now).await?;
    let mut abandoned = 0;
    if disabled {
        abandoned = delivery_repo::abandon_endpoint(&txn, &tenant, &claimed.endpoint_id).await?;
        if let Some(row) = repo::find(&txn, &tenant, &claimed.endpoint_id).await? {
            let snapshot = endpoints::view(&row, None, now)?;
            let event = NewEvent::of(EventType::EndpointDisabled, &row.id, false, &snapshot)?;
            events::record(&txn, &tenant, event, now).await?;
        }
    }
    txn.commit().await?;
    Ok(GaveUp { recorded: true, disabled, abandoned })
}

/// Queues event `event_id` again: one new delivery to endpoint `only` when
/// named (enabled; subscribed or not: the merchant asked for it), else one
/// per enabled endpoint subscribed to the event's type. The new deliveries.
pub async fn redeliver(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    event_id: Uuid,
    only: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<DeliveryView>, Error> {
    let event = events::repo::find(db, tenant, event_id).await?.ok_or(Error::NotFound("event"))?;
    let targets: Vec<String> = match only {
        Some(id) => {
            let endpoint = repo::find(db, tenant, id).await?.ok_or(Error::NotFound("webhook endpoint"))?;
            if !endpoint.enabled {
                return Err(Error::Conflict {
                    kind: "endpoint-disabled",
                    detail: format!("webhook endpoint {id} is disabled; enable it (PUT with enabled: true) first"),
                });
            }
            vec![endpoint.id]
        }
        None => repo::enabled(db, tenant)
            .await?
            .into_iter()
            .filter(|e| {
                endpoints::subscribed(e).is_ok_and(|types| types.iter().any(|t| t.as_str() == event.event_type))
            })
            .map(|e| e.id)
            .collect(),
    };
    let rows: Vec<delivery::Model> =
        targets.iter().map(|endpoint| delivery_repo::new_delivery(&event, endpoint, now)).collect();
    let txn = crate::db::begin_write(db).await?;
    delivery_repo::insert_all(&txn, &rows).await?;
    txn.commit().await?;
    rows.iter().map(view).collect()
}
