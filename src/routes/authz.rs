//! The HTTP side of access control: authenticate, settle the tenant, decide the request's
//! interaction, run the checks that precede a handler, write the audit record.
use axum::body::Body;
use axum::http::{Method, Response, StatusCode};
use serde_json::json;

use super::request::FhirRequest;
use super::{response, AppState};
use crate::auth::audit::{outcome_of, AuditRecord};
use crate::auth::guard::forbidden;
use crate::auth::interaction::Interaction;
use crate::model::interaction::{self, Kind, Names, Target};
use crate::auth::principal::Access;
use crate::error::{FhirError, Result};

/// Parses the request into its typed target (the one routing table), authenticates the
/// caller, settles the tenant and decides. Public endpoints need no token; for the others a
/// bad token is 401 before an unknown path is 404.
pub async fn authorize(app: &AppState, fr: &mut FhirRequest) -> Result<()> {
    let parsed = parse_target(app, &fr.method, &fr.segments);
    if let Ok(t) = &parsed {
        fr.target = Some(t.clone());
        if t.interaction() == Interaction::Capabilities {
            return Ok(());
        }
    }
    let principal = app.auth.authenticate(&fr.headers).await?;
    let target = parsed?;
    let Some(principal) = principal else { return Ok(()) };
    let token_tenant = principal.tenant.clone().unwrap_or_else(|| crate::TENANT.to_string());
    if fr.url_tenant.as_ref().is_some_and(|u| *u != token_tenant) {
        return Err(forbidden("the token is not valid for this tenant"));
    }
    check_scope_queries(app, &principal, &token_tenant)?;
    fr.tenant = token_tenant;
    fr.principal = Some(principal);
    fr.access = decide(app, fr, &target).await?;
    Ok(())
}

/// SMART v2 query filters must be searches this server understands: an unknown parameter
/// would otherwise filter nothing and grant every resource of the type.
fn check_scope_queries(app: &AppState, p: &crate::auth::principal::Principal, tenant: &str) -> Result<()> {
    let registry = app.fhir.registry_for(tenant);
    for s in p.scopes.iter().filter(|s| !s.query.is_empty()) {
        let ok = match &s.resource_type {
            Some(t) => app.fhir.defs.is_resource_type(t) && crate::search::query::parse(&registry, vec![t.clone()], &s.query, true).is_ok(),
            None => {
                s.query.iter().all(|(k, _)| k.starts_with('_'))
                    && crate::search::query::parse(&registry, vec!["Patient".into()], &s.query, true).is_ok()
            }
        };
        if !ok {
            return Err(FhirError::Unauthorized("a scope's query filter is not a valid search of its type".into()));
        }
    }
    Ok(())
}

/// The typed target of a method and path, from the one routing table.
pub fn parse_target(app: &AppState, method: &Method, segments: &[String]) -> Result<Target> {
    let defs = app.fhir.defs;
    let compartments = &app.fhir.compartments;
    let is_type = |t: &str| defs.is_resource_type(t);
    let is_compartment = |t: &str| compartments.is_compartment(t);
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    interaction::parse(method, &s, &Names { is_type: &is_type, is_compartment: &is_compartment })
}

/// The decision on one target for the request's caller (a top-level request or a Bundle
/// entry run as one). What it lets through is decided again where it is executed: each
/// write by the gate, each resource served by the handler.
pub async fn decide(app: &AppState, fr: &FhirRequest, t: &Target) -> Result<Access> {
    if fr.principal.is_none() || t.interaction() == Interaction::Capabilities {
        return Ok(Access::Full);
    }
    let guard = fr.guard(app);
    let rt = t.resource_type.as_deref();
    if t.kind == Kind::Bundle {
        // Each entry is decided as it runs (`bundle_post`); the Bundle type needs its body.
        return Ok(Access::Full);
    }
    let access = match t.operation() {
        // $validate touches no data: any access to the type will do.
        Some("validate") => guard.require(t.interaction(), rt).or_else(|_| guard.require(Interaction::Read, rt))?,
        // $everything reads: the Patient first, then each type as the caller may search it.
        Some("everything") => guard.require(Interaction::Read, Some("Patient"))?,
        _ => guard.require(t.interaction(), rt)?,
    };
    let Access::Restricted(rs) = &access else { return Ok(access) };
    match (&t.kind, t.id.as_deref()) {
        // Operations may read or write anything ($ingest-document); only $validate, which
        // touches no data, is open to restricted tokens.
        (Kind::Operation { name }, id) if name == "everything" => {
            if id.is_none_or(|id| rs.iter().any(|r| r.patient.as_deref().is_some_and(|p| p != id))) {
                return Err(forbidden("with this token $everything is only for the token's own patient"));
            }
        }
        (Kind::Operation { name }, _) if name != "validate" => return Err(forbidden("operations need unrestricted access")),
        (Kind::HistoryType | Kind::HistorySystem, _) => return Err(forbidden("type and system history need unrestricted access")),
        (Kind::Create, _) if fr.headers.contains_key("if-none-exist") => {
            return Err(forbidden("conditional interactions need unrestricted access to the type"));
        }
        _ if t.is_conditional() => return Err(forbidden("conditional interactions need unrestricted access to the type")),
        (Kind::Update | Kind::Patch | Kind::Delete, Some(id)) => guard.ensure_existing_visible(&access, rt.unwrap_or_default(), id).await?,
        (Kind::SearchCompartment { compartment, id }, _) => {
            if compartment == "Patient" && rs.iter().any(|r| r.patient.as_deref().is_some_and(|p| p != id)) {
                return Err(forbidden("the token may not search another patient's compartment"));
            }
        }
        _ => {}
    }
    Ok(access)
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
        interaction: target.map(|t| t.interaction().code()).unwrap_or("unknown"),
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
    let c = &app.config;
    let list = |s: &str| s.split([' ', ',']).filter(|x| !x.is_empty()).map(str::to_string).collect::<Vec<_>>();
    let mut v = json!({
        "authorization_endpoint": authorize,
        "token_endpoint": token,
        "grant_types_supported": list(&c.smart_grant_types),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(&c.smart_auth_methods),
        "scopes_supported": list(&c.smart_scopes),
        "capabilities": list(&c.smart_capabilities),
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
    if target.resource_type.as_deref() == Some("AuditEvent") || target.interaction() == Interaction::Capabilities {
        return;
    }
    let action = match target.interaction() {
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
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": target.interaction().code()}],
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
        if let Err(e) = crate::interactions::create::create(&app.fhir, &tenant, "AuditEvent", ev, &None).await {
            tracing::error!(error = %e, "cannot store the AuditEvent");
        }
    });
}
