//! History at instance, type and system level, paged with an opaque cursor.
use axum::body::Body;
use axum::http::{Response, StatusCode};

use super::request::FhirRequest;
use super::{bundle, response, AppState};
use crate::error::{FhirError, Result};
use crate::fhir::meta::parse_range;
use crate::interactions;
use crate::persistence::{HistoryQuery, HistoryScope};

const KNOWN: &[&str] = &["_count", "_since", "_at", "_cursor", "_format", "_pretty", "_list", "_sort"];

pub async fn history(app: &AppState, fr: &mut FhirRequest, scope: HistoryScope) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    let cfg = &app.config;
    let count = match fr.param("_count") {
        None => cfg.default_page_size,
        Some(c) => c
            .trim()
            .parse::<usize>()
            .map_err(|_| FhirError::BadRequest(format!("_count must be a non-negative integer, not '{c}'")))?
            .min(cfg.max_page_size),
    };
    let since = match fr.param("_since") {
        None => None,
        Some(s) => Some(parse_range(s).ok_or_else(|| FhirError::BadRequest(format!("_since '{s}' is not a valid instant")))?.0),
    };
    let at = match fr.param("_at") {
        None => None,
        Some(s) => Some(parse_range(s).ok_or_else(|| FhirError::BadRequest(format!("_at '{s}' is not a valid date or dateTime")))?),
    };
    if let Some(sort) = fr.param("_sort") {
        if sort != "-_lastUpdated" {
            return Err(FhirError::BadRequest(format!("history is sorted newest first; _sort '{sort}' is not supported")));
        }
    }
    if fr.param("_list").is_some() {
        return Err(FhirError::BadRequest("_list is not supported on history".into()));
    }
    let cursor = fr.param("_cursor").map(str::to_string);
    let query = HistoryQuery { scope, since, at, count, cursor };
    let mut page = interactions::history::history(&app.fhir, &fr.tenant, query.clone()).await?;
    if matches!(fr.access, crate::auth::principal::Access::Restricted(_)) {
        // Instance history under restricted access: only the versions the token may see,
        // pages filled from the following ones, so that a page never shows where hidden
        // versions are.
        let guard = fr.guard(app);
        let mut kept = Vec::new();
        loop {
            for v in std::mem::take(&mut page.entries) {
                if guard.visible(&fr.access, &v).await? {
                    kept.push(v);
                }
            }
            match page.next.clone() {
                Some(next) if kept.len() < count => {
                    let q = HistoryQuery { cursor: Some(next), ..query.clone() };
                    page = interactions::history::history(&app.fhir, &fr.tenant, q).await?;
                }
                _ => break,
            }
        }
        if kept.is_empty() && page.next.is_none() {
            return Err(crate::auth::guard::forbidden("no version of this resource is within what the token may access"));
        }
        page.total = None;
        page.entries = kept;
    }

    let kept: Vec<(String, String)> =
        fr.query.iter().filter(|(k, _)| KNOWN.contains(&k.as_str()) && k != "_cursor").cloned().collect();
    let path = fr.segments.join("/");
    let link = |cursor: Option<&str>| bundle::page_url(&fr.out.base_url, &path, &kept, cursor);
    let self_url = link(fr.param("_cursor"));
    let next_url = page.next.as_deref().map(|c| link(Some(c)));
    let body = bundle::history(&fr.out, &page, &self_url, next_url.as_deref());
    Ok(response::json(StatusCode::OK, &fr.out, body.into()))
}
