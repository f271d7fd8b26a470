//! The search conformance suite: data-driven cases (`tests/search/cases.json`) over a fixed
//! set of resources (`tests/search/resources.json`), run over HTTP only, so any backend behind
//! the FHIR API runs them unchanged.
//!
//! By default a fresh embedded server is started. Set `SEARCH_CONFORMANCE_BASE` (for example
//! `http://127.0.0.1:8080/fhir`) to run the same cases against a server that is already running
//! (its data must not contain other resources of the types used here).
//!
//! Case fields (all optional but `name` and one of `get` / `post`):
//! - `get`: `Type?query`, `?query` (system level), `Patient/p1/Observation?query` (compartment);
//!   `post`: `Type/_search[?query]` or `_search` with a form `body`; `headers`: extra headers.
//! - `status` (default 200; a 4xx must come with an OperationOutcome).
//! - `ids`: the matches as a set; `order`: the matches in this order; `groups`: ordered groups
//!   of ids (any order inside a group, the same order on a second run); `contains` / `excludes`.
//!   Ids without `/` are of the searched type. `{base}` in a path is the server's FHIR base URL.
//! - `includes`: the `search.mode = include` entries as a set (none when absent);
//!   `includes_every_page`: each page with matches carries its included resources.
//! - `total` (exact), `no_total` (absent); otherwise a present total must equal the matches.
//! - `paged` + `page_size`: follow `next` links to the end, no page bigger than `page_size`.
//! - `outcome`: an entry with `search.mode = outcome` is required (forbidden when absent).
//! - `no_entries`: no match entries; `has` / `lacks`: top-level elements each match must (not)
//!   have; `subsetted`: each match is tagged SUBSETTED.
//! - `known_failure`: reason; the case is expected to fail (and errors when it passes).
mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use common::*;
use serde_json::Value;

struct Target {
    base: String,
    client: reqwest::Client,
    _server: Option<TestServer>,
}

impl Target {
    fn start() -> Target {
        match std::env::var("SEARCH_CONFORMANCE_BASE") {
            Ok(base) if !base.is_empty() => Target {
                base: base.trim_end_matches('/').to_string(),
                client: reqwest::Client::builder().no_proxy().build().expect("client"),
                _server: None,
            },
            _ => {
                let s = TestServer::start();
                Target { base: s.base.clone(), client: s.client.clone(), _server: Some(s) }
            }
        }
    }

    async fn send(&self, rb: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), String> {
        let resp = rb.header("accept", FHIR_JSON).send().await.map_err(|e| format!("HTTP error: {e}"))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| format!("reading body: {e}"))?;
        Ok((status, body.to_vec()))
    }
}

fn load_json(name: &str) -> Value {
    let path = format!("{}/tests/search/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {path}: {e}"))
}

/// The resource type searched by a case path (for ids written without a type).
fn searched_type(path: &str) -> Option<String> {
    let p = path.split('?').next().unwrap_or("");
    let segs: Vec<&str> = p.split('/').filter(|s| !s.is_empty() && *s != "_search").collect();
    match segs.as_slice() {
        [t] | [_, _, t] => Some(t.to_string()),
        _ => None,
    }
}

fn full_ids(v: Option<&Value>, ty: &Option<String>) -> Option<Vec<String>> {
    let arr = v?.as_array()?;
    Some(
        arr.iter()
            .map(|x| {
                let s = x.as_str().expect("ids are strings");
                match (s.contains('/'), ty) {
                    (false, Some(t)) => format!("{t}/{s}"),
                    _ => s.to_string(),
                }
            })
            .collect(),
    )
}

fn entry_id(e: &Value) -> String {
    let r = &e["resource"];
    format!("{}/{}", r["resourceType"].as_str().unwrap_or("?"), r["id"].as_str().unwrap_or("?"))
}

/// What one search returned (all pages when paged).
#[derive(Default)]
struct Got {
    matches: Vec<String>,
    match_resources: Vec<Value>,
    includes: Vec<String>,
    outcomes: usize,
    outcome_text: Vec<String>,
    /// Link relations of each page.
    links: Vec<Vec<String>>,
    self_links: Vec<String>,
    totals: Vec<Option<u64>>,
    page_sizes: Vec<usize>,
    page_includes: Vec<usize>,
}

async fn run_search(t: &Target, case: &Value) -> Result<(u16, Got, String), String> {
    let headers: Vec<(String, String)> = case["headers"]
        .as_object()
        .map(|h| h.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default();
    let url_of = |p: &str| {
        let p = p.replace("{base}", &t.base);
        if p.starts_with('?') { format!("{}{p}", t.base) } else { format!("{}/{p}", t.base) }
    };
    let (mut rb, shown) = if let Some(p) = case["get"].as_str() {
        (t.client.get(url_of(p)), format!("GET {p}"))
    } else if let Some(p) = case["post"].as_str() {
        let body = case["body"].as_str().unwrap_or("").to_string();
        let rb = t.client.post(url_of(p)).header("content-type", "application/x-www-form-urlencoded").body(body.clone());
        (rb, format!("POST {p} [{body}]"))
    } else {
        return Err("case has neither get nor post".into());
    };
    for (k, v) in &headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    let (status, body) = t.send(rb).await?;
    let mut got = Got::default();
    if status != 200 {
        return Ok((status, got, String::from_utf8_lossy(&body).into_owned()));
    }
    let mut bundle: Value = serde_json::from_slice(&body).map_err(|e| format!("{shown}: body is not JSON: {e}"))?;
    let paged = case["paged"].as_bool().unwrap_or(false);
    let mut pages = 0;
    loop {
        pages += 1;
        if bundle["resourceType"] != "Bundle" || bundle["type"] != "searchset" {
            return Err(format!("not a searchset Bundle: {}", truncate(&bundle.to_string(), 300)));
        }
        got.totals.push(bundle.get("total").and_then(Value::as_u64));
        let links = bundle["link"].as_array().cloned().unwrap_or_default();
        got.links.push(links.iter().filter_map(|l| l["relation"].as_str().map(str::to_string)).collect());
        if let Some(s) = links.iter().find(|l| l["relation"] == "self").and_then(|l| l["url"].as_str()) {
            got.self_links.push(s.to_string());
        }
        let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
        let mut n = 0;
        let mut page_includes = 0;
        for e in &entries {
            match e["search"]["mode"].as_str() {
                Some("match") => {
                    n += 1;
                    got.matches.push(entry_id(e));
                    got.match_resources.push(e["resource"].clone());
                }
                Some("include") => {
                    got.includes.push(entry_id(e));
                    page_includes += 1;
                }
                Some("outcome") => {
                    check_outcome(&e["resource"]).map_err(|m| format!("outcome entry: {m}"))?;
                    got.outcomes += 1;
                    for i in e["resource"]["issue"].as_array().into_iter().flatten() {
                        got.outcome_text.push(i["diagnostics"].as_str().unwrap_or("").to_string());
                    }
                }
                other => return Err(format!("entry {} has search.mode {other:?}", entry_id(e))),
            }
        }
        got.page_sizes.push(n);
        got.page_includes.push(page_includes);
        let next = if paged { next_link(&bundle) } else { None };
        let Some(next) = next else { break };
        if pages > 200 {
            return Err("more than 200 pages: the next links do not end".into());
        }
        let (st, b) = t.send(t.client.get(&next)).await?;
        if st != 200 {
            return Err(format!("next link {next} gave {st}: {}", truncate(&String::from_utf8_lossy(&b), 300)));
        }
        bundle = serde_json::from_slice(&b).map_err(|e| format!("next page is not JSON: {e}"))?;
    }
    Ok((status, got, String::new()))
}

fn set(v: &[String]) -> BTreeSet<String> {
    v.iter().cloned().collect()
}

async fn check_case(t: &Target, case: &Value) -> Result<(), String> {
    let path = case["get"].as_str().or(case["post"].as_str()).unwrap_or("");
    let ty = searched_type(path);
    let want_status = case["status"].as_u64().unwrap_or(200) as u16;
    let (status, got, err_body) = run_search(t, case).await?;
    if status != want_status {
        return Err(format!("status {status}, expected {want_status}; body: {}", truncate(&err_body, 400)));
    }
    if status != 200 {
        let v: Value = serde_json::from_str(&err_body).map_err(|_| format!("{status} body is not JSON: {}", truncate(&err_body, 200)))?;
        return check_outcome(&v).map_err(|m| format!("{status} without a proper OperationOutcome: {m}"));
    }
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
        let (_, again, _) = run_search(t, case).await?;
        if again.matches != got.matches {
            errs.push(format!("not deterministic: {:?} then {:?}", got.matches, again.matches));
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
    let want_inc = full_ids(case.get("includes"), &ty).unwrap_or_default();
    let inc_dups = set(&got.includes).len() != got.includes.len() && !case["paged"].as_bool().unwrap_or(false);
    if set(&want_inc) != set(&got.includes) || inc_dups {
        errs.push(format!("includes {:?}, expected {:?}", got.includes, set(&want_inc)));
    }
    let want_outcome = case["outcome"].as_bool().unwrap_or(false);
    if want_outcome && got.outcomes == 0 {
        errs.push("no search.mode=outcome entry reporting the ignored parameter".into());
    }
    if !want_outcome && got.outcomes > 0 {
        errs.push(format!("unexpected search.mode=outcome entry: {:?}", got.outcome_text));
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
        let size = size as usize;
        let n = got.page_sizes.len();
        for (i, s) in got.page_sizes.iter().enumerate() {
            if *s > size || (i + 1 < n && *s != size) {
                errs.push(format!("page sizes {:?} with _count={size}", got.page_sizes));
                break;
            }
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
        if got.self_links.first().is_some_and(|s| s.contains(bad)) {
            errs.push(format!("self link {:?} shows '{bad}', which was not applied", got.self_links.first()));
        }
    }
    for good in case["self_has"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !got.self_links.first().is_some_and(|s| s.contains(good)) {
            errs.push(format!("self link {:?} does not show '{good}'", got.self_links.first()));
        }
    }
    if case["includes_every_page"].as_bool().unwrap_or(false) && got.page_includes.iter().zip(&got.page_sizes).any(|(i, m)| *m > 0 && *i == 0) {
        errs.push(format!("a page with matches has no included resources: includes per page {:?}", got.page_includes));
    }
    if case["no_entries"].as_bool().unwrap_or(false) && !got.matches.is_empty() {
        errs.push(format!("entries {:?} with _summary=count", got.matches));
    }
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
    if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_conformance() {
    let t = Target::start();
    let started = Instant::now();
    let resources = load_json("resources.json");
    for r in resources.as_array().expect("resources.json is an array") {
        let (ty, id) = (r["resourceType"].as_str().expect("type"), r["id"].as_str().expect("id"));
        let rb = t.client.put(format!("{}/{ty}/{id}", t.base)).header("content-type", FHIR_JSON).body(r.to_string());
        let (st, body) = t.send(rb).await.expect("PUT");
        assert!(st == 200 || st == 201, "PUT {ty}/{id}: {st} {}", truncate(&String::from_utf8_lossy(&body), 800));
    }
    let cases = load_json("cases.json");
    let cases = cases.as_array().expect("cases.json is an array");
    let mut names = HashMap::new();
    let (mut passed, mut failed, mut known, mut unexpected_pass) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for case in cases {
        let name = case["name"].as_str().expect("case name").to_string();
        assert!(names.insert(name.clone(), ()).is_none(), "duplicate case name {name}");
        let query = case["get"].as_str().map(|g| format!("GET {g}")).unwrap_or_else(|| {
            format!("POST {} [{}]", case["post"].as_str().unwrap_or(""), case["body"].as_str().unwrap_or(""))
        });
        let result = check_case(&t, case).await;
        match (result, case["known_failure"].as_str()) {
            (Ok(()), None) => passed.push(name),
            (Ok(()), Some(why)) => unexpected_pass.push(format!("{name} | {query} | known_failure: {why}")),
            (Err(e), None) => failed.push(format!("{name} | {query} | {e}")),
            (Err(e), Some(why)) => known.push(format!("{name} | {query} | {why} | {e}")),
        }
    }
    eprintln!("search conformance: {} cases in {:.1}s: {} passed, {} failed, {} known failures, {} known failures that passed",
        cases.len(), started.elapsed().as_secs_f64(), passed.len(), failed.len(), known.len(), unexpected_pass.len());
    for k in &known {
        eprintln!("KNOWN FAILURE: {k}");
    }
    for f in &failed {
        eprintln!("FAILED: {f}");
    }
    for u in &unexpected_pass {
        eprintln!("PASSED BUT MARKED known_failure (remove the mark): {u}");
    }
    assert!(failed.is_empty() && unexpected_pass.is_empty(),
        "{} search conformance cases failed and {} known failures passed (see the lines above)", failed.len(), unexpected_pass.len());
}
