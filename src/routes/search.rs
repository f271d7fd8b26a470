//! Search over HTTP: `GET [type]?`, `POST [type]/_search`, `GET [base]?_type=`, as a searchset Bundle.
use axum::body::Body;
use axum::http::{Response, StatusCode};
use serde::ser::SerializeSeq;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::request::FhirRequest;
use super::{response, AppState};
use crate::error::{FhirError, Result};
use crate::fhir::definitions::Definitions;
use crate::fhir::meta;
use crate::fhir::outcome::{operation_outcome, Issue, Severity};
use crate::auth::guard::{Confinement, Guard};
use crate::auth::principal::Access;
use crate::interactions::search::{search_confined, Paging};
use crate::persistence::StoredVersion;
use crate::search::query::{SearchQuery, Summary};

/// `types` empty for a system-level search.
pub async fn search(app: &AppState, fr: &mut FhirRequest, types: Vec<String>, post: bool) -> Result<Response<Body>> {
    search_in(app, fr, types, post, None).await
}

/// A search, optionally within a compartment (`GET [base]/Patient/123/Observation`).
pub async fn search_in(
    app: &AppState,
    fr: &mut FhirRequest,
    types: Vec<String>,
    post: bool,
    compartment: Option<(&str, &str)>,
) -> Result<Response<Body>> {
    fr.negotiate(false)?;
    let mut params = fr.query.clone();
    if post {
        let media = super::negotiate::content_type(&fr.headers);
        if media.as_deref().is_some_and(|m| m != "application/x-www-form-urlencoded") {
            return Err(FhirError::UnsupportedMediaType("a _search POST takes an application/x-www-form-urlencoded body".into()));
        }
        let body = fr.body_bytes().await?;
        params.extend(form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }
    let strict = fr.headers.get_all("prefer").iter().any(|v| v.to_str().unwrap_or("").replace(' ', "").contains("handling=strict"));
    let paging = Paging { default: app.config.default_page_size, max: app.config.max_page_size };
    let path = fr.segments.iter().filter(|s| s.as_str() != "_search").cloned().collect::<Vec<_>>().join("/");
    let guard = fr.guard(app);
    guard.check_lists(&params).await?;
    let (types, confine) = confinement(&guard, &fr.access, types, &params)?;
    let (q, mut page) = search_confined(&app.fhir, &fr.tenant, types, &params, strict, paging, compartment, &confine).await?;
    page.included = guard.filter_included(std::mem::take(&mut page.included)).await?;
    let link = |cursor: Option<&str>| super::bundle::page_url(&fr.out.base_url, &path, &q.applied, cursor);
    let mut links = vec![json!({"relation": "self", "url": link(q.cursor.as_deref())})];
    if q.cursor.is_some() {
        links.push(json!({"relation": "first", "url": link(None)}));
    }
    if let Some(previous) = &page.previous {
        links.push(json!({"relation": "previous", "url": link(Some(previous))}));
    }
    if let Some(next) = &page.next {
        links.push(json!({"relation": "next", "url": link(Some(next))}));
    }
    let mut entries = Vec::new();
    for (mode, versions) in [("match", &page.matches), ("include", &page.included)] {
        for v in versions.iter() {
            let v = crate::interactions::binary::hydrate(&app.fhir, v.clone()).await?;
            entries.push(entry(app.fhir.defs, &fr.out.base_url, v, mode, &q)?);
        }
    }
    let outcome = (!q.ignored.is_empty()).then(|| {
        let issues: Vec<Issue> = q
            .ignored
            .iter()
            .map(|(k, why)| Issue { severity: Severity::Warning, code: "not-supported", diagnostics: format!("parameter '{k}' ignored: {why}"), expression: String::new() })
            .collect();
        json!({"resource": operation_outcome(&issues), "search": {"mode": "outcome"}})
    });
    let bundle = Searchset {
        resource_type: "Bundle",
        id: uuid::Uuid::new_v4().to_string(),
        meta: json!({"lastUpdated": meta::instant(meta::now_micros())}),
        kind: "searchset",
        total: page.total,
        link: links,
        entry: Entries(entries, outcome),
    };
    let body = serde_json::to_vec(&bundle).map_err(|e| FhirError::Internal(e.to_string()))?;
    Ok(response::json(StatusCode::OK, &fr.out, body.into()))
}

/// The searchset Bundle, serialized with the stored resources as they are.
#[derive(Serialize)]
struct Searchset {
    #[serde(rename = "resourceType")]
    resource_type: &'static str,
    id: String,
    meta: Value,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    link: Vec<Value>,
    #[serde(skip_serializing_if = "Entries::is_empty")]
    entry: Entries,
}

/// The resource entries, then the OperationOutcome entry if any.
struct Entries(Vec<Entry>, Option<Value>);

impl Entries {
    fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.is_none()
    }
}

impl Serialize for Entries {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len() + self.1.is_some() as usize))?;
        for e in &self.0 {
            seq.serialize_element(e)?;
        }
        if let Some(o) = &self.1 {
            seq.serialize_element(o)?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct Entry {
    #[serde(rename = "fullUrl")]
    full_url: String,
    resource: Resource,
    search: Mode,
}

#[derive(Serialize)]
struct Mode {
    mode: &'static str,
}

/// A stored resource passed through unparsed, or one reshaped for `_summary`/`_elements`.
#[derive(Serialize)]
#[serde(untagged)]
enum Resource {
    Stored(Box<RawValue>),
    Shaped(Value),
}

fn entry(defs: &Definitions, base: &str, v: StoredVersion, mode: &'static str, q: &SearchQuery) -> Result<Entry> {
    let body = v.body.as_deref().unwrap_or(b"{}");
    let bad = |e: serde_json::Error| FhirError::Internal(format!("stored {}/{} is not JSON: {e}", v.resource_type, v.id));
    let shaped = mode == "match" && (q.summary.is_some() || !q.elements.is_empty());
    let resource = if shaped {
        let mut resource: Value = serde_json::from_slice(body).map_err(bad)?;
        shape(defs, &mut resource, q);
        Resource::Shaped(resource)
    } else {
        let text = std::str::from_utf8(body).map_err(|e| FhirError::Internal(e.to_string()))?;
        Resource::Stored(RawValue::from_string(text.to_string()).map_err(bad)?)
    };
    Ok(Entry { full_url: format!("{base}/{}/{}", v.resource_type, v.id), resource, search: Mode { mode } })
}

/// `_elements` and `_summary`: drop what was not asked for and tag the result SUBSETTED.
pub(super) fn shape(defs: &Definitions, resource: &mut Value, q: &SearchQuery) {
    let rtype = resource.get("resourceType").and_then(Value::as_str).unwrap_or("").to_string();
    let Some(obj) = resource.as_object_mut() else { return };
    let keep_always = ["resourceType", "id", "meta"];
    let subsetted = match q.summary {
        Some(Summary::True) => {
            // Top-level elements marked isSummary in the definitions, and mandatory ones.
            let Some(td) = defs.type_def(&rtype) else { return };
            let Some(children) = td.children_of(&rtype) else { return };
            obj.retain(|k, _| {
                keep_always.contains(&k.as_str())
                    || children.keys.get(k.trim_start_matches('_')).and_then(|(i, _)| td.elements.get(*i)).is_some_and(|e| e.summary || e.min > 0)
            });
            true
        }
        Some(Summary::Text) => {
            obj.retain(|k, _| keep_always.contains(&k.as_str()) || k == "text");
            true
        }
        Some(Summary::Data) => obj.remove("text").is_some(),
        _ if !q.elements.is_empty() => {
            obj.retain(|k, _| keep_always.contains(&k.as_str()) || q.elements.iter().any(|e| e == k));
            true
        }
        _ => false,
    };
    if subsetted {
        let meta = obj.entry("meta").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            let tags = m.entry("tag").or_insert_with(|| json!([]));
            if let Some(arr) = tags.as_array_mut() {
                arr.push(json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}));
            }
        }
    }
}

/// The filters confining a search under restricted access. A system-level search under
/// restricted access must name exactly one type in `_type` (it then runs as that type's).
fn confinement(guard: &Guard<'_>, access: &Access, types: Vec<String>, params: &[(String, String)]) -> Result<(Vec<String>, Confinement)> {
    if !matches!(access, Access::Restricted(_)) {
        return Ok((types, Confinement { reachable: guard.reachable_types(), ..Confinement::default() }));
    }
    let types = if types.is_empty() {
        let named: Vec<String> = params.iter().filter(|(k, _)| k == "_type").flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_string())).filter(|t| !t.is_empty()).collect();
        match named.as_slice() {
            [one] => vec![one.clone()],
            _ => return Err(FhirError::Forbidden("with this token a system-level search must name exactly one type in _type".into())),
        }
    } else {
        types
    };
    let t = types[0].clone();
    // The type's own access (for a system search the decision above was for the system).
    let type_access = guard.require(crate::auth::interaction::Interaction::SearchType, Some(&t))?;
    let confine = guard.confinement(&type_access, &t)?;
    Ok((types, confine))
}
