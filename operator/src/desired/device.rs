//! What a `Device` should produce.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use super::tenant::tenant_of_namespace;
use super::tenant_labels;
use crate::crd::Device;
use crate::error::{Error, Result};

/// Key of the device token inside the credentials Secret.
pub const TOKEN_FIELD: &str = "token";

/// Name of the Secret holding device `name`'s token.
pub fn credentials_secret_name(name: &str) -> String {
    format!("device-{name}-credentials")
}

/// The tenant a device belongs to: the one whose namespace it lives in.
pub fn tenant_of(device: &Device) -> Result<String> {
    let namespace = device.namespace().unwrap_or_default();
    tenant_of_namespace(&namespace)
        .map(str::to_owned)
        .ok_or_else(|| Error::Invalid(format!("namespace {namespace:?} is not a tenant namespace (tenant-<name>)")))
}

/// The body of `PUT /admin/v1/tenants/{tenant}/devices/{name}`; fails when the store is no valid id.
pub fn app_request(device: &Device) -> Result<replenish_api::DeviceSpec> {
    let store =
        replenish_api::ResourceId::parse(&device.spec.store).map_err(|e| Error::Invalid(format!("store: {e}")))?;
    Ok(replenish_api::DeviceSpec {
        store,
        model: device.spec.model.clone(),
        serial: device.spec.serial.clone(),
        owner: device.spec.owner.clone(),
        test: device.spec.test,
    })
}

/// The Secret with the token the app issued, owned by the Device.
pub fn credentials_secret(device: &Device, tenant: &str, token: &str) -> Secret {
    let name = device.name_any();
    let data = BTreeMap::from([
        (TOKEN_FIELD.to_owned(), ByteString(token.as_bytes().to_vec())),
        ("tenant".to_owned(), ByteString(tenant.as_bytes().to_vec())),
        ("device".to_owned(), ByteString(name.clone().into_bytes())),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(credentials_secret_name(&name)),
            namespace: device.namespace(),
            labels: Some(tenant_labels(tenant)),
            owner_references: device.controller_owner_ref(&()).map(|r| vec![r]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::DeviceSpec;

    fn device(namespace: &str) -> Device {
        let mut d = Device::new(
            "glasses-1",
            DeviceSpec {
                store: "main".into(),
                model: "spectacles-5".into(),
                serial: Some("SN-1".into()),
                owner: "household-7".into(),
                paused: false,
                test: true,
            },
        );
        d.metadata.namespace = Some(namespace.into());
        d.metadata.uid = Some("uid-dev".into());
        d
    }

    #[test]
    fn app_request_carries_every_spec_field() {
        let request = app_request(&device("tenant-acme")).unwrap();
        assert_eq!(
            request,
            replenish_api::DeviceSpec {
                store: replenish_api::ResourceId::parse("main").unwrap(),
                model: "spectacles-5".into(),
                serial: Some("SN-1".into()),
                owner: "household-7".into(),
                test: true,
            }
        );
        let mut without_serial = device("tenant-acme");
        without_serial.spec.serial = None;
        let json = serde_json::to_value(app_request(&without_serial).unwrap()).unwrap();
        assert!(json.get("serial").is_none(), "absent serial is not sent as null: {json}");
    }

    #[test]
    fn tenant_comes_from_the_namespace() {
        assert_eq!(tenant_of(&device("tenant-acme")).unwrap(), "acme");
        assert!(matches!(tenant_of(&device("default")), Err(Error::Invalid(_))));
    }

    #[test]
    fn credentials_secret_is_named_after_the_device_and_owned_by_it() {
        let secret = credentials_secret(&device("tenant-acme"), "acme", "rpl_d_token");
        assert_eq!(secret.metadata.name.as_deref(), Some("device-glasses-1-credentials"));
        assert_eq!(secret.metadata.namespace.as_deref(), Some("tenant-acme"));
        let owner = &secret.metadata.owner_references.unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("Device", "uid-dev"));
        let data = secret.data.unwrap();
        assert_eq!(data[TOKEN_FIELD].0, b"rpl_d_token");
        assert_eq!(data["tenant"].0, b"acme");
        assert_eq!(data["device"].0, b"glasses-1");
    }
}
