//! `GET /metadata`: a CapabilityStatement built from the definitions, listing what works.
use serde_json::{json, Value};

use crate::fhir::definitions::Definitions;
use crate::search::params::{ParamType, Registry};

pub const TYPE_INTERACTIONS: &[&str] = &["read", "vread", "update", "delete", "create", "history-instance", "history-type", "search-type", "patch"];

fn type_name(kind: ParamType) -> &'static str {
    match kind {
        ParamType::Number => "number",
        ParamType::Date => "date",
        ParamType::String => "string",
        ParamType::Token => "token",
        ParamType::Reference => "reference",
        ParamType::Composite => "composite",
        ParamType::Quantity => "quantity",
        ParamType::Uri => "uri",
        ParamType::Special => "special",
    }
}

/// The search parameters a type supports (the special ones only where implemented).
fn search_params(registry: &Registry, t: &str) -> Vec<Value> {
    registry
        .for_type(t)
        .into_iter()
        .filter(|p| p.kind != ParamType::Special || matches!(p.code.as_str(), "_text" | "_content"))
        .filter(|p| p.expression.is_some() || matches!(p.code.as_str(), "_text" | "_content"))
        .map(|p| json!({"name": p.code, "definition": p.url, "type": type_name(p.kind)}))
        .collect()
}

pub fn capability_statement(defs: &Definitions, registry: &Registry, base_url: &str, date: &str) -> Value {
    let resources: Vec<Value> = defs
        .resource_types()
        .iter()
        .map(|t| {
            json!({
                "type": t,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{t}"),
                "interaction": TYPE_INTERACTIONS.iter().map(|c| json!({"code": c})).collect::<Vec<_>>(),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "not-supported",
                "conditionalUpdate": true,
                "conditionalDelete": "single",
                "searchInclude": ["*"],
                "searchRevInclude": ["*"],
                "searchParam": search_params(registry, t),
                "operation": [{
                    "name": "validate",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate"
                }]
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "Hearth",
        "kind": "instance",
        "software": {"name": "Hearth", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "Hearth FHIR R4 server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/json"],
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "history-system"}, {"code": "search-system"}, {"code": "transaction"}, {"code": "batch"}],
            "searchParam": search_params(registry, "Resource"),
            "operation": [{
                "name": "ingest-document",
                "definition": "http://hearth.dev/fhir/OperationDefinition/ingest-document",
                "documentation": "POST a clinical document (application/pdf, image/png|jpeg|tiff, multipart/form-data, or a Parameters with a 'document' attachment or reference to a Binary or DocumentReference) to [base]/$ingest-document or [base]/Patient/[id]/$ingest-document: the fields read from it, with confidence, are written in one transaction"
            }],
            "compartment": [
                "http://hl7.org/fhir/CompartmentDefinition/patient",
                "http://hl7.org/fhir/CompartmentDefinition/encounter",
                "http://hl7.org/fhir/CompartmentDefinition/relatedPerson",
                "http://hl7.org/fhir/CompartmentDefinition/practitioner",
                "http://hl7.org/fhir/CompartmentDefinition/device"
            ]
        }]
    })
}

/// The `rest.security` section of a server that takes SMART on FHIR bearer tokens.
pub fn add_security(cs: &mut Value, authorize_url: &str, token_url: &str) {
    let security = serde_json::json!({
        "cors": true,
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}],
            "text": "OAuth2 bearer tokens (SMART on FHIR scopes v1 and v2)"}],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [
                {"url": "authorize", "valueUri": authorize_url},
                {"url": "token", "valueUri": token_url}
            ]
        }]
    });
    if let Some(rest) = cs.get_mut("rest").and_then(Value::as_array_mut).and_then(|r| r.first_mut()) {
        rest["security"] = security;
    }
}
