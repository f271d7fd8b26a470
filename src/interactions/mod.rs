//! The FHIR interactions as plain async functions, one file each. No HTTP types here.
pub mod binary;
pub mod capabilities;
pub mod conditional;
pub mod create;
pub mod delete;
pub mod gate;
pub mod history;
pub mod patch;
pub mod read;
pub mod reindex;
pub mod search;
pub mod transaction;
pub mod update;
pub mod validate;
pub mod valueset;
pub mod vread;

use std::sync::Arc;

use serde_json::Value;

use crate::error::{FhirError, Result};
use crate::fhir::definitions::Definitions;
use crate::persistence::{BlobStore, ResourceStore};
use crate::search::compartment::Compartments;
use crate::search::params::Registry;
use crate::search::schema::SchemaCell;
use crate::search::SearchIndex;

/// The ports the interactions run on, chosen once at start-up.
pub struct Fhir {
    pub store: Arc<dyn ResourceStore>,
    pub search: Arc<dyn SearchIndex>,
    /// Search parameters in force (replaced by `$reindex`).
    pub schema: Arc<SchemaCell>,
    pub compartments: Arc<Compartments>,
    pub blobs: Arc<dyn BlobStore>,
    pub defs: &'static Definitions,
}

impl Fhir {
    /// The search parameters of the default tenant.
    pub fn registry(&self) -> Arc<Registry> {
        self.schema.get().registry.clone()
    }

    /// The search parameters in force in `tenant` (its custom ones included).
    pub fn registry_for(&self, tenant: &str) -> Arc<Registry> {
        self.schema.get_for(tenant).registry.clone()
    }
}

/// `[A-Za-z0-9\-\.]{1,64}`, and not only dots (`.` and `..` are path steps, never ids).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !id.bytes().all(|b| b == b'.')
}

pub fn check_id(id: &str) -> Result<()> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(FhirError::BadRequest(format!("invalid id '{}': ids are 1 to 64 of A-Z a-z 0-9 - .", id.chars().take(80).collect::<String>())))
    }
}

pub fn check_type(fhir: &Fhir, resource_type: &str) -> Result<()> {
    if fhir.defs.is_resource_type(resource_type) {
        Ok(())
    } else {
        Err(FhirError::NotFound(format!("unknown resource type '{}'", resource_type.chars().take(80).collect::<String>())))
    }
}

/// Checks that a body is a resource of the URL's type and valid against the definitions.
pub fn check_resource(fhir: &Fhir, resource_type: &str, resource: &Value) -> Result<()> {
    let body_type = resource.get("resourceType").and_then(Value::as_str);
    match body_type {
        Some(t) if t == resource_type => {}
        Some(t) => {
            return Err(FhirError::BadRequest(format!(
                "the body's resourceType '{}' does not match the URL's type '{resource_type}'",
                t.chars().take(80).collect::<String>()
            )))
        }
        None => return Err(FhirError::BadRequest("the body is not a FHIR resource: resourceType is missing".into())),
    }
    if let Some(Value::String(id)) = resource.get("id") {
        if id.bytes().all(|b| b == b'.') {
            return Err(FhirError::BadRequest(format!("'{id}' is not a valid id: an id is not made of dots only")));
        }
    }
    let issues = crate::fhir::validate::validate_resource(fhir.defs, resource);
    if issues.iter().any(|i| i.is_error()) {
        return Err(FhirError::Invalid(issues));
    }
    Ok(())
}

/// Equal apart from `meta.versionId` and `meta.lastUpdated`: an update with this content
/// changes nothing and makes no new version.
pub fn same_content(a: &Value, b: &Value) -> bool {
    fn strip(v: &Value) -> Value {
        let mut v = v.clone();
        if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
            meta.shift_remove("versionId");
            meta.shift_remove("lastUpdated");
            if meta.is_empty() {
                if let Some(o) = v.as_object_mut() {
                    o.shift_remove("meta");
                }
            }
        }
        v
    }
    strip(a) == strip(b)
}

/// The current version when storing `resource` over it would change nothing.
pub fn unchanged(current: Option<&crate::persistence::StoredVersion>, resource: &Value) -> Option<crate::persistence::StoredVersion> {
    let current = current.filter(|v| !v.is_deleted())?;
    let stored: Value = serde_json::from_slice(current.body.as_deref()?).ok()?;
    same_content(&stored, resource).then(|| current.clone())
}
