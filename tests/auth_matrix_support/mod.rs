//! The matrix's table runner: a cell (request and expected allow/deny), the checks of an
//! answer (leaks, denial form, Bundle entries), the snapshots of protected data taken
//! around each cell, and the runner that reports every failed cell.
#![allow(dead_code)]

use reqwest::Method;
use serde_json::{json, Value};

use crate::auth_leaks::*;
use crate::common::{self, Resp, TestServer};

// ---------------------------------------------------------------------------------------
// Cells
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub enum Body {
    None,
    Json(Value),
    Raw(&'static str, String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ent {
    Allow,
    Deny,
}

#[derive(Clone, Debug)]
pub enum Expect {
    /// One of these statuses (empty: any 2xx), plus the leak checks of the table.
    Allow(Vec<u16>),
    /// A denial with this status (401 or 403).
    Deny(u16),
    /// Exactly one of these statuses; leak checks when 2xx; denial form when 401/403.
    Status(Vec<u16>),
    /// A batch or transaction, one expectation per entry (see `check_bundle`).
    Bundle(Vec<Ent>),
}

#[derive(Clone, Debug)]
pub enum Extra {
    /// These `Type/id` appear as resources in the answer.
    Contains(Vec<String>),
    /// These `Type/id` do not appear as resources in the answer.
    Lacks(Vec<String>),
    /// `total`, when present (and all on one page), equals the number of matches in the page.
    TotalIsMatches,
    /// `total` equals the practitioner's `total` for this query.
    TotalAsPractitioner(String),
    /// Every resource in the answer (except OperationOutcome / Bundle) is of these types.
    OnlyTypes(Vec<&'static str>),
    /// These paths read the same (status, ETag, body) by a practitioner before and after.
    Unchanged(Vec<String>),
}

#[derive(Clone, Debug)]
pub struct Cell {
    pub name: String,
    pub method: Method,
    pub path: String,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
    pub expect: Expect,
    pub extra: Vec<Extra>,
}

impl Cell {
    pub fn new(name: impl Into<String>, method: Method, path: impl Into<String>) -> Cell {
        Cell { name: name.into(), method, path: path.into(), body: Body::None, headers: vec![], expect: Expect::Allow(vec![]), extra: vec![] }
    }
    pub fn get(name: impl Into<String>, path: impl Into<String>) -> Cell {
        Cell::new(name, Method::GET, path)
    }
    pub fn json(mut self, v: Value) -> Cell {
        self.body = Body::Json(v);
        self
    }
    pub fn jpatch(mut self, ops: Value) -> Cell {
        self.body = Body::Raw("application/json-patch+json", ops.to_string());
        self
    }
    pub fn header(mut self, k: &'static str, v: impl Into<String>) -> Cell {
        self.headers.push((k, v.into()));
        self
    }
    pub fn allow(mut self, codes: &[u16]) -> Cell {
        self.expect = Expect::Allow(codes.to_vec());
        self
    }
    pub fn deny(mut self) -> Cell {
        self.expect = Expect::Deny(403);
        self
    }
    pub fn unauth(mut self) -> Cell {
        self.expect = Expect::Deny(401);
        self
    }
    pub fn status(mut self, codes: &[u16]) -> Cell {
        self.expect = Expect::Status(codes.to_vec());
        self
    }
    /// Allowed with `codes` when `allowed`, else 403 (and the `unchanged` targets untouched).
    pub fn allow_if(self, allowed: bool, codes: &[u16], unchanged: &[&str]) -> Cell {
        if allowed {
            self.allow(codes)
        } else {
            self.deny().with(Extra::Unchanged(unchanged.iter().map(|s| s.to_string()).collect()))
        }
    }
    pub fn entries(mut self, e: &[Ent]) -> Cell {
        self.expect = Expect::Bundle(e.to_vec());
        self
    }
    pub fn with(mut self, e: Extra) -> Cell {
        self.extra.push(e);
        self
    }
    pub fn contains(self, ids: &[&str]) -> Cell {
        self.with(Extra::Contains(ids.iter().map(|s| s.to_string()).collect()))
    }
    pub fn lacks(self, ids: &[&str]) -> Cell {
        self.with(Extra::Lacks(ids.iter().map(|s| s.to_string()).collect()))
    }
    pub fn unchanged(self, paths: &[&str]) -> Cell {
        self.with(Extra::Unchanged(paths.iter().map(|s| s.to_string()).collect()))
    }
    pub fn describe(&self) -> String {
        let body = match &self.body {
            Body::None => String::new(),
            Body::Json(v) => format!(" body={}", v),
            Body::Raw(ct, b) => format!(" body({ct})={b}"),
        };
        format!("{} {}{}{}", self.method, if self.path.is_empty() { "/" } else { self.path.as_str() }, if self.headers.is_empty() { String::new() } else { format!(" headers={:?}", self.headers) }, body)
    }
}

// Bundle entries.
pub fn bundle(kind: &str, entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": kind, "entry": entries})
}
pub fn e_get(url: &str) -> Value {
    json!({"request": {"method": "GET", "url": url}})
}
pub fn e_head(url: &str) -> Value {
    json!({"request": {"method": "HEAD", "url": url}})
}
pub fn e_put(url: &str, res: Value) -> Value {
    json!({"resource": res, "request": {"method": "PUT", "url": url}})
}
pub fn e_post(url: &str, res: Value, full_url: Option<&str>) -> Value {
    let mut e = json!({"resource": res, "request": {"method": "POST", "url": url}});
    if let Some(f) = full_url {
        e["fullUrl"] = json!(f);
    }
    e
}
pub fn e_patch(url: &str, ops: Value) -> Value {
    let data = common::base64_encode(ops.to_string().as_bytes());
    json!({"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
        "request": {"method": "PATCH", "url": url}})
}
pub fn e_delete(url: &str) -> Value {
    json!({"request": {"method": "DELETE", "url": url}})
}
pub fn with_req(mut e: Value, k: &str, v: &str) -> Value {
    e["request"][k] = json!(v);
    e
}
pub fn status_op(v: &str) -> Value {
    json!([{"op": "replace", "path": "/status", "value": v}])
}
pub fn move_to_b() -> Value {
    json!([{"op": "replace", "path": "/subject/reference", "value": "Patient/B"}])
}

// ---------------------------------------------------------------------------------------
// What an answer may contain
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Substrings never in a body or a header.
    pub markers: Vec<&'static str>,
    /// `Type/id` never as a resource, nor referenced (outside OperationOutcomes and Bundle links).
    pub forbidden: Vec<&'static str>,
    /// Every resource returned lies in Patient A's compartment (and only there).
    pub confined_to_a: bool,
}

/// `Type/id` of the resources in an answer (no OperationOutcome, Bundle or Binary).
pub fn resource_ids(v: &Value) -> Vec<String> {
    let mut rs = Vec::new();
    resources(v, &mut rs);
    rs.into_iter()
        .filter(|r| !matches!(r["resourceType"].as_str(), Some("OperationOutcome" | "Bundle")))
        .map(rid)
        .collect()
}

/// Problems of an answer that is allowed to carry data.
pub fn leak_problems(r: &Resp, p: &Policy) -> Vec<String> {
    let markers: Vec<&str> = p.markers.iter().copied().chain(["_hearthBlob"]).collect();
    let mut out = surface_problems(r, &markers, &p.forbidden);
    if let Some(v) = r.try_json() {
        let mut rs = Vec::new();
        resources(&v, &mut rs);
        for res in &rs {
            let id = rid(res);
            if p.forbidden.contains(&id.as_str()) && res["resourceType"] != "OperationOutcome" {
                out.push(format!("resource {id} in the answer"));
            }
            if p.confined_to_a {
                if let Some(why) = outside_a(res) {
                    out.push(why);
                }
            }
        }
        forbidden_strings(&v, &p.forbidden, "$", &mut out);
    }
    out
}

/// Problems of a denial: status, OperationOutcome, WWW-Authenticate on 401, no version
/// headers, nothing of the protected data.
pub fn denial_problems(r: &Resp, status: u16, head: bool, p: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    if r.status != status {
        out.push(format!("expected {status}, got {}", r.status));
    }
    if !head {
        match r.try_json() {
            Some(v) if v["resourceType"] == "OperationOutcome" => {}
            _ => out.push("the denial is not an OperationOutcome".into()),
        }
    }
    if status == 401 && !r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")) {
        out.push(format!("no `WWW-Authenticate: Bearer` (got {:?})", r.header("www-authenticate")));
    }
    for h in ["etag", "location", "last-modified", "content-location"] {
        if let Some(v) = r.header(h) {
            out.push(format!("header {h}: {v} on a denial"));
        }
    }
    let text = r.text();
    let headers = format!("{:?}", r.headers);
    for m in p.markers.iter().chain(["_hearthBlob"].iter()) {
        if text.contains(m) || headers.contains(m) {
            out.push(format!("the denial leaks {m:?}"));
        }
    }
    out
}

pub fn entry_status(e: &Value) -> String {
    e["response"]["status"].as_str().unwrap_or("").to_string()
}

/// A batch: a whole-Bundle 403 (when some entry is denied), or 200 with each denied entry
/// `403...` and each allowed entry 2xx. A transaction with a denied entry: 403 as a whole;
/// without: 200 with 2xx entries.
pub fn check_bundle(r: &Resp, is_tx: bool, ents: &[Ent], p: &Policy) -> Vec<String> {
    let any_deny = ents.contains(&Ent::Deny);
    if any_deny && (r.status == 403 || is_tx) {
        return denial_problems(r, 403, false, p);
    }
    let mut out = Vec::new();
    if r.status != 200 {
        out.push(format!("expected 200{}, got {}", if any_deny { " or 403" } else { "" }, r.status));
        return out;
    }
    let v = r.try_json().unwrap_or(Value::Null);
    let want = if is_tx { "transaction-response" } else { "batch-response" };
    if v["type"] != want {
        out.push(format!("Bundle.type is {}, not {want}", v["type"]));
    }
    let entries = v["entry"].as_array().cloned().unwrap_or_default();
    if entries.len() != ents.len() {
        out.push(format!("{} response entries for {} request entries", entries.len(), ents.len()));
    }
    for (i, (e, x)) in entries.iter().zip(ents).enumerate() {
        let st = entry_status(e);
        match x {
            Ent::Allow if !st.starts_with('2') => out.push(format!("entry {i}: expected 2xx, got {st:?}")),
            Ent::Deny if !st.starts_with("403") => out.push(format!("entry {i}: expected 403, got {st:?}")),
            _ => {}
        }
    }
    out.extend(leak_problems(r, p));
    out
}

// ---------------------------------------------------------------------------------------
// Running a table
// ---------------------------------------------------------------------------------------

pub enum Guard {
    /// A read by the practitioner: status, ETag and body must not change.
    Read(String),
    /// A search by the practitioner: the matched `Type/id@version` must not change.
    Search(String),
}

pub struct Ctx<'a> {
    pub s: &'a TestServer,
    pub prac: String,
    pub policy: Policy,
    pub guards: Vec<Guard>,
    /// After a denial, the system history must not have grown (nothing written).
    pub count_writes: bool,
}

pub async fn send_cell(s: &TestServer, tok: Option<&str>, c: &Cell) -> Resp {
    let mut rb = s.req(c.method.clone(), &c.path).header("accept", "application/fhir+json");
    if let Some(t) = tok {
        rb = rb.bearer_auth(t);
    }
    match &c.body {
        Body::None => {}
        Body::Json(v) => rb = common::json_body(rb, v),
        Body::Raw(ct, b) => rb = rb.header("content-type", *ct).body(b.clone()),
    }
    for (k, v) in &c.headers {
        rb = rb.header(*k, v);
    }
    s.send(rb).await
}

pub async fn read_snapshot(s: &TestServer, prac: &str, path: &str) -> String {
    let r = prac_get(s, prac, path).await;
    format!("{} {:?} {}", r.status, r.header("etag"), r.text())
}

pub async fn search_snapshot(s: &TestServer, prac: &str, path: &str) -> String {
    let r = prac_get(s, prac, path).await;
    let v = r.try_json().unwrap_or(Value::Null);
    let mut ids: Vec<String> = v["entry"]
        .as_array()
        .map(|a| a.iter().map(|e| format!("{}@{}", rid(&e["resource"]), e["resource"]["meta"]["versionId"].as_str().unwrap_or("?"))).collect())
        .unwrap_or_default();
    ids.sort();
    format!("{} {}", r.status, ids.join(","))
}

pub async fn guard_snapshot(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for g in &ctx.guards {
        match g {
            Guard::Read(p) => out.push((p.clone(), read_snapshot(ctx.s, &ctx.prac, p).await)),
            Guard::Search(p) => out.push((p.clone(), search_snapshot(ctx.s, &ctx.prac, p).await)),
        }
    }
    out
}

pub fn total(v: &Value) -> Option<i64> {
    v.get("total").and_then(|t| t.to_string().parse().ok())
}

pub async fn extra_problems(ctx: &Ctx<'_>, r: &Resp, extra: &[Extra], before: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let v = r.try_json().unwrap_or(Value::Null);
    let ids = resource_ids(&v);
    let mut unchanged_i = 0;
    for x in extra {
        match x {
            Extra::Contains(want) => {
                for w in want {
                    if !ids.contains(w) {
                        out.push(format!("{w} missing from the answer (has {ids:?})"));
                    }
                }
            }
            Extra::Lacks(no) => {
                for w in no {
                    if ids.contains(w) {
                        out.push(format!("{w} is in the answer"));
                    }
                }
            }
            Extra::TotalIsMatches => {
                if let Some(t) = total(&v) {
                    if common::next_link(&v).is_none() {
                        let entries = v["entry"].as_array().cloned().unwrap_or_default();
                        let matches = entries
                            .iter()
                            .filter(|e| e["search"]["mode"] == "match" || (e["search"]["mode"].is_null() && e["resource"]["resourceType"] != "OperationOutcome"))
                            .count() as i64;
                        if t != matches {
                            out.push(format!("total {t} but {matches} matches on the (only) page"));
                        }
                    }
                }
            }
            Extra::TotalAsPractitioner(q) => {
                let pr = prac_get(ctx.s, &ctx.prac, q).await;
                let want = total(&pr.try_json().unwrap_or(Value::Null));
                if total(&v) != want {
                    out.push(format!("total {:?}, expected {want:?} (the practitioner's total of {q})", total(&v)));
                }
            }
            Extra::OnlyTypes(types) => {
                for id in &ids {
                    let t = id.split('/').next().unwrap_or("");
                    if !types.contains(&t) && t != "CapabilityStatement" {
                        out.push(format!("{id} is of a type outside {types:?}"));
                    }
                }
            }
            Extra::Unchanged(paths) => {
                for p in paths {
                    let now = read_snapshot(ctx.s, &ctx.prac, p).await;
                    let was = &before[unchanged_i].1;
                    if &now != was {
                        out.push(format!("{p} changed:\n   before: {}\n   after:  {}", common::truncate(was, 400), common::truncate(&now, 400)));
                    }
                    unchanged_i += 1;
                }
            }
        }
    }
    out
}

/// Runs every cell; returns one line per failed cell.
pub async fn run_table(ctx: &Ctx<'_>, table: &str, tok: Option<&str>, cells: &[Cell]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cells {
        let guarded = !ctx.guards.is_empty();
        let before = if guarded { guard_snapshot(ctx).await } else { vec![] };
        let hist_before = if ctx.count_writes { Some(history_count(ctx.s, &ctx.prac).await) } else { None };
        let mut unchanged_before = Vec::new();
        for x in &c.extra {
            if let Extra::Unchanged(paths) = x {
                for p in paths {
                    unchanged_before.push((p.clone(), read_snapshot(ctx.s, &ctx.prac, p).await));
                }
            }
        }
        let r = send_cell(ctx.s, tok, c).await;
        let head = c.method == Method::HEAD;
        let mut problems = match &c.expect {
            Expect::Allow(codes) => {
                let mut p = Vec::new();
                let ok = if codes.is_empty() { (200..300).contains(&r.status) } else { codes.contains(&r.status) };
                if !ok {
                    p.push(format!("expected {}, got {}", if codes.is_empty() { "2xx".to_string() } else { format!("{codes:?}") }, r.status));
                }
                p.extend(leak_problems(&r, &ctx.policy));
                p
            }
            Expect::Deny(st) => denial_problems(&r, *st, head, &ctx.policy),
            Expect::Status(codes) => {
                let mut p = Vec::new();
                if !codes.contains(&r.status) {
                    p.push(format!("expected one of {codes:?}, got {}", r.status));
                }
                if r.status == 401 || r.status == 403 {
                    p.extend(denial_problems(&r, r.status, head, &ctx.policy));
                } else {
                    p.extend(leak_problems(&r, &ctx.policy));
                }
                p
            }
            Expect::Bundle(ents) => {
                let is_tx = matches!(&c.body, Body::Json(b) if b["type"] == "transaction");
                check_bundle(&r, is_tx, ents, &ctx.policy)
            }
        };
        problems.extend(extra_problems(ctx, &r, &c.extra, &unchanged_before).await);
        if guarded {
            let after = guard_snapshot(ctx).await;
            for ((p, b), (_, a)) in before.iter().zip(&after) {
                if b != a {
                    problems.push(format!("protected {p} changed:\n   before: {}\n   after:  {}", common::truncate(b, 400), common::truncate(a, 400)));
                }
            }
        }
        if let Some(hb) = hist_before {
            if r.status == 401 || r.status == 403 {
                let ha = history_count(ctx.s, &ctx.prac).await;
                if ha != hb {
                    problems.push(format!("a denial wrote: system history {hb} -> {ha} versions"));
                }
            }
        }
        if problems.is_empty() {
            eprintln!("ok   [{table}] {}", c.name);
        } else {
            let line = format!(
                "FAIL [{table}] {}\n   request: {}\n   answer: {} {}\n   - {}",
                c.name,
                common::truncate(&c.describe(), 600),
                r.status,
                common::truncate(&r.text(), 700),
                problems.join("\n   - ")
            );
            eprintln!("{line}");
            failures.push(line);
        }
    }
    failures
}

pub fn finish(table: &str, cells: usize, failures: Vec<String>) {
    eprintln!("[{table}] {} of {cells} cells failed", failures.len());
    assert!(failures.is_empty(), "[{table}] {} of {cells} cells failed:\n{}", failures.len(), failures.join("\n"));
}

pub fn b_guards() -> Vec<Guard> {
    let mut g: Vec<Guard> = B_IDS.iter().map(|p| Guard::Read(format!("/{p}"))).collect();
    g.push(Guard::Read("/Observation/oA-hist/_history/1".into()));
    g.push(Guard::Search("/Observation/oB/_history".into()));
    for q in [
        "/Patient?_count=500",
        "/Observation?subject=Patient/B&_count=500",
        "/Observation?performer=Patient/B&_count=500",
        "/Condition?subject=Patient/B&_count=500",
        "/Encounter?subject=Patient/B&_count=500",
        "/Claim?patient=Patient/B&_count=500",
        "/List?_count=500",
    ] {
        g.push(Guard::Search(q.into()));
    }
    g
}

pub fn all_guards() -> Vec<Guard> {
    let mut g = b_guards();
    g.extend(crate::A_IDS.iter().map(|p| Guard::Read(format!("/{p}"))));
    g.push(Guard::Search("/Observation?_count=500".into()));
    g
}
