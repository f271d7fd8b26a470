//! `POST [base]/$ingest-document` and `POST [base]/Patient/[id]/$ingest-document`: a
//! document (see `input`) -> the resources read from it, written in one transaction. The
//! answer is a Parameters with the OperationOutcome (low-confidence warnings), the
//! transaction-response Bundle and each value's confidence.
//! With `Prefer: respond-async` the answer is 202 with a `Content-Location` status URL
//! (`[base]/$ingest-status/[job]`: 202 while running, then the result's status and body).
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use serde_json::{json, Value};

use super::request::FhirRequest;
use super::response;
use super::AppState;
use crate::error::{FhirError, Result};
use crate::fhir::meta;

mod input;
mod jobs;

pub async fn ingest(app: &AppState, fr: &mut FhirRequest, patient: Option<&str>) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    if let Some(id) = patient {
        crate::interactions::check_id(id)?;
    }
    let ct = fr.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let doc = input::read(app, fr, &media).await?;
    let (bytes, doc_type) = (doc.bytes, doc.content_type);
    if bytes.is_empty() {
        return Err(FhirError::BadRequest("the document is empty".into()));
    }
    let path_patient = patient.map(|p| format!("Patient/{p}"));
    let patient = match (path_patient, doc.patient) {
        (Some(a), Some(b)) if a != b => return Err(FhirError::BadRequest(format!("the request names two patients: {a} in the path and {b} in the body"))),
        (a, b) => a.or(b),
    };
    let settings = app.config.ingest_settings();
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
        jobs::started(&fhir, &tenant, &job).await;
        let id = job.clone();
        tokio::spawn(async move {
            let result = crate::ingest::ingest(&fhir, &tenant, &base, limits, bytes, doc_type, patient, settings).await;
            let (code, body) = match result {
                Ok(ing) => (200, answer(&ing)),
                Err(e) => (e.status(), crate::fhir::outcome::operation_outcome(&e.issues())),
            };
            jobs::finished(&fhir, &tenant, &id, code, body).await;
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

/// `GET [base]/$ingest-status/[job]`: 202 while running, then the result; a job that a
/// restart interrupted is a 500 saying so.
pub async fn status(app: &AppState, fr: &mut FhirRequest, job: &str) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    let unknown = || FhirError::NotFound(format!("no $ingest-document job '{}'", job.chars().take(80).collect::<String>()));
    if !jobs::valid_id(job) {
        return Err(unknown());
    }
    match jobs::get(&app.fhir, &fr.tenant, job).await?.ok_or_else(unknown)? {
        jobs::Job::Running => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::ACCEPTED;
            resp.headers_mut().insert("x-progress", header::HeaderValue::from_static("in progress"));
            Ok(resp)
        }
        jobs::Job::Done(code, body) => Ok(response::json_value(StatusCode::from_u16(code).unwrap_or(StatusCode::OK), &fr.out, &body)),
        jobs::Job::Interrupted => Err(FhirError::Internal(format!("$ingest-document job {job} was interrupted (the server restarted while it ran); send the document again"))),
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
