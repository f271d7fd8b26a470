use serde_json::Value;

use super::{binary, check_id, check_resource, check_type, Fhir};
use crate::error::{FhirError, Result};
use crate::persistence::{Expect, Method, StoredVersion, WriteOp};

/// `PUT [type]/[id]`: a new version, or update-as-create with the client's id. `expect`
/// comes from `If-Match` (a version) or `If-None-Match: *` (create only).
/// Returns the new version and whether it created the resource.
pub async fn update(
    fhir: &Fhir,
    tenant: &str,
    resource_type: &str,
    id: &str,
    resource: Value,
    expect: Expect,
    gate: &super::gate::GateRef,
) -> Result<(StoredVersion, bool)> {
    check_type(fhir, resource_type)?;
    check_id(id)?;
    let mut resource = resource;
    match resource.get("id") {
        Some(Value::String(body_id)) if body_id == id => {}
        Some(Value::String(body_id)) => {
            return Err(FhirError::BadRequest(format!(
                "the body's id '{}' does not match the URL's id '{id}'",
                body_id.chars().take(80).collect::<String>()
            )))
        }
        Some(_) => return Err(FhirError::BadRequest("the body's id must be a string".into())),
        None => return Err(FhirError::BadRequest(format!("the body has no id; it must be '{id}' as in the URL"))),
    }
    check_resource(fhir, resource_type, &resource)?;
    // An update that changes nothing answers with the current version (decided like a write).
    if !matches!(expect, Expect::Absent) && resource_type != "Binary" {
        let current = fhir.store.read(tenant, resource_type, id).await?;
        if let Some(v) = super::unchanged(current.as_ref(), &resource) {
            if matches!(expect, Expect::Any) || expect == Expect::Version(v.version) {
                if let Some(g) = gate {
                    let op = WriteOp { resource_type: resource_type.to_string(), id: id.to_string(), expect, method: Method::Put, resource: Some(resource) };
                    g.write(&op, Some(&v))?;
                }
                return Ok((v, false));
            }
        }
    }
    binary::offload(fhir, tenant, id, &mut resource).await?;
    let op = WriteOp { resource_type: resource_type.to_string(), id: id.to_string(), expect, method: Method::Put, resource: Some(resource) };
    let mut results = super::gate::commit(fhir, tenant, gate, vec![op]).await?;
    let result = results.pop().ok_or_else(|| FhirError::Internal("the store returned no result for an update".into()))?;
    let version = result.version.ok_or_else(|| FhirError::Internal("the store returned no version for an update".into()))?;
    Ok((version, result.created))
}
