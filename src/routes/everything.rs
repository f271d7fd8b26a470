//! `GET|POST Patient/[id]/$everything` and `Patient/$everything` over HTTP: a searchset
//! Bundle, paged with `_count`, of what `operations::everything` gathers and the caller may see.
use axum::body::Body;
use axum::http::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::request::FhirRequest;
use super::{bundle, response, AppState};
use crate::auth::interaction::Interaction;
use crate::auth::principal::Access;
use crate::error::{FhirError, Result};
use crate::interactions::search::{search, Confinement, Paging};
use crate::operations::everything::{self, Params};

fn bad(msg: String) -> FhirError {
    FhirError::BadRequest(msg)
}

/// The parameters, from the query and (POST) a Parameters body.
async fn params(fr: &mut FhirRequest) -> Result<Vec<(String, String)>> {
    let mut out = fr.query.clone();
    if fr.method == Method::POST && fr.headers.contains_key(axum::http::header::CONTENT_TYPE) {
        let body = fr.json_body().await?;
        if body.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
            return Err(bad("the body of $everything must be a Parameters resource".into()));
        }
        for p in body.get("parameter").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
            let value = ["valueDate", "valueDateTime", "valueInstant", "valueString", "valueCode", "valueInteger", "valueUri"]
                .iter()
                .find_map(|k| p.get(*k))
                .map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
            match value {
                Some(v) => out.push((name.to_string(), v)),
                None => return Err(bad(format!("parameter '{name}' has no value $everything understands"))),
            }
        }
    }
    Ok(out)
}

fn parse(app: &AppState, raw: &[(String, String)]) -> Result<(Params, Option<usize>, usize)> {
    let mut p = Params::default();
    let (mut count, mut offset) = (None, 0);
    let date = |k: &str, v: &str| crate::fhir::meta::parse_range(v).map(|_| v.to_string()).ok_or_else(|| bad(format!("{k} '{v}' is not a valid date")));
    for (k, v) in raw {
        match k.as_str() {
            "start" => p.start = Some(date(k, v)?),
            "end" => p.end = Some(date(k, v)?),
            "_since" => p.since = Some(date(k, v)?),
            "_type" => {
                let types: Vec<String> = v.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
                if let Some(t) = types.iter().find(|t| !app.fhir.defs.is_resource_type(t)) {
                    return Err(bad(format!("_type: '{}' is not a resource type", t.chars().take(64).collect::<String>())));
                }
                p.types.get_or_insert_with(Vec::new).extend(types);
            }
            "_count" => count = Some(v.trim().parse::<usize>().map_err(|_| bad(format!("_count must be a non-negative integer, not '{v}'")))?),
            "_cursor" => offset = v.parse::<usize>().map_err(|_| bad("_cursor is not a page of this $everything".into()))?,
            "_format" | "_pretty" => {}
            other => return Err(bad(format!("$everything has no parameter '{}'", other.chars().take(64).collect::<String>()))),
        }
    }
    Ok((p, count, offset))
}

pub async fn everything(app: &AppState, fr: &mut FhirRequest, id: Option<&str>) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    let raw = params(fr).await?;
    let (p, count, offset) = parse(app, &raw)?;
    let guard = fr.guard(app);
    let confine = |t: &str| -> Result<Option<Confinement>> {
        match guard.access(Interaction::SearchType, Some(t)) {
            Access::Denied(_) => Ok(None),
            Access::Full => Ok(Some(Confinement { reachable: guard.reachable_types(), ..Confinement::default() })),
            a => guard.confinement(&a, t).map(Some),
        }
    };
    let patients = match id {
        Some(id) => vec![id.to_string()],
        None => every_patient(app, &fr.tenant).await?,
    };
    let mut all = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for pid in &patients {
        for v in everything::everything(&app.fhir, &fr.tenant, pid, &p, &confine).await? {
            if seen.insert((v.resource_type.clone(), v.id.clone())) {
                all.push(v);
            }
        }
        if all.len() > everything::MAX_RESOURCES {
            return Err(everything::too_many());
        }
    }
    // Every resource that leaves is one the caller may read.
    let all = guard.filter_included(all).await?;
    let size = count.unwrap_or(app.config.default_page_size).min(app.config.max_page_size);
    let kept: Vec<(String, String)> = raw.iter().filter(|(k, _)| k != "_cursor").cloned().collect();
    let path = fr.segments.join("/");
    let link = |at: usize| bundle::page_url(&fr.out.base_url, &path, &kept, (at > 0).then(|| at.to_string()).as_deref());
    let mut links = vec![json!({"relation": "self", "url": link(offset)})];
    if offset + size < all.len() {
        links.push(json!({"relation": "next", "url": link(offset + size)}));
    }
    let mut entries = Vec::new();
    for v in all.iter().skip(offset).take(size) {
        let resource: Value = serde_json::from_slice(v.body.as_deref().unwrap_or(b"{}")).map_err(|e| FhirError::Internal(e.to_string()))?;
        entries.push(json!({"fullUrl": format!("{}/{}/{}", fr.out.base_url, v.resource_type, v.id), "resource": resource, "search": {"mode": "match"}}));
    }
    let b = json!({"resourceType": "Bundle", "id": uuid::Uuid::new_v4().to_string(), "type": "searchset",
        "meta": {"lastUpdated": crate::fhir::meta::instant(crate::fhir::meta::now_micros())},
        "total": all.len(), "link": links, "entry": entries});
    Ok(response::json_value(StatusCode::OK, &fr.out, &b))
}

/// The ids of every live Patient (type-level `$everything`, for callers who may read all).
async fn every_patient(app: &AppState, tenant: &str) -> Result<Vec<String>> {
    let paging = Paging { default: 1000, max: 1000 };
    let mut params = vec![("_elements".to_string(), "id".to_string())];
    let mut ids = Vec::new();
    loop {
        let (_, page) = search(&app.fhir, tenant, vec!["Patient".into()], &params, false, paging, None).await?;
        ids.extend(page.matches.into_iter().map(|v| v.id));
        if ids.len() > everything::MAX_RESOURCES {
            return Err(FhirError::TooCostly("Patient/$everything covers too many patients; use $export".into()));
        }
        match page.next {
            Some(n) => {
                params.retain(|(k, _)| k != "_cursor");
                params.push(("_cursor".into(), n));
            }
            None => return Ok(ids),
        }
    }
}
