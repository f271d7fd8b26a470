//! `GET [base]/metadata` (the CapabilityStatement, with `ETag` and `Last-Modified`,
//! `If-None-Match` -> 304, `_summary` and `_elements`) and `GET [base]/$versions`.
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use sha2::Digest;

use super::request::FhirRequest;
use super::{response, AppState};
use crate::error::{FhirError, Result};
use crate::interactions::capabilities;

/// When this process started: the CapabilityStatement's `date` and `Last-Modified`.
fn started() -> i64 {
    static STARTED: OnceLock<i64> = OnceLock::new();
    *STARTED.get_or_init(crate::fhir::meta::now_micros)
}

pub fn capabilities(app: &AppState, fr: &mut FhirRequest) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    let fhir = &app.fhir;
    let registry = fhir.registry_for(&fr.tenant);
    let at = started();
    let mut cs = capabilities::capability_statement(fhir.defs, &registry, &fr.out.base_url, &crate::fhir::meta::instant(at));
    if let (Some(a), Some(t)) = (&app.auth.authorize_url, &app.auth.token_url) {
        capabilities::add_security(&mut cs, a, t);
    }
    let shaping: Vec<(String, String)> = fr.query.iter().filter(|(k, _)| k == "_summary" || k == "_elements").cloned().collect();
    if !shaping.is_empty() {
        let q = crate::search::query::parse(&registry, vec!["CapabilityStatement".into()], &shaping, true)?;
        super::search::shape(fhir.defs, &mut cs, &q);
    }
    let body = serde_json::to_vec(&cs).map_err(|e| FhirError::Internal(e.to_string()))?;
    let digest = sha2::Sha256::digest(&body);
    let etag = format!("W/\"{}\"", digest.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>());
    let modified = httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_micros(at.max(0) as u64));
    let matches = fr.headers.get_all(header::IF_NONE_MATCH).iter().any(|v| v.to_str().unwrap_or("").split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if matches {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        response::json(StatusCode::OK, &fr.out, body.into())
    };
    for (name, value) in [(header::ETAG, etag), (header::LAST_MODIFIED, modified)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
    Ok(resp)
}

/// `GET [base]/$versions`: the FHIR versions this server speaks.
pub fn versions(fr: &mut FhirRequest) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    let out = serde_json::json!({"resourceType": "Parameters", "parameter": [
        {"name": "version", "valueCode": "4.0"},
        {"name": "default", "valueCode": "4.0"}
    ]});
    Ok(response::json_value(StatusCode::OK, &fr.out, &out))
}
