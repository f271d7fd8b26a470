//! The whole Synthea set (shared resources first) and the 25,000-entry transaction, uploaded
//! over HTTP; resource counts per type checked against counts computed from the files.
mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use common::TestServer;
use serde_json::Value;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

fn read_bz2(path: &PathBuf) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    bzip2::read::MultiBzDecoder::new(f).read_to_end(&mut out).expect("bzip2");
    out
}

fn bundles(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(format!("{DATA}/{dir}"))
        .expect("data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".json.bz2"))
        .collect();
    files.sort();
    // Organisations, locations and practitioners first: the others refer to them.
    files.sort_by_key(|p| !p.file_name().unwrap().to_string_lossy().starts_with("0-"));
    files
}

/// Resources the files should leave behind: every create, but a conditional create
/// (`ifNoneExist`) only once per distinct criteria.
fn expected_counts(files: &[PathBuf]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let mut conditional = HashSet::new();
    for f in files {
        let b: Value = serde_json::from_slice(&read_bz2(f)).expect("bundle JSON");
        for e in b["entry"].as_array().expect("entries") {
            let t = e["resource"]["resourceType"].as_str().expect("type").to_string();
            match e["request"]["ifNoneExist"].as_str() {
                Some(c) => {
                    if conditional.insert((t.clone(), c.to_string())) {
                        *counts.entry(t).or_insert(0) += 1;
                    }
                }
                None => *counts.entry(t).or_insert(0) += 1,
            }
        }
    }
    counts
}

async fn upload(s: &TestServer, path: &PathBuf) -> usize {
    let body = read_bz2(path);
    let r = s.send(s.req(reqwest::Method::POST, "").header("content-type", common::FHIR_JSON).body(body)).await;
    r.expect(200, &path.display().to_string());
    let b = r.json();
    let entries = b["entry"].as_array().expect("response entries");
    for (i, e) in entries.iter().enumerate() {
        let st = e["response"]["status"].as_str().unwrap_or("");
        assert!(st.starts_with("201") || st.starts_with("200"), "{} entry {i}: {e}", path.display());
    }
    entries.len()
}

async fn server_counts(s: &TestServer, types: impl Iterator<Item = &String>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for t in types {
        let r = s.get(&format!("/{t}?_count=1")).await;
        r.expect(200, t);
        out.insert(t.clone(), r.json()["total"].as_u64().unwrap_or_else(|| panic!("no total for {t}")));
    }
    out
}

#[tokio::test]
async fn full_synthea_upload_counts_per_type() {
    let files = bundles("synthea");
    assert_eq!(files.len(), 122, "the Synthea Bundles");
    let expected = expected_counts(&files);
    let s = TestServer::start();
    let start = Instant::now();
    let mut entries = 0;
    for f in &files {
        entries += upload(&s, f).await;
    }
    eprintln!("Synthea: {entries} entries in {:.1} s (debug build)", start.elapsed().as_secs_f64());
    let got = server_counts(&s, expected.keys()).await;
    assert_eq!(got, expected, "resource counts per type");
    assert_eq!(expected.values().sum::<u64>(), 92_114);
    // The shared Bundles again: their conditional creates match and create nothing (their
    // PractitionerRoles have no ifNoneExist and are created again).
    for f in files.iter().take(2) {
        upload(&s, f).await;
    }
    let mut again = files.clone();
    again.extend(files.iter().take(2).cloned());
    let expected = expected_counts(&again);
    assert_eq!(expected["Organization"], 194);
    assert_eq!(server_counts(&s, expected.keys()).await, expected, "re-upload of conditional creates creates nothing");
}

/// One resource per distinct conditional reference (`Type?identifier=system|value`) of a
/// Bundle, so that each resolves to exactly one match.
fn targets_of(bundle: &Value) -> Value {
    fn walk(v: &Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            Value::Object(o) => {
                for (k, c) in o {
                    match (k.as_str(), c) {
                        ("reference", Value::String(r)) if r.contains('?') => {
                            out.insert(r.clone());
                        }
                        _ => walk(c, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    let mut refs = std::collections::BTreeSet::new();
    walk(bundle, &mut refs);
    let entries: Vec<Value> = refs
        .iter()
        .map(|r| {
            let (t, q) = r.split_once("?identifier=").expect("identifier reference");
            let (system, value) = q.split_once('|').expect("system|value");
            serde_json::json!({"resource": {"resourceType": t, "identifier": [{"system": system, "value": value}]}, "request": {"method": "POST", "url": t}})
        })
        .collect();
    serde_json::json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

#[tokio::test]
async fn big_transaction_is_accepted_atomically() {
    let big = bundles("big-tx");
    assert_eq!(big.len(), 1);
    let body = read_bz2(&big[0]);
    let bundle: Value = serde_json::from_slice(&body).expect("big-tx JSON");
    let setup = targets_of(&bundle);
    let s = TestServer::start();
    let r = s.post_json("", &setup).await;
    r.expect(200, "the referenced practitioners, organisations and locations");
    let mut expected = expected_counts(&big);
    for e in setup["entry"].as_array().unwrap() {
        *expected.entry(e["resource"]["resourceType"].as_str().unwrap().to_string()).or_insert(0) += 1;
    }
    let start = Instant::now();
    let n = upload(&s, &big[0]).await;
    eprintln!("big-tx: {n} entries in {:.1} s (debug build)", start.elapsed().as_secs_f64());
    assert_eq!(n, 25_000);
    assert_eq!(server_counts(&s, expected.keys()).await, expected);
    // All of it in one transaction: one lastUpdated for every version it wrote.
    let h = s.get("/_history?_count=3").await.json();
    let times: HashSet<String> = h["entry"].as_array().unwrap().iter().map(|e| e["response"]["lastModified"].as_str().unwrap().to_string()).collect();
    assert_eq!(times.len(), 1, "one transaction: {times:?}");
}
