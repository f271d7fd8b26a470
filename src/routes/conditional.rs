//! Conditional create (`If-None-Exist`), update (`PUT [type]?criteria`) and delete
//! (`DELETE [type]?criteria`).
use axum::body::Body;
use axum::http::{Response, StatusCode};

use super::negotiate::{self, prefer_return};
use super::request::FhirRequest;
use super::response;
use super::AppState;
use crate::error::{FhirError, Result};
use crate::fhir::outcome::{Issue, Severity};
use crate::interactions;

/// The request's query without the output parameters (`_format`, `_pretty`).
pub fn criteria_params(fr: &FhirRequest) -> Vec<(String, String)> {
    fr.query.iter().filter(|(k, _)| !matches!(k.as_str(), "_format" | "_pretty")).cloned().collect()
}

/// `POST [type]` with `If-None-Exist`: 201 when created, 200 with the match otherwise.
pub async fn create(app: &AppState, fr: &mut FhirRequest, resource_type: &str, if_none_exist: &str) -> Result<Response<Body>> {
    let resource = fr.json_body().await?;
    let (v, created) = interactions::conditional::create(&app.fhir, &fr.tenant, resource_type, resource, if_none_exist, &fr.guard(app).gate()).await?;
    let v = interactions::binary::hydrate(&app.fhir, v).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(response::resource(status, &fr.out, &v, prefer_return(&fr.headers), true))
}

/// `PUT [type]?criteria`.
pub async fn update(app: &AppState, fr: &mut FhirRequest, resource_type: &str) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    interactions::check_type(&app.fhir, resource_type)?;
    let if_match = negotiate::if_match(&fr.headers)?;
    let params = criteria_params(fr);
    if params.is_empty() {
        return Err(FhirError::MethodNotAllowed(format!("PUT {} needs an id or conditional criteria", fr.path)));
    }
    let resource = fr.json_body().await?;
    let (v, created) = interactions::conditional::update(&app.fhir, &fr.tenant, resource_type, &params, resource, if_match, &fr.guard(app).gate()).await?;
    let v = interactions::binary::hydrate(&app.fhir, v).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(response::resource(status, &fr.out, &v, prefer_return(&fr.headers), true))
}

/// `DELETE [type]?criteria`: 204 (also when nothing matched); 412 for several matches
/// unless multiple deletes are configured.
pub async fn delete(app: &AppState, fr: &mut FhirRequest, resource_type: &str) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    interactions::check_type(&app.fhir, resource_type)?;
    let params = criteria_params(fr);
    if params.is_empty() {
        return Err(FhirError::MethodNotAllowed(format!("DELETE {} needs an id or conditional criteria", fr.path)));
    }
    let limits = app.config.bundle_limits();
    let deleted = interactions::conditional::delete(&app.fhir, &fr.tenant, resource_type, &params, limits.conditional_delete_multiple, limits.max_conditional_deletes, &fr.guard(app).gate()).await?;
    let mut resp = match prefer_return(&fr.headers) {
        negotiate::Return::OperationOutcome => {
            let msg = format!("{} {resource_type} resource(s) deleted", deleted.len());
            response::outcome(StatusCode::OK, &fr.out, &[Issue { severity: Severity::Information, code: "informational", diagnostics: msg, expression: String::new() }])
        }
        _ => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
    };
    if let [v] = deleted.as_slice() {
        response::version_headers(&mut resp, v);
    }
    Ok(resp)
}
