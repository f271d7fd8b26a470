//! Type and instance interactions: create, read, vread, update, delete, $validate.
use axum::body::Body;
use axum::http::{Response, StatusCode};
use base64::Engine;
use serde_json::{json, Value};

use super::negotiate::{self, prefer_return};
use super::request::{parse_json, FhirRequest};
use super::response;
use super::AppState;
use crate::error::{FhirError, Result};
use crate::interactions;
use crate::persistence::Expect;

/// A write body: FHIR JSON, or for Binary any other media type taken as its raw content.
async fn write_body(fr: &mut FhirRequest, resource_type: &str, id: Option<&str>) -> Result<Value> {
    let media = negotiate::content_type(&fr.headers);
    match media {
        Some(m) if resource_type == "Binary" && !negotiate::is_json_media(&m) => {
            let bytes = fr.body_bytes().await?;
            let mut v = json!({"resourceType": "Binary"});
            if let Some(id) = id {
                v["id"] = json!(id);
            }
            v["contentType"] = json!(m);
            if !bytes.is_empty() {
                v["data"] = json!(base64::engine::general_purpose::STANDARD.encode(&bytes));
            }
            Ok(v)
        }
        _ => fr.json_body().await,
    }
}

pub async fn create(app: &AppState, fr: &mut FhirRequest, resource_type: &str) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    interactions::check_type(&app.fhir, resource_type)?;
    if let Some(criteria) = fr.headers.get("if-none-exist").map(|v| v.to_str().unwrap_or("").to_string()) {
        return super::conditional::create(app, fr, resource_type, &criteria).await;
    }
    let resource = write_body(fr, resource_type, None).await?;
    let gate = fr.guard(app).gate();
    let v = interactions::create::create(&app.fhir, &fr.tenant, resource_type, resource, &gate).await?;
    let v = interactions::binary::hydrate(&app.fhir, v).await?;
    Ok(response::resource(StatusCode::CREATED, &fr.out, &v, prefer_return(&fr.headers), true))
}

pub async fn update(app: &AppState, fr: &mut FhirRequest, resource_type: &str, id: &str) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    interactions::check_type(&app.fhir, resource_type)?;
    interactions::check_id(id)?;
    let if_match = negotiate::if_match(&fr.headers)?;
    let create_only = negotiate::if_none_match_any(&fr.headers);
    let expect = match (if_match, create_only) {
        (Some(_), true) => return Err(FhirError::BadRequest("If-Match and If-None-Match: * cannot be sent together".into())),
        (Some(v), false) => Expect::Version(v),
        (None, true) => Expect::Absent,
        (None, false) => Expect::Any,
    };
    let resource = write_body(fr, resource_type, Some(id)).await?;
    let gate = fr.guard(app).gate();
    let (v, created) = match interactions::update::update(&app.fhir, &fr.tenant, resource_type, id, resource, expect, &gate).await {
        Err(FhirError::Conflict(_)) if create_only => return Err(FhirError::PreconditionFailed(format!("{resource_type}/{id} exists (If-None-Match: *)"))),
        r => r?,
    };
    let v = interactions::binary::hydrate(&app.fhir, v).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(response::resource(status, &fr.out, &v, prefer_return(&fr.headers), true))
}

pub async fn delete(app: &AppState, fr: &mut FhirRequest, resource_type: &str, id: &str) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    let if_match = negotiate::if_match(&fr.headers)?;
    let gate = fr.guard(app).gate();
    let deleted = interactions::delete::delete(&app.fhir, &fr.tenant, resource_type, id, if_match, &gate).await?;
    let mut resp = match prefer_return(&fr.headers) {
        negotiate::Return::OperationOutcome => {
            let msg = match &deleted {
                Some(v) => format!("{resource_type}/{id} deleted (version {})", v.version),
                None => format!("{resource_type}/{id} was not there to delete"),
            };
            let issue = crate::fhir::outcome::Issue { severity: crate::fhir::outcome::Severity::Information, code: "informational", diagnostics: msg, expression: String::new() };
            response::outcome(StatusCode::OK, &fr.out, &[issue])
        }
        _ => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
    };
    if let Some(v) = &deleted {
        response::version_headers(&mut resp, v);
    }
    Ok(resp)
}

/// read (`vid` None) or vread, with conditional reads and raw Binary content.
pub async fn read(app: &AppState, fr: &mut FhirRequest, resource_type: &str, id: &str, vid: Option<&str>) -> Result<Response<Body>> {
    let is_binary = resource_type == "Binary";
    let neg = fr.negotiate(is_binary)?;
    if is_binary && !neg.explicit_json && !neg.accept.is_empty() {
        if let Some(resp) = presigned_redirect(app, fr, id, vid).await? {
            return Ok(resp);
        }
    }
    let read = match vid {
        None => interactions::read::read(&app.fhir, &fr.tenant, resource_type, id).await,
        Some(vid) => interactions::vread::vread(&app.fhir, &fr.tenant, resource_type, id, vid).await,
    };
    let restricted = matches!(fr.access, crate::auth::principal::Access::Restricted(_));
    let v = match read {
        Ok(v) => v,
        // Under restricted access, absent and deleted look like any other resource out of reach.
        Err(FhirError::NotFound(_) | FhirError::Gone(_)) if restricted => {
            return Err(crate::auth::guard::forbidden(format!("{resource_type}/{id} is outside what the token may access")))
        }
        Err(e) => return Err(e),
    };
    fr.guard(app).ensure_visible(&fr.access, &v).await?;
    if vid.is_none() && (negotiate::if_none_match(&fr.headers, v.version) || negotiate::not_modified_since(&fr.headers, v.last_updated)) {
        return Ok(response::not_modified(&v));
    }
    if is_binary && !neg.explicit_json && !neg.accept.is_empty() {
        if let Some(raw) = binary_raw(&v)? {
            let mut resp = response::raw(StatusCode::OK, &raw.0, raw.1.into());
            response::version_headers(&mut resp, &v);
            return Ok(resp);
        }
    }
    let mut resp = response::resource(StatusCode::OK, &fr.out, &v, negotiate::Return::Representation, false);
    if vid.is_none() {
        if let Ok(h) = axum::http::HeaderValue::from_str(&response::version_url(&fr.out, &v)) {
            resp.headers_mut().insert(axum::http::header::CONTENT_LOCATION, h);
        }
    }
    Ok(resp)
}

/// Large Binary content on a blob store that presigns (S3): a redirect to a short-lived
/// download URL, so that the bytes do not pass through the server (Lambda's 6 MB cap).
async fn presigned_redirect(app: &AppState, fr: &mut FhirRequest, id: &str, vid: Option<&str>) -> Result<Option<Response<Body>>> {
    interactions::check_id(id)?;
    let stored = match vid {
        None => app.fhir.store.read(&fr.tenant, "Binary", id).await?,
        Some(v) => match v.parse::<u64>() {
            Ok(n) => app.fhir.store.vread(&fr.tenant, "Binary", id, n).await?,
            Err(_) => None,
        },
    };
    let Some(v) = stored.filter(|v| !v.is_deleted()) else { return Ok(None) };
    let Some(url) = interactions::binary::presigned(&app.fhir, &v, app.config.presign_above_bytes).await? else { return Ok(None) };
    fr.guard(app).ensure_visible(&fr.access, &v).await?;
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    if let Ok(h) = axum::http::HeaderValue::from_str(&url) {
        resp.headers_mut().insert(axum::http::header::LOCATION, h);
    }
    response::version_headers(&mut resp, &v);
    Ok(Some(resp))
}

/// The content type and bytes of a (hydrated) Binary, when it has content.
fn binary_raw(v: &crate::persistence::StoredVersion) -> Result<Option<(String, Vec<u8>)>> {
    let Some(body) = &v.body else { return Ok(None) };
    let value: Value = serde_json::from_slice(body).map_err(|e| FhirError::Internal(e.to_string()))?;
    let Some(data) = value.get("data").and_then(Value::as_str) else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD.decode(data).map_err(|e| FhirError::Internal(e.to_string()))?;
    let ct = value.get("contentType").and_then(Value::as_str).unwrap_or("application/octet-stream").to_string();
    Ok(Some((ct, bytes)))
}

pub async fn validate(app: &AppState, fr: &mut FhirRequest, resource_type: &str) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    interactions::check_type(&app.fhir, resource_type)?;
    let bytes = {
        negotiate::require_json_body(&fr.headers)?;
        fr.body_bytes().await?
    };
    let body = parse_json(&bytes)?;
    let issues = interactions::validate::validate(&app.fhir, resource_type, body)?;
    Ok(response::outcome(StatusCode::OK, &fr.out, &issues))
}
