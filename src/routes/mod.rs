//! HTTP layer: FHIR paths, headers and status codes on top of the interactions.
mod authz;
mod bundle;
mod bundle_entry;
mod bundle_post;
mod conditional;
mod everything;
mod history;
mod ingest;
mod instance;
mod metadata;
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
use crate::model::interaction::{Kind, Target};
use crate::persistence::HistoryScope;
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

/// Runs a parsed and authorized request: the dispatch on its typed target.
pub(crate) async fn route(app: &AppState, fr: &mut FhirRequest) -> Result<Response<Body>> {
    let t = fr.target.clone().ok_or_else(|| FhirError::Internal("the request was not parsed".into()))?;
    let rt = t.resource_type.clone().unwrap_or_default();
    let id = t.id.clone().unwrap_or_default();
    let mut resp = match &t.kind {
        Kind::Capabilities => metadata::capabilities(app, fr),
        Kind::SmartConfiguration => authz::smart_configuration(app, fr),
        Kind::SearchSystem => search::search(app, fr, Vec::new(), t.post_search).await,
        Kind::SearchType => search::search(app, fr, vec![rt], t.post_search).await,
        Kind::SearchCompartment { compartment, id } => search::search_in(app, fr, vec![rt], false, Some((compartment.as_str(), id.as_str()))).await,
        Kind::Bundle => bundle_post::post(app, fr).await,
        Kind::HistorySystem => history::history(app, fr, HistoryScope::System).await,
        Kind::HistoryType => history::history(app, fr, HistoryScope::Type { resource_type: rt }).await,
        Kind::HistoryInstance => history::history(app, fr, HistoryScope::Instance { resource_type: rt, id }).await,
        Kind::Create => instance::create(app, fr, &rt).await,
        Kind::Read => instance::read(app, fr, &rt, &id, None).await,
        Kind::Vread { version } => instance::read(app, fr, &rt, &id, Some(version.as_str())).await,
        Kind::Update => instance::update(app, fr, &rt, &id).await,
        Kind::Delete => instance::delete(app, fr, &rt, &id).await,
        Kind::Patch => patch::patch(app, fr, &rt, Some(&id)).await,
        Kind::ConditionalPatch => patch::patch(app, fr, &rt, None).await,
        Kind::ConditionalUpdate => conditional::update(app, fr, &rt).await,
        Kind::ConditionalDelete => conditional::delete(app, fr, &rt).await,
        Kind::Operation { name } => operation(app, fr, &t, name).await,
    }?;
    if t.head {
        *resp.body_mut() = Body::empty();
    }
    Ok(resp)
}

/// The operations, by name and level.
async fn operation(app: &AppState, fr: &mut FhirRequest, t: &Target, name: &str) -> Result<Response<Body>> {
    let rt = t.resource_type.as_deref();
    let id = t.id.as_deref();
    let post = fr.method == Method::POST;
    match (name, rt, id) {
        ("ingest-document", None, None) if post => ingest::ingest(app, fr, None).await,
        ("ingest-document", Some("Patient"), Some(id)) if post => ingest::ingest(app, fr, Some(id)).await,
        ("ingest-status", None, Some(job)) if fr.method == Method::GET => ingest::status(app, fr, job).await,
        ("reindex", None, None) if post => reindex(app, fr).await,
        ("versions", None, None) if fr.method == Method::GET => metadata::versions(fr),
        ("everything", Some("Patient"), id) => everything::everything(app, fr, id).await,
        ("validate", Some(rt), _) if post => instance::validate(app, fr, rt).await,
        ("ingest-document" | "ingest-status" | "reindex" | "validate" | "everything" | "versions", _, _) => {
            Err(FhirError::MethodNotAllowed(format!("{} is not supported on {}", fr.method, fr.path)))
        }
        _ => Err(FhirError::NotFound(format!("unknown operation ${}", name.chars().take(64).collect::<String>()))),
    }
}

async fn reindex(app: &AppState, fr: &mut FhirRequest) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    let (custom, count) = interactions::reindex::reindex(&app.fhir, &fr.tenant).await?;
    let out = serde_json::json!({"resourceType": "Parameters", "parameter": [
        {"name": "customSearchParameters", "valueInteger": custom},
        {"name": "resourcesReindexed", "valueInteger": count}
    ]});
    Ok(response::json_value(StatusCode::OK, &fr.out, &out))
}
