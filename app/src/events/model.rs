//! Events as the API shows them, and the value a repository hands to
//! [`crate::events::record`].

use serde::Serialize;

use crate::error::Error;
use crate::events::entity::event;
pub use replenish_api::{Event, EventType};

/// An event about to be written with its change.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What happened.
    pub event_type: EventType,
    /// The object's id.
    pub object_id: String,
    /// Whether it concerns a test device.
    pub test: bool,
    /// The object's API view, as JSON text.
    pub data: String,
}

impl NewEvent {
    /// An event whose snapshot is `view`, the object as the API shows it after the change.
    pub fn of(
        event_type: EventType,
        object_id: impl ToString,
        test: bool,
        view: &impl Serialize,
    ) -> Result<Self, Error> {
        let data = serde_json::to_string(view).map_err(|e| Error::Internal(format!("event snapshot: {e}")))?;
        Ok(Self { event_type, object_id: object_id.to_string(), test, data })
    }
}

/// The wire form of a stored event.
pub fn to_event(row: &event::Model) -> Result<Event, Error> {
    let event_type = EventType::parse(&row.event_type)?;
    let data = serde_json::from_str(&row.data)
        .map_err(|e| Error::Internal(format!("stored event {} does not parse: {e}", row.id)))?;
    Ok(Event {
        id: row.id,
        event_type,
        created_at: row.created_at,
        tenant_id: row.tenant_id.clone(),
        object: row.object_kind.clone(),
        object_id: row.object_id.clone(),
        test: row.test,
        data,
    })
}
