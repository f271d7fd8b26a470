//! Reference targets: a relative literal reference (`Type/id`) to a resource type that the
//! element does not allow is reported as a warning (not an error: servers commonly accept
//! these, and profiles may widen nothing here).
use super::Validator;
use crate::fhir::definitions::ElementDef;
use crate::fhir::outcome::{Issue, Severity};
use serde_json::{Map, Value};

pub(super) fn check_target(v: &mut Validator, e: &ElementDef, obj: &Map<String, Value>, expr: &str) {
    if e.target_types.is_empty() || e.target_types.iter().any(|t| t == "Resource") {
        return;
    }
    let Some(Value::String(reference)) = obj.get("reference") else { return };
    if reference.starts_with('#') || reference.contains(':') {
        return; // contained or absolute references: not checked here
    }
    let mut parts = reference.split('/');
    let (Some(rtype), Some(_id)) = (parts.next(), parts.next()) else { return };
    if !v.defs.is_resource_type(rtype) || e.target_types.iter().any(|t| t == rtype) {
        return;
    }
    v.issues.push(Issue {
        severity: Severity::Warning,
        code: "invalid",
        diagnostics: format!(
            "Reference to a {rtype} where only {} is allowed",
            e.target_types.join(", ")
        ),
        expression: format!("{expr}.reference"),
    });
}
