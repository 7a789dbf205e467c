//! What the APIs say about devices. The wire types live in
//! `replenish_api::devices`; this module adds what needs the database.

use crate::devices::entity;

pub use replenish_api::devices::{
    DeviceBatch, DeviceSpec, DeviceStatus, DeviceView, MAX_BATCH, NewDevice, RegisteredBatch,
};

/// Builds the API view of a stored device.
pub trait DeviceViewExt {
    /// Builds the view of a stored device.
    fn from_model(model: &entity::Model) -> Self;
}

impl DeviceViewExt for DeviceView {
    fn from_model(model: &entity::Model) -> Self {
        Self {
            device_id: model.id.clone(),
            store: model.store_id.clone(),
            owner: model.owner.clone(),
            model: model.model.clone(),
            serial: model.serial.clone(),
            status: if model.active { DeviceStatus::Active } else { DeviceStatus::Revoked },
            created_at: model.created_at,
            updated_at: model.updated_at,
            revoked_at: model.revoked_at,
            test: model.test,
            token: None,
        }
    }
}
