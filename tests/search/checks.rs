//! The expectations of the search cases in `cases.json`, checked on what one run of a case
//! returned. Shared by the HTTP suite (`search_conformance.rs`) and the OpenSearch adapter
//! suite (`opensearch_index.rs`).
#![allow(dead_code)]

use std::collections::BTreeSet;

use serde_json::Value;

/// What one case's search returned (all pages when paged).
#[derive(Default)]
pub struct Got {
    /// `Type/id` of every match, in order.
    pub matches: Vec<String>,
    /// The matched resources as returned (empty where the caller has no bodies).
    pub match_resources: Vec<Value>,
    pub includes: Vec<String>,
    /// Whether an ignored parameter was reported, and what was said.
    pub outcome: bool,
    pub outcome_text: Vec<String>,
    /// Link relations of each page.
    pub links: Vec<Vec<String>>,
    /// The first page's self link (or the parameters it carries).
    pub self_link: String,
    pub totals: Vec<Option<u64>>,
    pub page_sizes: Vec<usize>,
    pub page_includes: Vec<usize>,
}

pub fn load_json(name: &str) -> Value {
    let path = format!("{}/tests/search/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// The resource type searched by a case path (for ids written without a type).
pub fn searched_type(path: &str) -> Option<String> {
    let p = path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = p.split('/').filter(|s| !s.is_empty() && *s != "_search").collect();
    match segs.as_slice() {
        [t] | [_, _, t] => Some(t.to_string()),
        _ => None,
    }
}

pub fn case_path(case: &Value) -> &str {
    case["get"].as_str().or(case["post"].as_str()).unwrap_or("")
}

fn full_ids(v: Option<&Value>, ty: &Option<String>) -> Option<Vec<String>> {
    Some(
        v?.as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(|s| match (s.contains('/'), ty) {
                (false, Some(t)) => format!("{t}/{s}"),
                _ => s.to_string(),
            })
            .collect(),
    )
}

pub fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

/// Checks `got` against the case. `again` is a second run of the same case, needed when the
/// case has `groups` (the order within a group must not change between runs).
pub fn check(case: &Value, got: &Got, again: Option<&Got>) -> Result<(), String> {
    let ty = searched_type(case_path(case));
    let mut errs = Vec::new();
    if set(&got.matches).len() != got.matches.len() {
        errs.push(format!("duplicate matches: {:?}", got.matches));
    }
    if let Some(want) = full_ids(case.get("ids"), &ty) {
        if set(&want) != set(&got.matches) {
            errs.push(format!("matches {:?}, expected {:?}", set(&got.matches), set(&want)));
        }
    }
    if let Some(want) = full_ids(case.get("order"), &ty) {
        if want != got.matches {
            errs.push(format!("matches in order {:?}, expected {:?}", got.matches, want));
        }
    }
    if let Some(groups) = case["groups"].as_array() {
        let mut at = 0;
        for g in groups {
            let g = set(&full_ids(Some(g), &ty).unwrap_or_default());
            let end = (at + g.len()).min(got.matches.len());
            if set(&got.matches[at..end]) != g {
                errs.push(format!("matches {:?}: positions {at}..{end} are not the group {g:?}", got.matches));
                break;
            }
            at = end;
        }
        if at != got.matches.len() {
            errs.push(format!("matches {:?} has more than the groups", got.matches));
        }
        match again {
            Some(again) if again.matches != got.matches => errs.push(format!("not deterministic: {:?} then {:?}", got.matches, again.matches)),
            Some(_) => {}
            None => errs.push("a case with groups needs a second run".into()),
        }
    }
    for id in full_ids(case.get("contains"), &ty).unwrap_or_default() {
        if !got.matches.contains(&id) {
            errs.push(format!("{id} missing from matches {:?}", got.matches));
        }
    }
    for id in full_ids(case.get("excludes"), &ty).unwrap_or_default() {
        if got.matches.contains(&id) {
            errs.push(format!("{id} must not match; matches {:?}", got.matches));
        }
    }
    let paged = case["paged"].as_bool().unwrap_or(false);
    let want_inc = full_ids(case.get("includes"), &ty).unwrap_or_default();
    if set(&want_inc) != set(&got.includes) || (set(&got.includes).len() != got.includes.len() && !paged) {
        errs.push(format!("includes {:?}, expected {:?}", got.includes, set(&want_inc)));
    }
    let want_outcome = case["outcome"].as_bool().unwrap_or(false);
    if want_outcome && !got.outcome {
        errs.push("no search.mode=outcome entry reporting the ignored parameter".into());
    }
    if !want_outcome && got.outcome {
        errs.push(format!("unexpected report of ignored parameters: {:?}", got.outcome_text));
    }
    let first_total = got.totals.first().copied().flatten();
    if let Some(want) = case["total"].as_u64() {
        if first_total != Some(want) {
            errs.push(format!("total {first_total:?}, expected {want}"));
        }
    } else if case["no_total"].as_bool().unwrap_or(false) {
        if first_total.is_some() {
            errs.push(format!("total {first_total:?} present with _total=none"));
        }
    } else if let (Some(tot), true) = (first_total, case.get("ids").is_some() || case.get("order").is_some()) {
        if tot as usize != got.matches.len() {
            errs.push(format!("total {tot} but {} matches", got.matches.len()));
        }
    }
    if got.totals.iter().flatten().collect::<BTreeSet<_>>().len() > 1 {
        errs.push(format!("total changes between pages: {:?}", got.totals));
    }
    if let Some(size) = case["page_size"].as_u64() {
        let (size, n) = (size as usize, got.page_sizes.len());
        if got.page_sizes.iter().enumerate().any(|(i, s)| *s > size || (i + 1 < n && *s != size)) {
            errs.push(format!("page sizes {:?} with _count={size}", got.page_sizes));
        }
    }
    if let Some(rels) = case["second_page_links"].as_array() {
        let have = got.links.get(1).cloned().unwrap_or_default();
        for r in rels.iter().filter_map(Value::as_str) {
            if !have.iter().any(|h| h == r) {
                errs.push(format!("second page has links {have:?}, no '{r}'"));
            }
        }
    }
    for bad in case["self_lacks"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if got.self_link.contains(bad) {
            errs.push(format!("self link {:?} shows '{bad}', which was not applied", got.self_link));
        }
    }
    for good in case["self_has"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !got.self_link.contains(good) {
            errs.push(format!("self link {:?} does not show '{good}'", got.self_link));
        }
    }
    if case["includes_every_page"].as_bool().unwrap_or(false) && got.page_includes.iter().zip(&got.page_sizes).any(|(i, m)| *m > 0 && *i == 0) {
        errs.push(format!("a page with matches has no included resources: includes per page {:?}", got.page_includes));
    }
    if case["no_entries"].as_bool().unwrap_or(false) && !got.matches.is_empty() {
        errs.push(format!("entries {:?} with _summary=count", got.matches));
    }
    shaping(case, got, &mut errs);
    if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
}

/// `has`, `lacks` and `subsetted`: the bodies as shaped by `_summary`/`_elements` (checked
/// only where the caller has the bodies).
fn shaping(case: &Value, got: &Got, errs: &mut Vec<String>) {
    for r in &got.match_resources {
        let id = r["id"].as_str().unwrap_or("?");
        for k in case["has"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if r.get(k).is_none() {
                errs.push(format!("{id} lacks '{k}'"));
            }
        }
        for k in case["lacks"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if r.get(k).is_some() {
                errs.push(format!("{id} has '{k}'"));
            }
        }
        if case["subsetted"].as_bool().unwrap_or(false) {
            let tagged = r["meta"]["tag"].as_array().into_iter().flatten().any(|t| t["code"] == "SUBSETTED");
            if !tagged {
                errs.push(format!("{id} not tagged SUBSETTED"));
            }
        }
    }
}
