use super::{check_id, check_type, Fhir};
use crate::error::{FhirError, Result};
use crate::persistence::{Expect, Method, StoredVersion, WriteOp};

/// `DELETE [type]/[id]`: a versioned soft delete. `None` when nothing live was there.
pub async fn delete(fhir: &Fhir, tenant: &str, resource_type: &str, id: &str, if_match: Option<u64>, gate: &super::gate::GateRef) -> Result<Option<StoredVersion>> {
    check_type(fhir, resource_type)?;
    check_id(id)?;
    let expect = if_match.map(Expect::Version).unwrap_or(Expect::Any);
    let op = WriteOp { resource_type: resource_type.to_string(), id: id.to_string(), expect, method: Method::Delete, resource: None };
    let mut results = super::gate::commit(fhir, tenant, gate, vec![op]).await?;
    let result = results.pop().ok_or_else(|| FhirError::Internal("the store returned no result for a delete".into()))?;
    Ok(result.version)
}
