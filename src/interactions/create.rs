use serde_json::Value;

use super::{binary, check_resource, check_type, Fhir};
use crate::error::{FhirError, Result};
use crate::persistence::{Expect, Method, StoredVersion, WriteOp};

/// `POST [type]`: stores a new resource under a server-assigned id (any id in the body is ignored).
pub async fn create(fhir: &Fhir, tenant: &str, resource_type: &str, mut resource: Value, gate: &super::gate::GateRef) -> Result<StoredVersion> {
    check_type(fhir, resource_type)?;
    let id = super::transaction::entry::new_id();
    if let Some(obj) = resource.as_object_mut() {
        obj.remove("id");
    }
    check_resource(fhir, resource_type, &resource)?;
    binary::offload(fhir, tenant, &id, &mut resource).await?;
    let op = WriteOp { resource_type: resource_type.to_string(), id, expect: Expect::Absent, method: Method::Post, resource: Some(resource) };
    let mut results = super::gate::commit(fhir, tenant, gate, vec![op]).await?;
    results
        .pop()
        .and_then(|r| r.version)
        .ok_or_else(|| FhirError::Internal("the store returned no version for a create".into()))
}
