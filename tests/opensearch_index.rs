//! The OpenSearch `SearchIndex` adapter against a server speaking the OpenSearch REST API:
//! `osmem-server` (in memory, started here; `OSMEM_SERVER_BIN` or the `.cache/venv-moto`
//! virtualenv that `scripts/test.sh` creates), or a real cluster when `OPENSEARCH_URL` is set.
//!
//! - `conformance_cases`: every case of `tests/search/cases.json` over the resources of
//!   `tests/search/resources.json`, indexed directly, searched through the service layer's
//!   search (`interactions::search`, the same parsing as the server) with the index as port.
//! - paging with `search_after` under `_sort`, checked against the SQLite adapter's order;
//!   versions (older never overwrites newer), removal, tenants, per-item bulk results, caps.
#![cfg(feature = "aws")]
#[path = "search/checks.rs"]
mod checks;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use hearth::error::FhirError;
use hearth::fhir::definitions::Definitions;
use hearth::interactions::search::{search as fhir_search, Paging};
use hearth::interactions::Fhir;
use hearth::persistence::blob::FsBlobStore;
use hearth::persistence::sqlite::SqliteStore;
use hearth::persistence::{Expect, Method, ResourceStore, StoredVersion, WriteOp};
use hearth::search::compartment::Compartments;
use hearth::search::opensearch::OpenSearchIndex;
use hearth::search::query::{self, SearchQuery};
use hearth::search::schema::{Schema, SchemaCell};
use hearth::search::SearchIndex;
use serde_json::{json, Value};

use checks::{load_json, set, Got};

/// The FHIR base URL that `{base}` in a case stands for.
const BASE: &str = "http://localhost:8080/fhir";

struct Emulator {
    url: String,
    _child: Option<Child>,
}

/// One server per test process (nextest runs each test in its own process).
fn server_url() -> String {
    static EMU: OnceLock<Emulator> = OnceLock::new();
    EMU.get_or_init(|| {
        if let Ok(url) = std::env::var("OPENSEARCH_URL") {
            if !url.trim().is_empty() {
                return Emulator { url: url.trim().trim_end_matches('/').to_string(), _child: None };
            }
        }
        let bin = osmem_binary().unwrap_or_else(|| {
            panic!("osmem-server not found: run scripts/test.sh (it creates .cache/venv-moto), or set OSMEM_SERVER_BIN, or OPENSEARCH_URL for a real cluster")
        });
        let mut child = Command::new(&bin)
            .args(["-addr", "127.0.0.1:0", "-parent-pid", &std::process::id().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
        let stdout = child.stdout.take().expect("osmem stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("osmem-server ready line");
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("osmem-server said {line:?}: {e}"));
        let url = ready["url"].as_str().unwrap_or_else(|| panic!("no url in {line}")).to_string();
        // stdin stays open as long as this process lives: osmem exits when it closes.
        Emulator { url, _child: Some(child) }
    })
    .url
    .clone()
}

fn osmem_binary() -> Option<String> {
    if let Ok(b) = std::env::var("OSMEM_SERVER_BIN") {
        if std::path::Path::new(&b).is_file() {
            return Some(b);
        }
    }
    let lib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/venv-moto/lib");
    for entry in std::fs::read_dir(lib).ok()?.flatten() {
        let bin = entry.path().join("site-packages/osmem_server/bin/osmem-server");
        if bin.is_file() {
            return Some(bin.to_string_lossy().into_owned());
        }
    }
    None
}

fn schema() -> Arc<SchemaCell> {
    Arc::new(SchemaCell::new(Schema::build(Definitions::r4(), &[]).expect("schema")))
}

/// An index with a prefix unique to this test and process.
fn index(test: &str, schema: Arc<SchemaCell>) -> OpenSearchIndex {
    let prefix = format!("hearth-it-{}-{test}", std::process::id());
    OpenSearchIndex::new(&server_url(), &prefix, schema).expect("index")
}

/// A version of `resource` as the store would hand it over (id and meta stamped in).
fn version(resource: &Value, version: u64, last_updated: i64) -> StoredVersion {
    let mut r = resource.clone();
    let meta = r.as_object_mut().expect("object").entry("meta").or_insert_with(|| json!({}));
    meta["versionId"] = json!(version.to_string());
    meta["lastUpdated"] = json!(hearth::fhir::meta::instant(last_updated));
    StoredVersion {
        resource_type: r["resourceType"].as_str().expect("type").to_string(),
        id: r["id"].as_str().expect("id").to_string(),
        version,
        last_updated,
        method: Method::Put,
        created: version == 1,
        body: Some(Bytes::from(serde_json::to_vec(&r).expect("json"))),
    }
}

fn deleted(resource_type: &str, id: &str, version: u64, last_updated: i64) -> StoredVersion {
    StoredVersion { resource_type: resource_type.into(), id: id.into(), version, last_updated, method: Method::Delete, created: false, body: None }
}

async fn apply_ok(idx: &OpenSearchIndex, tenant: &str, versions: &[StoredVersion]) {
    let results = idx.apply(tenant, versions).await.expect("bulk");
    assert_eq!(results.len(), versions.len());
    for (v, r) in versions.iter().zip(results) {
        if let Err(e) = r {
            panic!("{}/{} v{}: {e}", v.resource_type, v.id, v.version);
        }
    }
    idx.refresh(tenant).await.expect("refresh");
}

fn parse_query(idx_schema: &SchemaCell, types: &[&str], qs: &str) -> SearchQuery {
    let params: Vec<(String, String)> = form_urlencoded::parse(qs.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    query::parse(&idx_schema.get().registry, types.iter().map(|t| t.to_string()).collect(), &params, true).expect("query")
}

/// `Type/id@version` of every match (one page of up to 1000).
async fn find(idx: &OpenSearchIndex, schema: &SchemaCell, tenant: &str, ty: &str, qs: &str) -> Vec<String> {
    let page = idx.search(tenant, parse_query(schema, &[ty], qs), 1000).await.expect("search");
    page.matches.iter().map(|v| format!("{}/{}@{}", v.resource_type, v.id, v.version)).collect()
}

// ---------------------------------------------------------------------------------------
// The conformance cases
// ---------------------------------------------------------------------------------------

fn key(v: &StoredVersion) -> String {
    format!("{}/{}", v.resource_type, v.id)
}

/// Runs a case through the service layer's search, following `next` as the server's links
/// do (the applied parameters plus `_cursor`). `Err((status, message))` for a refused search.
async fn run_case(fhir: &Fhir, tenant: &str, case: &Value) -> Result<Got, (u16, String)> {
    let (path, body) = match (case["get"].as_str(), case["post"].as_str()) {
        (Some(g), _) => (g.replace("{base}", BASE), None),
        (_, Some(p)) => (p.to_string(), case["body"].as_str().map(str::to_string)),
        _ => return Err((0, "case has neither get nor post".into())),
    };
    let (route, qs) = path.split_once('?').unwrap_or((path.as_str(), ""));
    let mut params: Vec<(String, String)> = form_urlencoded::parse(qs.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if let Some(b) = body {
        params.extend(form_urlencoded::parse(b.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }
    let strict = case["headers"]["prefer"].as_str().is_some_and(|p| p.replace(' ', "").contains("handling=strict"));
    let segs: Vec<&str> = route.split('/').filter(|s| !s.is_empty() && *s != "_search").collect();
    let (types, compartment) = match segs.as_slice() {
        [] => (Vec::new(), None),
        [t] => (vec![t.to_string()], None),
        [ct, cid, t] => (vec![t.to_string()], Some((*ct, *cid))),
        _ => return Err((0, format!("unexpected path {route}"))),
    };
    let paging = Paging { default: 50, max: 1000 };
    let paged = case["paged"].as_bool().unwrap_or(false);
    let mut got = Got::default();
    let mut pages = 0;
    loop {
        pages += 1;
        let (q, page) = fhir_search(fhir, tenant, types.clone(), &params, strict, paging, compartment).await.map_err(|e| (e.status(), e.to_string()))?;
        if pages == 1 {
            got.outcome = !q.ignored.is_empty();
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &q.applied {
                ser.append_pair(k, v);
            }
            got.self_link = ser.finish();
        }
        let mut rels = vec!["self".to_string()];
        if q.cursor.is_some() {
            rels.push("first".into());
        }
        if page.previous.is_some() {
            rels.push("previous".into());
        }
        if page.next.is_some() {
            rels.push("next".into());
        }
        got.links.push(rels);
        got.totals.push(page.total);
        got.page_sizes.push(page.matches.len());
        got.page_includes.push(page.included.len());
        got.matches.extend(page.matches.iter().map(key));
        got.includes.extend(page.included.iter().map(key));
        match (&page.next, paged) {
            (Some(next), true) => {
                if pages > 200 {
                    return Err((0, "more than 200 pages".into()));
                }
                params = q.applied.clone();
                params.push(("_cursor".into(), next.clone()));
            }
            _ => break,
        }
    }
    Ok(got)
}

/// The checks of `tests/search_conformance.rs` (`search/checks.rs`), on the index's answers.
/// `has`, `lacks` and `subsetted` are the HTTP layer's shaping of bodies (`_summary`,
/// `_elements`), not the index's: no bodies are collected here, so they are left to that suite.
async fn check_case(fhir: &Fhir, tenant: &str, case: &Value) -> Result<(), String> {
    let want_status = case["status"].as_u64().unwrap_or(200) as u16;
    let got = match run_case(fhir, tenant, case).await {
        Ok(g) if want_status == 200 => g,
        Ok(_) => return Err(format!("status 200, expected {want_status}")),
        Err((status, msg)) if status == want_status => return if status >= 400 && !msg.is_empty() { Ok(()) } else { Err(msg) },
        Err((status, msg)) => return Err(format!("status {status}, expected {want_status}: {msg}")),
    };
    let again = match case.get("groups") {
        Some(_) => Some(run_case(fhir, tenant, case).await.map_err(|e| e.1)?),
        None => None,
    };
    checks::check(case, &got, again.as_ref())
}

fn fhir_with(index: Arc<OpenSearchIndex>, schema: Arc<SchemaCell>, dir: &std::path::Path) -> Fhir {
    let defs = Definitions::r4();
    Fhir {
        store: Arc::new(SqliteStore::open(&dir.join("db"), "normal", None).expect("store")),
        search: index,
        schema,
        compartments: Arc::new(Compartments::from_definitions(defs).expect("compartments")),
        blobs: Arc::new(FsBlobStore::open(&dir.join("blobs")).expect("blobs")),
        defs,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_cases() {
    let schema = schema();
    let idx = Arc::new(index("conf", schema.clone()));
    let tenant = "conformance";
    idx.ensure_index(tenant).await.expect("index");
    let resources = load_json("resources.json");
    let start = 1_700_000_000_000_000i64;
    let versions: Vec<StoredVersion> =
        resources.as_array().expect("array").iter().enumerate().map(|(i, r)| version(r, 1, start + i as i64 * 1_000_000)).collect();
    apply_ok(&idx, tenant, &versions).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let fhir = fhir_with(idx.clone(), schema, dir.path());
    let cases = load_json("cases.json");
    let cases = cases.as_array().expect("cases");
    let (mut passed, mut failed, mut known, mut unexpected) = (0, Vec::new(), Vec::new(), Vec::new());
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let shown = case["get"].as_str().map(|g| format!("GET {g}")).unwrap_or_else(|| format!("POST {} [{}]", case["post"], case["body"]));
        match (check_case(&fhir, tenant, case).await, case["known_failure"].as_str()) {
            (Ok(()), None) => passed += 1,
            (Ok(()), Some(why)) => unexpected.push(format!("{name} | {shown} | known_failure: {why}")),
            (Err(e), None) => failed.push(format!("{name} | {shown} | {e}")),
            (Err(e), Some(why)) => known.push(format!("{name} | {shown} | {why} | {e}")),
        }
    }
    eprintln!("opensearch conformance: {} cases: {passed} passed, {} failed, {} known failures, {} known failures that passed",
        cases.len(), failed.len(), known.len(), unexpected.len());
    for k in &known {
        eprintln!("KNOWN FAILURE: {k}");
    }
    for f in &failed {
        eprintln!("FAILED: {f}");
    }
    for u in &unexpected {
        eprintln!("PASSED BUT MARKED known_failure: {u}");
    }
    let _ = idx.drop_index(tenant).await;
    assert!(failed.is_empty() && unexpected.is_empty(), "{} cases failed on the OpenSearch index (see above)", failed.len());
}

// ---------------------------------------------------------------------------------------
// Paging, versions, removal, tenants
// ---------------------------------------------------------------------------------------

/// Observations with repeated, missing and multiple values, written through the SQLite store
/// (whose versions are then indexed as they are), so the SQLite adapter gives the expected
/// order: both break ties the same way (creation order = id order here).
async fn paging_fixture(idx: &OpenSearchIndex, tenant: &str, schema: Arc<SchemaCell>, dir: &std::path::Path) -> SqliteStore {
    let store = SqliteStore::open(dir, "normal", Some(schema)).expect("sqlite");
    let mut ops = Vec::new();
    for i in 0..123u32 {
        let status = ["final", "amended", "preliminary"][(i % 3) as usize];
        let mut o = json!({"resourceType": "Observation", "id": format!("obs-{i:03}"), "status": status,
            "code": {"coding": [{"system": "http://loinc.org", "code": format!("c{}", i % 4)}]},
            "subject": {"reference": format!("Patient/p{}", i % 6)}});
        if i % 10 != 0 {
            o["effectiveDateTime"] = json!(format!("2024-0{}-{:02}", 1 + i % 7, 1 + i % 9));
        }
        if i % 11 != 0 {
            o["valueQuantity"] = json!({"value": (i % 13) as f64 * 1.5 - 4.0, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"});
        }
        if i % 5 == 0 {
            // A second coding: several values of one parameter (MIN ascending, MAX descending).
            o["code"]["coding"].as_array_mut().unwrap().push(json!({"system": "http://x", "code": format!("z{}", i % 3)}));
        }
        ops.push(WriteOp { resource_type: "Observation".into(), id: format!("obs-{i:03}"), expect: Expect::Any, method: Method::Put, resource: Some(o) });
    }
    let results = store.commit(hearth::TENANT, ops).await.expect("commit");
    let versions: Vec<StoredVersion> = results.into_iter().filter_map(|r| r.version).collect();
    apply_ok(idx, tenant, &versions).await;
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_with_sort_returns_every_match_once_in_sqlite_order() {
    let schema = schema();
    let idx = index("paging", schema.clone());
    let tenant = "paging";
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = paging_fixture(&idx, tenant, schema.clone(), dir.path()).await;
    for qs in ["_sort=date", "_sort=-date", "_sort=value-quantity", "_sort=-value-quantity,date", "_sort=code,-date", "_sort=-code", "_sort=subject,_id",
        "_sort=status,-_lastUpdated", "_sort=-_id", "", "status=final&_sort=-date", "_sort=performer"]
    {
        let q = parse_query(&schema, &["Observation"], qs);
        let expected: Vec<String> = sqlite.search(hearth::TENANT, q.clone(), 1000).await.expect("sqlite").matches.iter().map(key).collect();
        let expected = if qs.contains("_sort") { expected } else { { let mut e = expected; e.sort(); e } };
        // Forward, 7 per page.
        let mut pages: Vec<Vec<String>> = Vec::new();
        let mut cursor: Option<String> = None;
        let last = loop {
            let mut q = q.clone();
            q.cursor = cursor.clone();
            let page = idx.search(tenant, q, 7).await.unwrap_or_else(|e| panic!("{qs}: {e}"));
            assert_eq!(page.total, Some(expected.len() as u64), "{qs}: total");
            assert!(page.matches.len() <= 7);
            assert_eq!(page.previous.is_some(), cursor.is_some(), "{qs}: previous link");
            pages.push(page.matches.iter().map(key).collect());
            match page.next {
                Some(n) => cursor = Some(n),
                None => break page.previous,
            }
            assert!(pages.len() < 100, "{qs}: paging does not end");
        };
        let all: Vec<String> = pages.concat();
        assert_eq!(set(&all).len(), all.len(), "{qs}: a match repeated");
        assert_eq!(all, expected, "{qs}: order differs from the SQLite adapter");
        // Backward from the last page through the previous links.
        let mut back: Vec<Vec<String>> = vec![pages.last().cloned().unwrap_or_default()];
        let mut prev = last;
        while let Some(p) = prev {
            let mut q = q.clone();
            q.cursor = Some(p);
            let page = idx.search(tenant, q, 7).await.unwrap_or_else(|e| panic!("{qs} backward: {e}"));
            assert!(page.next.is_some(), "{qs}: a previous page links forward");
            back.push(page.matches.iter().map(key).collect());
            prev = page.previous;
            assert!(back.len() <= pages.len(), "{qs}: more pages backward than forward");
        }
        back.reverse();
        assert_eq!(back.concat(), expected, "{qs}: the previous links do not walk back over the same matches");
    }
    // A cursor of one sort is refused by another.
    let mut q = parse_query(&schema, &["Observation"], "_sort=date");
    let next = idx.search(tenant, q.clone(), 5).await.expect("page").next.expect("next");
    q = parse_query(&schema, &["Observation"], "_sort=-date");
    q.cursor = Some(next);
    assert!(matches!(idx.search(tenant, q, 5).await, Err(FhirError::BadRequest(_))));
    let _ = idx.drop_index(tenant).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_versions_never_overwrite_newer_ones_and_deletions_hold() {
    let schema = schema();
    let idx = index("versions", schema.clone());
    let t = "versions";
    let p = |family: &str| json!({"resourceType": "Patient", "id": "p1", "name": [{"family": family}]});
    apply_ok(&idx, t, &[version(&p("Newer"), 2, 2_000)]).await;
    // An older version arriving late, and the same version replayed: both succeed, neither writes.
    apply_ok(&idx, t, &[version(&p("Older"), 1, 1_000), version(&p("Newer"), 2, 2_000)]).await;
    assert_eq!(find(&idx, &schema, t, "Patient", "family=newer").await, vec!["Patient/p1@2"]);
    assert!(find(&idx, &schema, t, "Patient", "family=older").await.is_empty());
    // Removal, then an older live version replayed after it: still removed.
    apply_ok(&idx, t, &[deleted("Patient", "p1", 3, 3_000)]).await;
    assert!(find(&idx, &schema, t, "Patient", "").await.is_empty(), "a deleted resource is not found");
    apply_ok(&idx, t, &[version(&p("Newer"), 2, 2_000)]).await;
    assert!(find(&idx, &schema, t, "Patient", "family=newer").await.is_empty(), "an older version resurrected a deleted resource");
    let count = idx.search(t, parse_query(&schema, &["Patient"], "_summary=count"), 10).await.expect("count");
    assert_eq!(count.total, Some(0));
    // Brought back to life, with two versions in one batch out of order.
    apply_ok(&idx, t, &[version(&p("Fifth"), 5, 5_000), version(&p("Fourth"), 4, 4_000)]).await;
    assert_eq!(find(&idx, &schema, t, "Patient", "family=fifth").await, vec!["Patient/p1@5"]);
    assert!(find(&idx, &schema, t, "Patient", "family=fourth").await.is_empty());
    let page = idx.search(t, parse_query(&schema, &["Patient"], "_id=p1"), 10).await.expect("search");
    let body: Value = serde_json::from_slice(page.matches[0].body.as_ref().expect("body")).expect("json");
    assert_eq!(body["name"][0]["family"], "Fifth", "the stored body is returned as indexed");
    assert_eq!(page.matches[0].last_updated, 5_000);
    let _ = idx.drop_index(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_are_isolated_and_items_fail_alone() {
    let schema = schema();
    let idx = index("tenants", schema.clone());
    let p = |family: &str| json!({"resourceType": "Patient", "id": "same", "name": [{"family": family}]});
    // `Acme` and `acme` are two tenants (index names are lower-case).
    for (t, fam) in [("acme", "Lower"), ("Acme", "Upper"), ("other", "Other")] {
        apply_ok(&idx, t, &[version(&p(fam), 1, 1_000)]).await;
    }
    for (t, fam) in [("acme", "lower"), ("Acme", "upper"), ("other", "other")] {
        assert_eq!(find(&idx, &schema, t, "Patient", "").await, vec!["Patient/same@1"], "{t}");
        assert_eq!(find(&idx, &schema, t, "Patient", &format!("family={fam}")).await.len(), 1, "{t}");
    }
    assert!(find(&idx, &schema, "acme", "Patient", "family=upper").await.is_empty());
    assert!(find(&idx, &schema, "nobody", "Patient", "").await.is_empty(), "a tenant without an index has no resources");
    // One bad version in a batch fails alone.
    let mut bad = version(&p("x"), 2, 2_000);
    bad.id = "bad".into();
    bad.body = Some(Bytes::from_static(b"{not json"));
    let good = version(&json!({"resourceType": "Patient", "id": "good"}), 1, 3_000);
    let results = idx.apply("other", &[bad, good]).await.expect("bulk");
    assert!(results[0].is_err() && results[1].is_ok(), "{results:?}");
    idx.refresh("other").await.expect("refresh");
    assert_eq!(find(&idx, &schema, "other", "Patient", "_id=good").await, vec!["Patient/good@1"]);
    // Rebuilding one tenant leaves the others alone.
    let n = idx.reindex_from("acme", vec![version(&json!({"resourceType": "Patient", "id": "rebuilt"}), 1, 4_000)]).await.expect("rebuild");
    assert_eq!(n, 1);
    assert_eq!(find(&idx, &schema, "acme", "Patient", "").await, vec!["Patient/rebuilt@1"]);
    assert_eq!(find(&idx, &schema, "Acme", "Patient", "").await, vec!["Patient/same@1"]);
    assert!(idx.reindex(None).await.is_err(), "a reindex without a source is refused");
    for t in ["acme", "Acme", "other"] {
        let _ = idx.drop_index(t).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_selecting_too_many_resources_is_refused() {
    let schema = schema();
    let idx = index("cap", schema.clone()).with_chain_cap(3);
    let t = "cap";
    let mut versions = Vec::new();
    for i in 0..5 {
        versions.push(version(&json!({"resourceType": "Patient", "id": format!("p{i}"), "name": [{"family": "Smith"}]}), 1, 1_000 + i));
        versions.push(version(&json!({"resourceType": "Observation", "id": format!("o{i}"), "status": "final", "code": {"text": "x"},
            "subject": {"reference": format!("Patient/p{i}")}}), 1, 2_000 + i));
    }
    apply_ok(&idx, t, &versions).await;
    let err = idx.search(t, parse_query(&schema, &["Observation"], "subject:Patient.name=smith"), 10).await.expect_err("over the cap");
    assert_eq!(err.status(), 400, "{err}");
    assert!(err.to_string().contains("more than 3"), "{err}");
    let ok = idx.search(t, parse_query(&schema, &["Observation"], "subject:Patient._id=p1,p2"), 10).await.expect("under the cap");
    assert_eq!(ok.matches.len(), 2);
    let err = idx.search(t, parse_query(&schema, &["Patient"], "_has:Observation:subject:status=final"), 10).await.expect_err("_has over the cap");
    assert_eq!(err.status(), 400);
    let _ = idx.drop_index(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_keeps_serving_and_keeps_writes_made_meanwhile() {
    let schema = schema();
    let idx = Arc::new(index("rebuild", schema.clone()));
    let t = "rebuild";
    let patient = |id: &str, family: &str| json!({"resourceType": "Patient", "id": id, "name": [{"family": family}]});
    let old: Vec<StoredVersion> = (0..700).map(|i| version(&patient(&format!("p{i:03}"), "Before"), 1, 1_000 + i)).collect();
    apply_ok(&idx, t, &old).await;
    // The scan the rebuild reads: it pauses after its first batch until told to go on.
    let (paused_tx, paused_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let scanned = old.clone().into_iter().enumerate().map(move |(i, v)| {
        if i == 600 {
            let _ = paused_tx.send(());
            let _ = go_rx.recv_timeout(std::time::Duration::from_secs(60));
        }
        v
    });
    // The rebuild runs apart (its own client and runtime), as `hearth reindex` beside the streamer.
    let rebuilder = index("rebuild", schema.clone());
    let rebuild = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(rebuilder.reindex_from(t, scanned))
    });
    tokio::task::spawn_blocking(move || paused_rx.recv_timeout(std::time::Duration::from_secs(60))).await.expect("join").expect("rebuild paused");
    // Mid-rebuild: the old index still answers, and writes go on.
    let mid = idx.search(t, parse_query(&schema, &["Patient"], "_summary=count"), 10).await.expect("count");
    assert_eq!(mid.total, Some(700), "searches during a rebuild see the old index");
    apply_ok(&idx, t, &[version(&patient("p001", "Updated"), 2, 5_000), version(&patient("new", "Created"), 1, 5_001), deleted("Patient", "p002", 2, 5_002)]).await;
    go_tx.send(()).expect("go");
    let n = tokio::task::spawn_blocking(move || rebuild.join()).await.expect("join").expect("rebuild thread").expect("rebuild");
    assert_eq!(n, 700);
    assert_eq!(find(&idx, &schema, t, "Patient", "family=updated").await, vec!["Patient/p001@2"], "an update made during the rebuild was lost");
    assert_eq!(find(&idx, &schema, t, "Patient", "family=created").await, vec!["Patient/new@1"], "a create made during the rebuild was lost");
    assert!(find(&idx, &schema, t, "Patient", "_id=p002").await.is_empty(), "a delete made during the rebuild was lost");
    let after = idx.search(t, parse_query(&schema, &["Patient"], "_summary=count"), 10).await.expect("count");
    assert_eq!(after.total, Some(700));
    // Writes after the switch go to the new index only.
    apply_ok(&idx, t, &[version(&patient("p003", "Later"), 2, 6_000)]).await;
    assert_eq!(find(&idx, &schema, t, "Patient", "family=later").await, vec!["Patient/p003@2"]);
    let _ = idx.drop_index(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values_are_indexed_and_found() {
    let schema = schema();
    let idx = index("large", schema.clone());
    let t = "large";
    // Words that never repeat, so a substring names one place in the text.
    let words: Vec<String> = (0..12_000).map(|i| format!("w{i}x")).collect();
    let long = words.join(" ");
    let family = "Q".repeat(12_000);
    let p = json!({"resourceType": "Patient", "id": "big", "name": [{"family": family, "given": ["Ann"]}], "address": [{"text": long}],
        "text": {"status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{long}</div>")}});
    apply_ok(&idx, t, &[version(&p, 1, 1_000)]).await;
    let found = |qs: String| {
        let idx = &idx;
        let schema = &schema;
        async move { find(idx, schema, t, "Patient", &qs).await }
    };
    assert_eq!(found("_text=w11990x w11991x".into()).await, vec!["Patient/big@1"], "text near the end of a long narrative");
    assert_eq!(found("_content=w5000x w5001x w5002x".into()).await, vec!["Patient/big@1"], "any string of the resource (here a long address)");
    assert!(found("_content=w5001x w5000x".into()).await.is_empty());
    assert_eq!(found("family=qqqq".into()).await, vec!["Patient/big@1"], "a very long string value");
    assert_eq!(found("address=w0x w1x".into()).await, vec!["Patient/big@1"]);
    assert_eq!(found("_sort=family&given=ann".into()).await, vec!["Patient/big@1"]);
    let err = idx.search(t, parse_query(&schema, &["Patient"], &format!("_content={}", "a".repeat(1_001))), 10).await.expect_err("too long");
    assert_eq!(err.status(), 400);
    let _ = idx.drop_index(t).await;
}

// ---------------------------------------------------------------------------------------
// Paging in a point in time
// ---------------------------------------------------------------------------------------

fn valued(id: &str, value: f64) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "x"},
        "valueQuantity": {"value": value, "unit": "1", "system": "http://unitsofmeasure.org", "code": "1"}})
}

/// The point-in-time id inside a cursor (`N<fp>.<values>.<pit>`), if any.
fn pit_of(cursor: &str) -> Option<String> {
    cursor.splitn(3, '.').nth(2).map(str::to_string)
}

/// The ids of the open points in time (`GET _search/point_in_time/_all`).
async fn open_pits() -> Vec<String> {
    let body: Value = reqwest::get(format!("{}/_search/point_in_time/_all", server_url())).await.expect("list PITs").json().await.expect("json");
    body["pits"].as_array().into_iter().flatten().filter_map(|p| p["pit_id"].as_str().map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorted_paging_reads_the_index_as_at_the_first_page() {
    let schema = schema();
    let idx = index("pit", schema.clone());
    let t = "pit";
    let mut lu = 1_000_000i64;
    let mut next_lu = || {
        lu += 1;
        lu
    };
    let pre: Vec<StoredVersion> = (0..60).map(|i| version(&valued(&format!("o{i:02}"), i as f64), 1, next_lu())).collect();
    apply_ok(&idx, t, &pre).await;
    let q = parse_query(&schema, &["Observation"], "_sort=-value-quantity");
    // Unsorted and single-page searches open no point in time.
    let before = open_pits().await;
    let all = idx.search(t, parse_query(&schema, &["Observation"], "_sort=-value-quantity"), 100).await.expect("one page");
    assert_eq!(all.matches.len(), 60);
    assert!(all.next.is_none());
    let unsorted = idx.search(t, parse_query(&schema, &["Observation"], ""), 7).await.expect("default order");
    assert!(pit_of(unsorted.next.as_deref().expect("next")).is_none(), "default order pages on the live index");
    assert_eq!(open_pits().await, before, "a point in time was opened for a search without a sorted second page");

    let mut seen: Vec<String> = Vec::new();
    let mut versions: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut cursor: Option<String> = None;
    let mut pit: Option<String> = None;
    let mut round = 0u64;
    loop {
        let mut qp = q.clone();
        qp.cursor = cursor.clone();
        let page = idx.search(t, qp, 7).await.unwrap_or_else(|e| panic!("page {round}: {e}"));
        assert_eq!(page.total, Some(60), "the total is the first page's");
        for m in &page.matches {
            seen.push(m.id.clone());
            versions.insert(m.id.clone(), m.version);
        }
        round += 1;
        // Between pages: move resources to the top and the bottom of the order, delete one,
        // create one (which the walk may or may not show).
        let k = round * 3;
        let writes = vec![
            version(&valued(&format!("o{:02}", k % 60), 1000.0 + k as f64), 1 + round, next_lu()),
            version(&valued(&format!("o{:02}", (k + 31) % 60), -1000.0 - k as f64), 1 + round, next_lu()),
            version(&valued(&format!("new{round}"), 500.0), 1, next_lu()),
        ];
        apply_ok(&idx, t, &writes).await;
        if round == 2 {
            apply_ok(&idx, t, &[deleted("Observation", "o59", 99, next_lu())]).await;
        }
        match page.next {
            Some(n) => {
                let p = pit_of(&n).expect("a sorted walk pages in a point in time");
                assert!(open_pits().await.contains(&p), "the point in time is open while pages follow");
                pit = Some(p);
                cursor = Some(n);
            }
            None => {
                let prev = page.previous.expect("the last page links back");
                assert!(pit_of(&prev).is_none(), "the last page links back on the live index");
                break;
            }
        }
        assert!(round < 30, "paging does not end");
    }
    let pit = pit.expect("a point in time was used");
    assert!(!open_pits().await.contains(&pit), "the last page deletes its point in time");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a match repeated: {seen:?}");
    let mut expected: BTreeSet<String> = (0..60).map(|i| format!("o{i:02}")).collect();
    expected.remove("o59");
    let got: BTreeSet<String> = seen.iter().filter(|id| id.as_str() != "o59").cloned().collect();
    assert_eq!(got, expected, "a match of the first page was skipped, or a resource created since appeared");
    // o00 was updated after the first page and read later: its current version is returned.
    assert!(versions.get("o03").copied().unwrap_or(0) >= 1);
    let seen_after_update = versions.iter().filter(|(_, v)| **v > 1).count();
    assert!(seen_after_update > 0, "pages after the first return current versions");
    let _ = idx.drop_index(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_or_foreign_paging_snapshot_is_refused() {
    let schema = schema();
    let idx = index("pitgone", schema.clone()).with_pit_keep_alive(std::time::Duration::from_secs(1));
    let vs = |prefix: &str| (0..10).map(|i| version(&valued(&format!("{prefix}{i}"), i as f64), 1, 1_000 + i)).collect::<Vec<_>>();
    apply_ok(&idx, "gone", &vs("g")).await;
    apply_ok(&idx, "other", &vs("x")).await;
    let q = parse_query(&schema, &["Observation"], "_sort=value-quantity");
    let first = |t: &'static str| {
        let (idx, q) = (&idx, q.clone());
        async move { idx.search(t, q, 3).await.expect("first page").next.expect("next") }
    };
    let mine = first("gone").await;
    let theirs = first("other").await;
    // Another tenant's cursor is refused; a forged one (this tenant's cursor with another
    // tenant's point in time) finds nothing of the other tenant.
    let mut qc = q.clone();
    qc.cursor = Some(theirs.clone());
    assert!(matches!(idx.search("gone", qc, 3).await, Err(FhirError::BadRequest(_))));
    let forged = format!("{}.{}", mine.rsplit_once('.').expect("pit").0, pit_of(&theirs).expect("pit"));
    let mut qf = q.clone();
    qf.cursor = Some(forged);
    let page = idx.search("gone", qf, 3).await.expect("forged cursor");
    assert!(page.matches.is_empty(), "another tenant's resources through a forged cursor: {:?}", page.matches.iter().map(key).collect::<Vec<_>>());
    // Garbage in the point-in-time part.
    let mut qg = q.clone();
    qg.cursor = Some(format!("{}.garbage", mine.rsplit_once('.').expect("pit").0));
    let err = idx.search("gone", qg, 3).await.expect_err("garbage point in time");
    assert_eq!(err.status(), 400, "{err}");
    // Expired.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let mut qe = q.clone();
    qe.cursor = Some(mine);
    let err = idx.search("gone", qe, 3).await.expect_err("expired");
    assert!(matches!(err, FhirError::Gone(_)), "{err}");
    assert!(err.to_string().contains("run the search again"), "{err}");
    for t in ["gone", "other"] {
        let _ = idx.drop_index(t).await;
    }
}
