//! `PATCH [type]/[id]` and conditional `PATCH [type]?criteria`: JSON Patch
//! (`application/json-patch+json`) or FHIRPath Patch (a `Parameters` body as FHIR JSON).
use axum::body::Body;
use axum::http::{Response, StatusCode};

use super::negotiate::{self, prefer_return};
use super::request::FhirRequest;
use super::response;
use super::AppState;
use crate::error::{FhirError, Result};
use crate::interactions::{self, patch::PatchBody};

pub async fn patch(app: &AppState, fr: &mut FhirRequest, resource_type: &str, id: Option<&str>) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    interactions::check_type(&app.fhir, resource_type)?;
    if let Some(id) = id {
        interactions::check_id(id)?;
    }
    let if_match = negotiate::if_match(&fr.headers)?;
    let media = negotiate::content_type(&fr.headers);
    let body = match media.as_deref() {
        Some("application/json-patch+json") => {
            let bytes = fr.body_bytes().await?;
            let v = crate::fhir::json::parse(&bytes).map_err(|e| FhirError::BadRequest(format!("the JSON Patch is not valid JSON: {e}")))?;
            PatchBody::Json(v)
        }
        None => return Err(FhirError::UnsupportedMediaType("PATCH needs Content-Type application/json-patch+json (JSON Patch) or application/fhir+json (FHIRPath Patch Parameters)".into())),
        Some(_) => PatchBody::FhirPath(fr.json_body().await?),
    };
    let gate = fr.guard(app).gate();
    let v = match id {
        Some(id) => interactions::patch::patch(&app.fhir, &fr.tenant, resource_type, id, body, if_match, &gate).await?,
        None => {
            let params = super::conditional::criteria_params(fr);
            interactions::conditional::patch(&app.fhir, &fr.tenant, resource_type, &params, body, if_match, &gate).await?
        }
    };
    Ok(response::resource(StatusCode::OK, &fr.out, &v, prefer_return(&fr.headers), false))
}
