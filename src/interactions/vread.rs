use super::{binary, check_id, check_type, Fhir};
use crate::error::{FhirError, Result};
use crate::persistence::StoredVersion;

/// `GET [type]/[id]/_history/[vid]`: one version; 404 if unknown, 410 if it is a deletion.
pub async fn vread(fhir: &Fhir, tenant: &str, resource_type: &str, id: &str, vid: &str) -> Result<StoredVersion> {
    check_type(fhir, resource_type)?;
    check_id(id)?;
    let version: u64 = vid
        .parse()
        .map_err(|_| FhirError::NotFound(format!("{resource_type}/{id} has no version '{}'", vid.chars().take(40).collect::<String>())))?;
    match fhir.store.vread(tenant, resource_type, id, version).await? {
        None => Err(FhirError::NotFound(format!("{resource_type}/{id} has no version {version}"))),
        Some(v) if v.is_deleted() => Err(FhirError::Gone(format!("version {version} of {resource_type}/{id} is a deletion"))),
        Some(v) => binary::hydrate(fhir, v).await,
    }
}
