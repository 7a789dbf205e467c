//! Devices (admin and merchant APIs): registration bodies, batches, the device view.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::ResourceId;
use crate::problem::{Invalid, Violations, text_ok};

/// Most devices one batch registers.
pub const MAX_BATCH: usize = 1_000;

/// The registration details of a device (admin `PUT …/devices/{device}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "store": "mission-st",
    "model": "Spectacles 5",
    "serial": "SN-0042",
    "owner": "household-17"
})))]
pub struct DeviceSpec {
    /// Store the device orders from; it must exist.
    pub store: ResourceId,
    /// Hardware model (1-64 characters).
    pub model: String,
    /// Hardware serial number (1-128 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Wearer or household (1-128 characters); devices of one owner share order history.
    pub owner: String,
    /// A test device: its orders go to the mock provider whatever the store
    /// uses and count against no budget and no revenue.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// One device to register (merchant `POST /api/v1/devices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "device_id": "glasses-0042",
    "store": "mission-st",
    "owner": "household-17",
    "model": "Spectacles 5",
    "serial": "SN-0042"
})))]
pub struct NewDevice {
    /// Device id.
    pub device_id: ResourceId,
    /// Store the device orders from; it must exist.
    pub store: ResourceId,
    /// Wearer or household.
    pub owner: String,
    /// Hardware model.
    pub model: String,
    /// Hardware serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// A test device (see [`DeviceSpec::test`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

impl NewDevice {
    /// The registration details without the id.
    pub fn spec(&self) -> DeviceSpec {
        DeviceSpec {
            store: self.store.clone(),
            model: self.model.clone(),
            serial: self.serial.clone(),
            owner: self.owner.clone(),
            test: self.test,
        }
    }
}

/// Body of `POST /api/v1/devices:batch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "devices": [
        {
            "device_id": "glasses-0042",
            "store": "mission-st",
            "owner": "household-17",
            "model": "Spectacles 5",
            "serial": "SN-0042"
        }
    ]
})))]
pub struct DeviceBatch {
    /// 1-1000 devices, registered all together or not at all.
    pub devices: Vec<NewDevice>,
}

impl DeviceSpec {
    /// Checks the rules serde cannot express; `at` prefixes field names.
    pub fn check(&self, at: &str, violations: &mut Violations) {
        violations.check(!text_ok(&self.model, 64), format!("{at}model"), "must be 1-64 characters, without NUL");
        violations.check(!text_ok(&self.owner, 128), format!("{at}owner"), "must be 1-128 characters, without NUL");
        violations.check(
            self.serial.as_deref().is_some_and(|s| !text_ok(s, 128)),
            format!("{at}serial"),
            "must be 1-128 characters without NUL when given",
        );
    }

    /// Validates one spec on its own.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut violations = Violations::default();
        self.check("", &mut violations);
        violations.finish()
    }
}

impl DeviceBatch {
    /// Validates every device and the batch as a whole.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut violations = Violations::default();
        violations.check(
            self.devices.is_empty() || self.devices.len() > MAX_BATCH,
            "devices",
            format!("must hold 1-{MAX_BATCH} devices"),
        );
        let mut seen = std::collections::HashSet::new();
        for (i, device) in self.devices.iter().enumerate() {
            device.spec().check(&format!("devices[{i}]."), &mut violations);
            violations.check(
                !seen.insert(device.device_id.as_str()),
                format!("devices[{i}].device_id"),
                "is repeated in this batch",
            );
        }
        violations.finish()
    }
}

/// Whether a device's token works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// The token works.
    Active,
    /// The token was revoked.
    Revoked,
}

wire_enum!(DeviceStatus, "device status" { Active => "active", Revoked => "revoked" });

/// A device as the APIs show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "device_id": "glasses-0042",
    "store": "mission-st",
    "owner": "household-17",
    "model": "Spectacles 5",
    "serial": "SN-0042",
    "status": "active",
    "created_at": "2026-05-01T09:00:00Z",
    "updated_at": "2026-05-01T09:00:00Z",
    "revoked_at": null,
    "token": "rpl_d_Jq7vN2xR8kT4mW9pL3sY6bH1"
})))]
pub struct DeviceView {
    /// Device id.
    pub device_id: String,
    /// Store the device orders from.
    pub store: String,
    /// Wearer or household.
    pub owner: String,
    /// Hardware model.
    pub model: String,
    /// Hardware serial number.
    pub serial: Option<String>,
    /// Active or revoked.
    pub status: DeviceStatus,
    /// A test device: its orders are test orders.
    #[serde(default)]
    pub test: bool,
    /// Registration time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last revocation.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The device token: present only in the response that issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Response of a batch registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "devices": [
        {
            "device_id": "glasses-0042",
            "store": "mission-st",
            "owner": "household-17",
            "model": "Spectacles 5",
            "serial": "SN-0042",
            "status": "active",
            "created_at": "2026-05-01T09:00:00Z",
            "updated_at": "2026-05-01T09:00:00Z",
            "revoked_at": null,
            "token": "rpl_d_Jq7vN2xR8kT4mW9pL3sY6bH1"
        }
    ]
})))]
pub struct RegisteredBatch {
    /// The registered devices with their tokens, in request order.
    pub devices: Vec<DeviceView>,
}
