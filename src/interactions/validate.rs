use serde_json::Value;

use super::{check_type, Fhir};
use crate::error::{FhirError, Result};
use crate::fhir::outcome::Issue;

/// `$validate` at type or instance level: the issues found (empty means valid).
/// The body is the resource itself or a `Parameters` with a `resource` parameter.
pub fn validate(fhir: &Fhir, resource_type: &str, body: Value) -> Result<Vec<Issue>> {
    check_type(fhir, resource_type)?;
    let resource = if body.get("resourceType").and_then(Value::as_str) == Some("Parameters") && resource_type != "Parameters" {
        body.get("parameter")
            .and_then(Value::as_array)
            .and_then(|ps| ps.iter().find(|p| p.get("name").and_then(Value::as_str) == Some("resource")))
            .and_then(|p| p.get("resource"))
            .cloned()
            .ok_or_else(|| FhirError::BadRequest("the Parameters body has no 'resource' parameter".into()))?
    } else {
        body
    };
    let mut issues = Vec::new();
    match resource.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == resource_type => {}
        other => issues.push(
            Issue::error("invalid", format!("resourceType must be '{resource_type}', found {}", other.map(|s| format!("'{s}'")).unwrap_or("none".into())))
                .at(resource_type.to_string()),
        ),
    }
    if let Some(Value::String(id)) = resource.get("id") {
        if id.bytes().all(|b| b == b'.') {
            issues.push(Issue::error("value", format!("'{id}' is not a valid id: an id is not made of dots only")).at(format!("{resource_type}.id")));
        }
    }
    issues.extend(crate::fhir::validate::validate_resource(fhir.defs, &resource));
    Ok(issues)
}
