//! `POST [base]/$ingest-document` and `POST [base]/Patient/[id]/$ingest-document`: a PDF
//! body (or a Parameters resource with a `document` attachment) -> the resources read from
//! it, written in one transaction. The answer is a Parameters with the OperationOutcome
//! (low-confidence warnings), the transaction-response Bundle and each value's confidence.
//! With `Prefer: respond-async` the answer is 202 with a `Content-Location` status URL
//! (`[base]/$ingest-status/[job]`: 202 while running, then the result's status and body).
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};

use super::request::{parse_json, FhirRequest};
use super::response;
use super::AppState;
use crate::error::{FhirError, Result};
use crate::fhir::meta;

pub async fn ingest(app: &AppState, fr: &mut FhirRequest, patient: Option<&str>) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    if let Some(id) = patient {
        crate::interactions::check_id(id)?;
    }
    let ct = fr.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let (bytes, doc_type) = match media.as_str() {
        "application/pdf" | "application/octet-stream" => (fr.body_bytes().await?, "application/pdf".to_string()),
        "application/fhir+json" | "application/json" => attachment(&fr.body_bytes().await?)?,
        "image/png" | "image/jpeg" | "image/tiff" => (fr.body_bytes().await?, media.clone()),
        "" => return Err(FhirError::UnsupportedMediaType("a Content-Type is required (application/pdf)".into())),
        other => return Err(FhirError::UnsupportedMediaType(format!("unsupported Content-Type '{}' for $ingest-document: send application/pdf", other.chars().take(80).collect::<String>()))),
    };
    if bytes.is_empty() {
        return Err(FhirError::BadRequest("the request body is empty; a document is required".into()));
    }
    let settings = app.config.ingest_settings();
    let patient = patient.map(|p| format!("Patient/{p}"));
    let limits = app.config.bundle_limits();
    if wants_async(fr) {
        let fhir = Arc::new(crate::interactions::Fhir {
            store: app.fhir.store.clone(),
            search: app.fhir.search.clone(),
            schema: app.fhir.schema.clone(),
            compartments: app.fhir.compartments.clone(),
            blobs: app.fhir.blobs.clone(),
            defs: app.fhir.defs,
        });
        let job = uuid::Uuid::new_v4().to_string();
        let (tenant, base) = (fr.tenant.clone(), fr.out.base_url.clone());
        jobs_put(&job, Job::Running);
        let id = job.clone();
        tokio::spawn(async move {
            let result = crate::ingest::ingest(&fhir, &tenant, &base, limits, bytes, doc_type, patient, settings).await;
            let done = match result {
                Ok(ing) => Job::Done(200, answer(&ing)),
                Err(e) => Job::Done(e.status(), crate::fhir::outcome::operation_outcome(&e.issues())),
            };
            jobs_put(&id, done);
        });
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::ACCEPTED;
        if let Ok(h) = header::HeaderValue::from_str(&format!("{}/$ingest-status/{job}", fr.out.base_url)) {
            resp.headers_mut().insert(header::CONTENT_LOCATION, h);
        }
        return Ok(resp);
    }
    let ing = crate::ingest::ingest(&app.fhir, &fr.tenant, &fr.out.base_url, limits, bytes, doc_type, patient, settings).await?;
    Ok(response::json_value(StatusCode::OK, &fr.out, &answer(&ing)))
}

fn wants_async(fr: &FhirRequest) -> bool {
    fr.headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()).any(|v| v.split([',', ';']).any(|p| p.trim().eq_ignore_ascii_case("respond-async")))
}

enum Job {
    Running,
    Done(u16, Value),
}

fn jobs() -> &'static Mutex<HashMap<String, Job>> {
    static JOBS: OnceLock<Mutex<HashMap<String, Job>>> = OnceLock::new();
    JOBS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn jobs_put(id: &str, job: Job) {
    if let Ok(mut j) = jobs().lock() {
        // finished jobs are forgotten beyond 1,000 (in-memory status, this process only)
        if j.len() >= 1000 {
            let done: Vec<String> = j.iter().filter(|(_, v)| matches!(v, Job::Done(..))).map(|(k, _)| k.clone()).take(100).collect();
            for k in done {
                j.remove(&k);
            }
        }
        j.insert(id.to_string(), job);
    }
}

/// `GET [base]/$ingest-status/[job]`.
pub async fn status(fr: &mut FhirRequest, job: &str) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    let state = jobs().lock().ok().and_then(|j| match j.get(job) {
        Some(Job::Running) => Some(None),
        Some(Job::Done(code, body)) => Some(Some((*code, body.clone()))),
        None => None,
    });
    match state {
        None => Err(FhirError::NotFound(format!("no $ingest-document job '{}'", job.chars().take(80).collect::<String>()))),
        Some(None) => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::ACCEPTED;
            resp.headers_mut().insert("x-progress", header::HeaderValue::from_static("in progress"));
            Ok(resp)
        }
        Some(Some((code, body))) => Ok(response::json_value(StatusCode::from_u16(code).unwrap_or(StatusCode::OK), &fr.out, &body)),
    }
}

fn answer(ing: &crate::ingest::Ingested) -> Value {
    let entries: Vec<Value> = ing
        .outcome
        .entries
        .iter()
        .map(|e| {
            let mut resp = json!({"status": status_text(e.status)});
            if let Some(v) = &e.version {
                resp["location"] = json!(format!("{}/{}/_history/{}", v.resource_type, v.id, v.version));
                resp["etag"] = json!(format!("W/\"{}\"", v.version));
                resp["lastModified"] = json!(meta::instant(v.last_updated));
            }
            json!({"response": resp})
        })
        .collect();
    let tr = json!({"resourceType": "Bundle", "id": uuid::Uuid::new_v4().to_string(), "type": "transaction-response", "entry": entries});
    crate::ingest::response(ing, tr)
}

fn status_text(code: u16) -> String {
    let reason = StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    format!("{code} {reason}").trim_end().to_string()
}

/// The `document` attachment of a Parameters resource.
fn attachment(body: &[u8]) -> Result<(Bytes, String)> {
    let v = parse_json(body)?;
    if v.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(FhirError::BadRequest("a JSON body must be a Parameters resource with a 'document' attachment".into()));
    }
    let att = v
        .get("parameter")
        .and_then(Value::as_array)
        .and_then(|ps| ps.iter().find(|p| p.get("name").and_then(Value::as_str) == Some("document")))
        .and_then(|p| p.get("valueAttachment"))
        .ok_or_else(|| FhirError::BadRequest("the Parameters has no 'document' parameter with a valueAttachment".into()))?;
    let data = att.get("data").and_then(Value::as_str).ok_or_else(|| FhirError::BadRequest("the document attachment has no data (references are not supported yet)".into()))?;
    let compact: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(&compact).map_err(|e| FhirError::BadRequest(format!("the attachment data is not valid base64: {e}")))?;
    let ct = att.get("contentType").and_then(Value::as_str).unwrap_or("application/pdf").to_string();
    Ok((Bytes::from(bytes), ct))
}
