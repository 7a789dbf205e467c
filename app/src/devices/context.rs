//! The device as the detection path knows it once activated.

use crate::db::scope::DeviceScope;

/// Who is detecting: the device as the registry loaded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceContext {
    /// Tenant id.
    pub tenant_id: String,
    /// Device id.
    pub device_id: String,
    /// Store the device orders from.
    pub store_id: String,
    /// Household.
    pub owner: String,
    /// A test device: its orders go to the mock provider and count against no budget.
    pub test: bool,
    /// The device within its tenant, for the queries made on its behalf.
    pub scope: DeviceScope,
}
