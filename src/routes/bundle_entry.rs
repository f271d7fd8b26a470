//! A Bundle's `GET` / `HEAD` entry run as a request of its own: parsed by the one routing
//! table, decided and dispatched exactly like a top-level request by the same caller.
use std::future::Future;
use std::pin::Pin;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Response};
use serde_json::{json, Map, Value};

use super::request::FhirRequest;
use super::{authz, AppState};
use crate::error::{FhirError, Result};
use crate::interactions::transaction::{located, GetEntry};

type Answer<'a> = Pin<Box<dyn Future<Output = Result<Response<Body>>> + Send + 'a>>;

fn dispatch<'a>(app: &'a AppState, sub: &'a mut FhirRequest) -> Answer<'a> {
    Box::pin(super::route(app, sub))
}

/// What an entry answered.
pub struct Answered {
    pub status: u16,
    /// The entry: `response`, and `resource` when it has one.
    pub entry: Value,
    /// Refused before it ran: a request the routing table or the decision does not allow.
    pub refused: bool,
}

pub async fn run(app: &AppState, parent: &FhirRequest, g: &GetEntry) -> Answered {
    match answer(app, parent, g).await {
        Ok(resp) => {
            let (status, entry) = to_entry(&parent.out.base_url, resp).await;
            Answered { status, entry, refused: false }
        }
        Err((e, refused)) => {
            let outcome = crate::fhir::outcome::operation_outcome(&located(&e, g.index));
            let entry = json!({"response": {"status": super::bundle_post::status_text(e.status()), "outcome": outcome}});
            Answered { status: e.status(), entry, refused }
        }
    }
}

async fn answer(app: &AppState, parent: &FhirRequest, g: &GetEntry) -> std::result::Result<Response<Body>, (FhirError, bool)> {
    let sub = request(app, parent, g).await;
    let mut sub = sub.map_err(|e| (e, true))?;
    dispatch(app, &mut sub).await.map_err(|e| (e, false))
}

/// The entry as a request of its own, parsed and decided.
async fn request(app: &AppState, parent: &FhirRequest, g: &GetEntry) -> Result<FhirRequest> {
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/fhir+json"));
    let mut set = |name: header::HeaderName, v: &Option<String>| -> Result<()> {
        if let Some(v) = v {
            let value = HeaderValue::from_str(v).map_err(|_| FhirError::BadRequest(format!("request.{name} is not a valid header value")))?;
            headers.insert(name, value);
        }
        Ok(())
    };
    set(header::IF_NONE_MATCH, &g.if_none_match)?;
    set(header::IF_MODIFIED_SINCE, &g.if_modified_since)?;
    let mut sub = parent.entry(g.head, &g.url, headers)?;
    let target = authz::parse_target(app, &sub.method, &sub.segments)?;
    sub.access = authz::decide(app, &sub, &target).await?;
    sub.target = Some(target);
    Ok(sub)
}

async fn to_entry(base: &str, resp: Response<Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let (parts, body) = resp.into_parts();
    let header = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut r = Map::new();
    r.insert("status".into(), json!(super::bundle_post::status_text(status)));
    if let Some(l) = header(header::LOCATION) {
        r.insert("location".into(), json!(l));
    }
    if let Some(e) = header(header::ETAG) {
        r.insert("etag".into(), json!(e));
    }
    if let Some(t) = header(header::LAST_MODIFIED).and_then(|d| httpdate::parse_http_date(&d).ok()) {
        r.insert("lastModified".into(), json!(chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    }
    drop(parts);
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let body: Option<Value> = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).ok()).flatten();
    let mut entry = Map::new();
    match body {
        Some(v) if status >= 400 => {
            r.insert("outcome".into(), v);
        }
        Some(v) if v.is_object() => {
            if let (Some(t), Some(id)) = (v.get("resourceType").and_then(Value::as_str), v.get("id").and_then(Value::as_str)) {
                if t != "Bundle" && t != "Parameters" && t != "OperationOutcome" && t != "CapabilityStatement" {
                    entry.insert("fullUrl".into(), json!(format!("{base}/{t}/{id}")));
                }
            }
            entry.insert("resource".into(), v);
        }
        _ => {}
    }
    entry.insert("response".into(), Value::Object(r));
    (status, Value::Object(entry))
}
