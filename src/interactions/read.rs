use super::{binary, check_id, check_type, Fhir};
use crate::error::{FhirError, Result};
use crate::persistence::StoredVersion;

/// `GET [type]/[id]`: the current version; 404 if unknown, 410 if deleted.
pub async fn read(fhir: &Fhir, tenant: &str, resource_type: &str, id: &str) -> Result<StoredVersion> {
    check_type(fhir, resource_type)?;
    check_id(id)?;
    match fhir.store.read(tenant, resource_type, id).await? {
        None => Err(FhirError::NotFound(format!("{resource_type}/{id} is not known"))),
        Some(v) if v.is_deleted() => Err(FhirError::Gone(format!("{resource_type}/{id} was deleted (version {})", v.version))),
        Some(v) => binary::hydrate(fhir, v).await,
    }
}
