//! `PATCH [type]/[id]` (and conditionally): JSON Patch or FHIRPath Patch, applied, validated
//! and written in one store transaction, so the read, the `If-Match` check and the write agree.
pub mod fhirpath_patch;
pub mod json_patch;

use base64::Engine;
use serde_json::Value;

use super::{check_id, check_type, Fhir};
use crate::error::{FhirError, Result};
use crate::fhir::definitions::Definitions;
use crate::persistence::{Expect, Method, StoredVersion, Tx, WriteOp};

/// A patch document.
#[derive(Debug, Clone)]
pub enum PatchBody {
    /// `application/json-patch+json`: an array of operations.
    Json(Value),
    /// A `Parameters` resource (FHIRPath Patch).
    FhirPath(Value),
}

impl PatchBody {
    /// A patch as carried in a Bundle entry: a `Parameters` resource, or a `Binary` whose
    /// content type is `application/json-patch+json`.
    pub fn from_resource(resource: &Value) -> Result<PatchBody> {
        match resource.get("resourceType").and_then(Value::as_str) {
            Some("Parameters") => Ok(PatchBody::FhirPath(resource.clone())),
            Some("Binary") => {
                let ct = resource.get("contentType").and_then(Value::as_str).unwrap_or("");
                if !ct.starts_with("application/json-patch+json") {
                    return Err(FhirError::UnsupportedMediaType(format!("a patch Binary must have contentType application/json-patch+json, not '{ct}'")));
                }
                let data = resource.get("data").and_then(Value::as_str).unwrap_or("");
                let compact: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&compact)
                    .map_err(|e| FhirError::BadRequest(format!("the patch Binary's data is not valid base64: {e}")))?;
                let v = crate::fhir::json::parse(&bytes).map_err(|e| FhirError::BadRequest(format!("the JSON Patch is not valid JSON: {e}")))?;
                Ok(PatchBody::Json(v))
            }
            _ => Err(FhirError::BadRequest("a patch entry's resource must be a Parameters (FHIRPath Patch) or a Binary (JSON Patch)".into())),
        }
    }
}

/// Applies `patch` to a copy of `current` and checks the result: same type and id, valid.
pub fn patched(defs: &'static Definitions, current: &Value, patch: &PatchBody) -> Result<Value> {
    let mut doc = current.clone();
    match patch {
        PatchBody::Json(ops) => json_patch::apply(&mut doc, ops)?,
        PatchBody::FhirPath(params) => fhirpath_patch::apply(defs, &mut doc, params)?,
    }
    if doc.get("resourceType") != current.get("resourceType") {
        return Err(FhirError::Invalid(vec![crate::fhir::outcome::Issue::error("invalid", "a patch must not change resourceType")]));
    }
    if doc.get("id") != current.get("id") {
        return Err(FhirError::Invalid(vec![crate::fhir::outcome::Issue::error("invalid", "a patch must not change the resource's id")]));
    }
    let issues = crate::fhir::validate::validate_resource(defs, &doc);
    if issues.iter().any(|i| i.is_error()) {
        return Err(FhirError::Invalid(issues));
    }
    Ok(doc)
}

/// Inside a transaction: reads the current version, patches it and writes the result.
pub fn patch_in_tx(tx: &mut dyn Tx, defs: &'static Definitions, resource_type: &str, id: &str, patch: &PatchBody, if_match: Option<u64>) -> Result<StoredVersion> {
    if resource_type == "Binary" {
        return Err(FhirError::MethodNotAllowed("PATCH is not supported on Binary".into()));
    }
    let current = tx.read(resource_type, id)?.ok_or_else(|| FhirError::NotFound(format!("{resource_type}/{id} does not exist")))?;
    let Some(body) = &current.body else { return Err(FhirError::Gone(format!("{resource_type}/{id} was deleted"))) };
    if let Some(v) = if_match {
        if v != current.version {
            return Err(FhirError::PreconditionFailed(format!("{resource_type}/{id}: version {v} expected but the current version is {}", current.version)));
        }
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| FhirError::Internal(format!("stored resource is not JSON: {e}")))?;
    let doc = patched(defs, &value, patch)?;
    let unchanged = super::same_content(&value, &doc);
    let op = WriteOp {
        resource_type: resource_type.to_string(),
        id: id.to_string(),
        expect: Expect::Version(current.version),
        method: Method::Put,
        resource: Some(doc),
    };
    if unchanged {
        tx.may_write(&op)?;
        return Ok(current);
    }
    tx.write(op)?.version.ok_or_else(|| FhirError::Internal("the store returned no version for a patch".into()))
}

/// `PATCH [type]/[id]`.
pub async fn patch(fhir: &Fhir, tenant: &str, resource_type: &str, id: &str, body: PatchBody, if_match: Option<u64>, gate: &super::gate::GateRef) -> Result<StoredVersion> {
    check_type(fhir, resource_type)?;
    check_id(id)?;
    let defs = fhir.defs;
    let (t, i) = (resource_type.to_string(), id.to_string());
    super::gate::run(fhir, tenant, gate, move |tx| patch_in_tx(tx, defs, &t, &i, &body, if_match)).await
}
