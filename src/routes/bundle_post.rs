//! `POST [base]` with a `batch` or `transaction` Bundle: answers with a `batch-response` or
//! `transaction-response`, or (a failed transaction) an OperationOutcome naming the entry.
use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde_json::{json, Map, Value};

use super::negotiate::{prefer_return, Return};
use super::request::FhirRequest;
use super::response;
use super::AppState;
use crate::error::{FhirError, Result};
use crate::fhir::meta;
use crate::fhir::outcome::operation_outcome;
use super::bundle_entry;
use crate::auth::interaction::Interaction;
use crate::interactions::transaction::{self, EntryResponse, Failure, Kind};

pub fn status_text(code: u16) -> String {
    let reason = StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    format!("{code} {reason}").trim_end().to_string()
}

fn failure(fr: &FhirRequest, f: &Failure) -> Response<Body> {
    let status = StatusCode::from_u16(f.error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    if status.is_server_error() {
        tracing::error!(error = %f.error, entry = ?f.entry, "transaction failed");
    }
    response::outcome(status, &fr.out, &f.issues())
}

pub async fn post(app: &AppState, fr: &mut FhirRequest) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    super::negotiate::require_json_body(&fr.headers)?;
    let text = fr.body_bytes().await?;
    // In a Bundle the default is the minimal answer (status, location, etag).
    let ret = if fr.headers.contains_key("prefer") { prefer_return(&fr.headers) } else { Return::Minimal };
    let limits = app.config.bundle_limits();
    // The entries are parsed on every core; text the split refuses gets the usual parse
    // (and its message).
    let prepared = match crate::fhir::json::split(&text, "entry") {
        Ok(split) => transaction::prepare_split(&app.fhir, &fr.tenant, split, text, limits, &fr.out.base_url).await,
        Err(_) => {
            let body = super::request::parse_json(&text)?;
            transaction::prepare(&app.fhir, &fr.tenant, body, limits, &fr.out.base_url).await
        }
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(f) => return Ok(failure(fr, &f)),
    };
    // With a caller, every write passes the gate as it is executed, and every read entry
    // runs as a request of its own (`bundle_entry`), decided like one.
    let guard = fr.guard(app);
    let gate = guard.gate();
    if fr.principal.is_some() {
        guard.require(if prepared.kind == Kind::Batch { Interaction::Batch } else { Interaction::Transaction }, None)?;
    }
    let gets = if gate.is_some() { prepared.gets() } else { Vec::new() };
    if gate.is_some() && prepared.kind == Kind::Transaction {
        // A transaction is refused whole, before anything is written, if one of its reads is
        // denied or is no request at all.
        for g in &gets {
            let a = bundle_entry::run(app, fr, g).await;
            if a.refused || a.status == 403 {
                let outcome = &a.entry["response"]["outcome"];
                return Ok(response::json_value(StatusCode::from_u16(a.status).unwrap_or(StatusCode::FORBIDDEN), &fr.out, outcome));
            }
        }
    }
    let outcome = match transaction::execute(&app.fhir, &fr.tenant, prepared, limits, &gate).await {
        Ok(o) => o,
        Err(f) => return Ok(failure(fr, &f)),
    };
    let kind = match outcome.kind {
        Kind::Transaction => "transaction-response",
        Kind::Batch => "batch-response",
    };
    let left: std::collections::HashSet<usize> = outcome.deferred.iter().copied().collect();
    let mut deferred = gets.into_iter().filter(|g| left.contains(&g.index)).peekable();
    let mut entries = Vec::with_capacity(outcome.entries.len());
    for (i, e) in outcome.entries.into_iter().enumerate() {
        if deferred.peek().is_some_and(|g| g.index == i) {
            if let Some(g) = deferred.next() {
                entries.push(bundle_entry::run(app, fr, &g).await.entry);
                continue;
            }
        }
        entries.push(entry(app, &fr.out.base_url, e, ret).await?);
    }
    let bundle = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "type": kind,
        "meta": {"lastUpdated": meta::instant(meta::now_micros())},
        "entry": entries,
    });
    Ok(response::json_value(StatusCode::OK, &fr.out, &bundle))
}

async fn entry(app: &AppState, base: &str, e: EntryResponse, ret: Return) -> Result<Value> {
    let mut resp = Map::new();
    resp.insert("status".into(), json!(status_text(e.status)));
    let mut out = Map::new();
    if let Some(v) = &e.version {
        if v.body.is_some() || e.status == 204 {
            resp.insert("location".into(), json!(format!("{}/{}/_history/{}", v.resource_type, v.id, v.version)));
        }
        resp.insert("etag".into(), json!(format!("W/\"{}\"", v.version)));
        resp.insert("lastModified".into(), json!(meta::instant(v.last_updated)));
        if v.body.is_some() {
            out.insert("fullUrl".into(), json!(format!("{base}/{}/{}", v.resource_type, v.id)));
        }
    }
    if let Some(issues) = &e.outcome {
        resp.insert("outcome".into(), operation_outcome(issues));
    }
    if let Some(r) = e.resource {
        out.insert("resource".into(), r);
    } else if let (Some(v), Return::Representation, true) = (e.version, ret, e.status != 304) {
        if v.body.is_some() {
            let v = crate::interactions::binary::hydrate(&app.fhir, v).await?;
            if let Some(body) = &v.body {
                let r: Value = serde_json::from_slice(body).map_err(|err| FhirError::Internal(err.to_string()))?;
                out.insert("resource".into(), r);
            }
        }
    } else if ret == Return::OperationOutcome && e.outcome.is_none() {
        resp.insert(
            "outcome".into(),
            json!({"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational", "diagnostics": status_text(e.status)}]}),
        );
    }
    out.insert("response".into(), Value::Object(resp));
    Ok(Value::Object(out))
}
