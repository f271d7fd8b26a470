//! HTTP layer: FHIR paths, headers and status codes on top of the interactions.
mod authz;
mod bundle;
mod bundle_post;
mod conditional;
mod history;
mod ingest;
mod instance;
mod patch;
pub mod negotiate;
mod request;
mod search;
pub mod response;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{Method, Request, Response, StatusCode};
use axum::routing::{any, get};
use axum::Router;

use crate::config::ServeConfig;
use crate::error::{FhirError, Result};
use crate::interactions::{self, Fhir};
use request::FhirRequest;
use response::Output;

pub struct AppState {
    pub fhir: Fhir,
    pub config: ServeConfig,
    pub base_path: String,
    pub auth: crate::auth::Auth,
}

pub fn router(state: AppState) -> Router {
    let base = state.base_path.clone();
    let state = Arc::new(state);
    let mut r = Router::new().route("/health", get(|| async { "ok" }));
    r = if base.is_empty() {
        r.route("/", any(dispatch)).route("/{*rest}", any(dispatch))
    } else {
        r.route(&base, any(dispatch)).route(&format!("{base}/"), any(dispatch)).route(&format!("{base}/{{*rest}}"), any(dispatch))
    };
    // Tenants (pool model): `/tenant/{id}{base}/...`.
    let tb = format!("/tenant/{{tenant}}{base}");
    r = r.route(&tb, any(dispatch)).route(&format!("{tb}/"), any(dispatch)).route(&format!("{tb}/{{*rest}}"), any(dispatch));
    r.fallback(not_found).with_state(state)
}

async fn not_found(req: Request<Body>) -> Response<Body> {
    let out = Output::new(String::new(), None, false);
    response::error(&FhirError::NotFound(format!("no FHIR endpoint at {}", req.uri().path())), &out)
}

async fn dispatch(State(app): State<Arc<AppState>>, req: Request<Body>) -> Response<Body> {
    let mut fr = match FhirRequest::parse(&app, req) {
        Ok(fr) => fr,
        Err((err, out)) => return response::error(&err, &out),
    };
    let result = match authz::authorize(&app, &mut fr).await {
        Ok(()) => route(&app, &mut fr).await,
        Err(e) => Err(e),
    };
    let resp = match result {
        Ok(resp) => resp,
        Err(err) => response::error(&err, &fr.out),
    };
    authz::audit(&app, &fr, resp.status().as_u16());
    if app.auth.audit_events {
        authz::audit_event(app.clone(), &fr, resp.status().as_u16());
    }
    resp
}

async fn route(app: &AppState, fr: &mut FhirRequest) -> Result<Response<Body>> {
    let fhir = &app.fhir;
    let segments: Vec<String> = fr.segments.clone();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = fr.method.clone();
    match (s.as_slice(), &method) {
        (["metadata"], &Method::GET) => {
            fr.negotiate(false)?;
            let date = crate::fhir::meta::instant(crate::fhir::meta::now_micros());
            let mut cs = interactions::capabilities::capability_statement(fhir.defs, &fhir.registry(), &fr.out.base_url, &date);
            if let (Some(a), Some(t)) = (&app.auth.authorize_url, &app.auth.token_url) {
                interactions::capabilities::add_security(&mut cs, a, t);
            }
            Ok(response::json_value(StatusCode::OK, &fr.out, &cs))
        }
        ([".well-known", "smart-configuration"], &Method::GET) => authz::smart_configuration(app, fr),
        ([], &Method::GET) => search::search(app, fr, Vec::new(), false).await,
        (["_search"], &Method::POST) => search::search(app, fr, Vec::new(), true).await,
        ([t], &Method::GET) if fhir.defs.is_resource_type(t) => search::search(app, fr, vec![t.to_string()], false).await,
        ([t, "_search"], &Method::POST) if fhir.defs.is_resource_type(t) => search::search(app, fr, vec![t.to_string()], true).await,
        (["$ingest-document"], &Method::POST) => ingest::ingest(app, fr, None).await,
        (["Patient", id, "$ingest-document"], &Method::POST) => ingest::ingest(app, fr, Some(id)).await,
        (["$ingest-status", job], &Method::GET) => ingest::status(app, fr, job).await,
        (["$reindex"], &Method::POST) => {
            fr.negotiate(false)?;
            let (custom, count) = interactions::reindex::reindex(fhir).await?;
            let out = serde_json::json!({"resourceType": "Parameters", "parameter": [
                {"name": "customSearchParameters", "valueInteger": custom},
                {"name": "resourcesReindexed", "valueInteger": count}
            ]});
            Ok(response::json_value(StatusCode::OK, &fr.out, &out))
        }
        (["_history"], &Method::GET) => history::history(app, fr, crate::persistence::HistoryScope::System).await,
        ([], &Method::POST) => bundle_post::post(app, fr).await,
        ([t], &Method::POST) => instance::create(app, fr, t).await,
        ([t], &Method::PUT) if fhir.defs.is_resource_type(t) => conditional::update(app, fr, t).await,
        ([t], &Method::DELETE) if fhir.defs.is_resource_type(t) => conditional::delete(app, fr, t).await,
        ([t], &Method::PATCH) if fhir.defs.is_resource_type(t) => patch::patch(app, fr, t, None).await,
        ([t, id], &Method::PATCH) if fhir.defs.is_resource_type(t) => patch::patch(app, fr, t, Some(id)).await,
        ([t, "_history"], &Method::GET) => {
            history::history(app, fr, crate::persistence::HistoryScope::Type { resource_type: t.to_string() }).await
        }
        ([t, "$validate"], &Method::POST) => instance::validate(app, fr, t).await,
        ([t, id], &Method::GET) => instance::read(app, fr, t, id, None).await,
        ([t, id], &Method::PUT) => instance::update(app, fr, t, id).await,
        ([t, id], &Method::DELETE) => instance::delete(app, fr, t, id).await,
        ([t, id, "_history"], &Method::GET) => {
            let scope = crate::persistence::HistoryScope::Instance { resource_type: t.to_string(), id: id.to_string() };
            history::history(app, fr, scope).await
        }
        ([c, id, t], &Method::GET) if fhir.compartments.is_compartment(c) && fhir.defs.is_resource_type(t) => {
            search::search_in(app, fr, vec![t.to_string()], false, Some((c, id))).await
        }
        ([t, id, "_history", vid], &Method::GET) => instance::read(app, fr, t, id, Some(vid)).await,
        ([t, _id, "$validate"], &Method::POST) => instance::validate(app, fr, t).await,
        ([t, ..], _) if !t.starts_with('$') && !t.starts_with('_') && t != &"metadata" && !fhir.defs.is_resource_type(t) => {
            Err(FhirError::NotFound(format!("unknown resource type '{}'", t.chars().take(80).collect::<String>())))
        }
        ([] | [_] | [_, _] | [_, _, "_history"] | [_, _, "_history", _] | [_, _, "$validate"], _) => {
            Err(FhirError::MethodNotAllowed(format!("{} is not supported on {}", method, fr.path)))
        }
        _ => Err(FhirError::NotFound(format!("no FHIR endpoint at {}", fr.path))),
    }
}
