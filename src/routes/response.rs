//! Building HTTP responses: resources with their headers, OperationOutcomes, errors.
use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use bytes::Bytes;
use serde_json::Value;

use super::negotiate::{Negotiated, Return, FHIR_JSON};
use crate::error::FhirError;
use crate::fhir::meta;
use crate::fhir::outcome::{operation_outcome, Issue};
use crate::persistence::StoredVersion;

/// Per-request output settings.
#[derive(Debug, Clone)]
pub struct Output {
    pub base_url: String,
    pub json_type: &'static str,
    pub pretty: bool,
}

impl Output {
    pub fn new(base_url: String, neg: Option<&Negotiated>, pretty: bool) -> Output {
        Output { base_url, json_type: neg.map(|n| n.json_type).unwrap_or(FHIR_JSON), pretty }
    }
}

fn with_charset(json_type: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{json_type}; charset=utf-8")).unwrap_or(HeaderValue::from_static(FHIR_JSON))
}

/// A JSON body, pretty-printed on request (`_pretty=true`).
pub fn json(status: StatusCode, out: &Output, body: Bytes) -> Response<Body> {
    let body = if out.pretty {
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| serde_json::to_vec_pretty(&v).ok())
            .map(Bytes::from)
            .unwrap_or(body)
    } else {
        body
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, with_charset(out.json_type));
    resp
}

pub fn json_value(status: StatusCode, out: &Output, value: &Value) -> Response<Body> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    json(status, out, Bytes::from(bytes))
}

pub fn outcome(status: StatusCode, out: &Output, issues: &[Issue]) -> Response<Body> {
    json_value(status, out, &operation_outcome(issues))
}

pub fn error(err: &FhirError, out: &Output) -> Response<Body> {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(error = %err, "request failed");
    }
    let mut resp = outcome(status, out, &err.issues());
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"hearth\", error=\"invalid_token\""));
    }
    if status == StatusCode::METHOD_NOT_ALLOWED {
        resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST, PUT, DELETE"));
    }
    resp
}

pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("W/\"{version}\"")).unwrap_or(HeaderValue::from_static("W/\"0\""))
}

/// ETag and Last-Modified of a version.
pub fn version_headers(resp: &mut Response<Body>, v: &StoredVersion) {
    resp.headers_mut().insert(header::ETAG, etag(v.version));
    if let Ok(h) = HeaderValue::from_str(&meta::http_date(v.last_updated)) {
        resp.headers_mut().insert(header::LAST_MODIFIED, h);
    }
}

pub fn version_url(out: &Output, v: &StoredVersion) -> String {
    format!("{}/{}/{}/_history/{}", out.base_url, v.resource_type, v.id, v.version)
}

/// The answer to a read or a write: the resource (or what `Prefer` asks for) with its headers.
pub fn resource(status: StatusCode, out: &Output, v: &StoredVersion, prefer: Return, location: bool) -> Response<Body> {
    let mut resp = match (prefer, &v.body) {
        (Return::Minimal, _) | (_, None) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = status;
            r
        }
        (Return::OperationOutcome, _) => {
            let msg = format!("{}/{} version {} stored", v.resource_type, v.id, v.version);
            outcome(status, out, &[Issue { severity: crate::fhir::outcome::Severity::Information, code: "informational", diagnostics: msg, expression: String::new() }])
        }
        (Return::Representation, Some(body)) => json(status, out, body.clone()),
    };
    version_headers(&mut resp, v);
    if location {
        if let Ok(h) = HeaderValue::from_str(&version_url(out, v)) {
            resp.headers_mut().insert(header::LOCATION, h.clone());
            resp.headers_mut().insert(header::CONTENT_LOCATION, h);
        }
    }
    resp
}

pub fn raw(status: StatusCode, content_type: &str, data: Bytes) -> Response<Body> {
    let mut resp = Response::new(Body::from(data));
    *resp.status_mut() = status;
    let ct = HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    resp
}

pub fn not_modified(v: &StoredVersion) -> Response<Body> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NOT_MODIFIED;
    version_headers(&mut resp, v);
    resp
}
