//! The HTTP side of access control: authenticate, settle the tenant, decide the request's
//! interaction, run the checks that precede a handler, write the audit record.
use axum::body::Body;
use axum::http::{Method, Response, StatusCode};
use serde_json::json;

use super::request::{parse_json, FhirRequest};
use super::{negotiate, response, AppState};
use crate::auth::audit::{outcome_of, AuditRecord};
use crate::auth::guard::forbidden;
use crate::auth::interaction::{classify, Interaction};
use crate::auth::principal::Access;
use crate::error::{FhirError, Result};

pub async fn authorize(app: &AppState, fr: &mut FhirRequest) -> Result<()> {
    let defs = app.fhir.defs;
    let segments = fr.segments.clone();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let mut target = classify(&fr.method, &s, &|t| defs.is_resource_type(t));
    fr.target = Some(target.clone());
    if target.interaction == Interaction::Capabilities {
        return Ok(());
    }
    let Some(principal) = app.auth.authenticate(&fr.headers).await? else { return Ok(()) };
    let token_tenant = principal.tenant.clone().unwrap_or_else(|| crate::TENANT.to_string());
    if !crate::interactions::is_valid_id(&token_tenant) {
        return Err(forbidden("the token's tenant is not a valid tenant id"));
    }
    if fr.url_tenant.as_ref().is_some_and(|u| *u != token_tenant) {
        return Err(forbidden("the token is not valid for this tenant"));
    }
    fr.tenant = token_tenant;
    fr.principal = Some(principal);
    let guard = fr.guard(app);
    let rt = target.resource_type.clone();
    let rt = rt.as_deref();

    if target.interaction == Interaction::Transaction {
        negotiate::require_json_body(&fr.headers)?;
        let bytes = fr.body_bytes().await?;
        let bundle = parse_json(&bytes)?;
        if bundle.get("type").and_then(serde_json::Value::as_str) == Some("batch") {
            target.interaction = Interaction::Batch;
            fr.target = Some(target);
        }
        let base = fr.out.base_url.clone();
        guard.check_bundle(&bundle, &base).await?;
        fr.set_body(bytes);
        return Ok(());
    }

    let access = guard.require(target.interaction, rt)?;
    if let Access::Restricted(rs) = &access {
        let conditional = !fr.query.iter().all(|(k, _)| matches!(k.as_str(), "_format" | "_pretty"));
        match (target.interaction, target.id.as_deref()) {
            // Operations may read or write anything ($ingest-document, $reindex); only
            // $validate, which touches no data, is open to restricted tokens.
            (Interaction::Operation, _) if s.last() != Some(&"$validate") => {
                return Err(forbidden("operations need unrestricted access"));
            }
            (Interaction::HistoryType | Interaction::HistorySystem, _) => {
                return Err(forbidden("type and system history need unrestricted access"));
            }
            (Interaction::Create, _) if fr.headers.contains_key("if-none-exist") => {
                return Err(forbidden("conditional interactions need unrestricted access to the type"));
            }
            (Interaction::Update | Interaction::Patch | Interaction::Delete, None) => {
                return Err(forbidden("conditional interactions need unrestricted access to the type"));
            }
            (Interaction::Update | Interaction::Patch | Interaction::Delete, Some(id)) if !conditional => {
                guard.ensure_existing_visible(&access, rt.unwrap_or_default(), id).await?;
            }
            (Interaction::SearchType, _) => {
                // Compartment search: only the token's own patient compartment.
                if let [c, id, _] = s.as_slice() {
                    if *c == "Patient" && rs.iter().any(|r| r.patient.as_deref().is_some_and(|p| p != *id)) {
                        return Err(forbidden("the token may not search another patient's compartment"));
                    }
                }
            }
            _ => {}
        }
    }
    fr.access = access;
    Ok(())
}

pub fn audit(app: &AppState, fr: &FhirRequest, status: u16) {
    let target = fr.target.as_ref();
    let rec = AuditRecord {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        request_id: &fr.request_id,
        principal: fr.principal.as_ref().map(|p| p.subject.as_str()),
        client: fr.principal.as_ref().and_then(|p| p.client.as_deref()),
        tenant: &fr.tenant,
        method: fr.method.as_str(),
        interaction: target.map(|t| t.interaction.code()).unwrap_or("unknown"),
        resource_type: target.and_then(|t| t.resource_type.as_deref()).filter(|t| app.fhir.defs.is_resource_type(t)),
        id: target.and_then(|t| t.id.as_deref()).filter(|i| crate::interactions::is_valid_id(i)),
        status,
        outcome: outcome_of(status),
    };
    app.auth.audit.write(&rec);
}

/// `GET [base]/.well-known/smart-configuration`.
pub fn smart_configuration(app: &AppState, fr: &mut FhirRequest) -> Result<Response<Body>> {
    if fr.method != Method::GET {
        return Err(FhirError::MethodNotAllowed("GET only".into()));
    }
    let a = &app.auth;
    let (Some(authorize), Some(token)) = (&a.authorize_url, &a.token_url) else {
        return Err(FhirError::NotFound("this server runs without authorization (HEARTH_AUTH=none)".into()));
    };
    let mut v = json!({
        "authorization_endpoint": authorize,
        "token_endpoint": token,
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "scopes_supported": ["openid", "profile", "fhirUser", "launch", "launch/patient", "offline_access",
            "patient/*.rs", "patient/*.cruds", "user/*.rs", "user/*.cruds", "system/*.rs", "system/*.cruds",
            "patient/*.read", "patient/*.write", "user/*.read", "user/*.write", "system/*.read", "system/*.write"],
        "capabilities": ["launch-standalone", "launch-ehr", "client-public", "client-confidential-symmetric",
            "context-standalone-patient", "context-ehr-patient", "sso-openid-connect",
            "permission-patient", "permission-user", "permission-offline", "permission-v1", "permission-v2"],
    });
    if let Some(iss) = &a.issuer {
        v["issuer"] = json!(iss);
    }
    if let Some(j) = &a.jwks_url {
        v["jwks_uri"] = json!(j);
    }
    let mut resp = response::json_value(StatusCode::OK, &fr.out, &v);
    resp.headers_mut().insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    Ok(resp)
}

/// The request as a FHIR AuditEvent, stored in the background in the request's tenant
/// (requests on AuditEvent itself are not recorded again).
pub fn audit_event(app: std::sync::Arc<AppState>, fr: &FhirRequest, status: u16) {
    let Some(target) = fr.target.clone() else { return };
    if target.resource_type.as_deref() == Some("AuditEvent") || target.interaction == Interaction::Capabilities {
        return;
    }
    let action = match target.interaction {
        Interaction::Create => "C",
        Interaction::Update | Interaction::Patch => "U",
        Interaction::Delete => "D",
        Interaction::Read | Interaction::Vread | Interaction::HistoryInstance | Interaction::HistoryType | Interaction::HistorySystem
        | Interaction::SearchType | Interaction::SearchSystem => "R",
        _ => "E",
    };
    let outcome = match status {
        200..=399 => "0",
        400..=499 => "4",
        _ => "8",
    };
    let who = fr.principal.as_ref().map(|p| p.subject.clone()).unwrap_or_else(|| "anonymous".into());
    let mut agent = json!({"who": {"identifier": {"value": who}}, "requestor": true});
    if let Some(c) = fr.principal.as_ref().and_then(|p| p.client.clone()) {
        agent["altId"] = json!(c);
    }
    let mut ev = json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": target.interaction.code()}],
        "action": action,
        "recorded": crate::fhir::meta::instant(crate::fhir::meta::now_micros()),
        "outcome": outcome,
        "agent": [agent],
        "source": {"observer": {"display": "hearth"}, "site": fr.request_id},
    });
    if let (Some(t), Some(id)) = (&target.resource_type, &target.id) {
        if app.fhir.defs.is_resource_type(t) && crate::interactions::is_valid_id(id) {
            ev["entity"] = json!([{"what": {"reference": format!("{t}/{id}")}}]);
        }
    }
    let tenant = fr.tenant.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::interactions::create::create(&app.fhir, &tenant, "AuditEvent", ev).await {
            tracing::error!(error = %e, "cannot store the AuditEvent");
        }
    });
}

/// A PATCH under restricted access: the result must stay within the token's compartment.
/// Returns the version checked, which the patch must then apply to (If-Match).
pub async fn check_patch(
    guard: crate::auth::guard::Guard<'_>,
    access: Access,
    resource_type: &str,
    id: &str,
    body: &crate::interactions::patch::PatchBody,
    if_match: Option<u64>,
) -> Result<u64> {
    let current = match guard.fhir.store.read(&guard.tenant, resource_type, id).await? {
        Some(v) if !v.is_deleted() => v,
        _ => return Err(forbidden(format!("{resource_type}/{id} is outside what the token may access"))),
    };
    guard.ensure_visible(&access, &current).await?;
    if if_match.is_some_and(|m| m != current.version) {
        return Err(FhirError::PreconditionFailed(format!("{resource_type}/{id} is at version {}", current.version)));
    }
    let value: serde_json::Value = serde_json::from_slice(current.body.as_deref().unwrap_or(b"{}")).map_err(|e| FhirError::Internal(e.to_string()))?;
    let result = crate::interactions::patch::patched(guard.fhir.defs, &value, body)?;
    guard.ensure_writable_body(&access, &result)?;
    Ok(current.version)
}
