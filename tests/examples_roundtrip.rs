//! Every example instance of the official R4 package: PUT at its own id, read back, compare
//! exactly (ignoring server-managed meta). The known-invalid examples must be rejected.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use serde_json::Value;
use tokio::sync::Semaphore;

const DEFINITIONAL_TYPES: &[&str] = &[
    "StructureDefinition",
    "SearchParameter",
    "ValueSet",
    "CodeSystem",
    "ConceptMap",
    "OperationDefinition",
    "CompartmentDefinition",
    "NamingSystem",
    "CapabilityStatement",
    "ImplementationGuide",
];

/// Bundles that package definitions rather than being examples.
const DEFINITIONAL_BUNDLES: &[&str] = &[
    "Bundle-resources.json",
    "Bundle-types.json",
    "Bundle-profiles-others.json",
    "Bundle-extensions.json",
    "Bundle-dataelements.json",
    "Bundle-valuesets.json",
    "Bundle-v2-valuesets.json",
    "Bundle-v3-valuesets.json",
    "Bundle-valueset-expansions.json",
    "Bundle-conceptmaps.json",
    "Bundle-searchParams.json",
    "Bundle-terminologies.json",
    "Bundle-externals.json",
    "Bundle-registry.json",
];

const IN_FLIGHT: usize = 8;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn package_dir() -> PathBuf {
    match std::env::var("HEARTH_R4_PACKAGE") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join(".cache/hl7.fhir.r4.examples/package"),
    }
}

/// File names listed in definitions/r4/KNOWN_INVALID_EXAMPLES.md, either as a list
/// (`- \`File.json\`: reason`) or as the first cell of a table row (`| \`File.json\` | ...`).
fn known_invalid() -> (BTreeSet<String>, bool) {
    let path = repo_root().join("definitions/r4/KNOWN_INVALID_EXAMPLES.md");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return (BTreeSet::new(), false);
    };
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix('|')) else { continue };
        let Some(rest) = rest.trim_start().strip_prefix('`') else { continue };
        if let Some(end) = rest.find('`') {
            out.insert(rest[..end].to_string());
        }
    }
    (out, true)
}

struct Example {
    file: String,
    ty: String,
    id: String,
    text: String,
}

fn load_examples(dir: &Path) -> Vec<Example> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".json") && !f.starts_with('.') && f != "package.json")
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        if DEFINITIONAL_BUNDLES.contains(&file.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(dir.join(&file)).unwrap_or_else(|e| panic!("read {file}: {e}"));
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file} is not JSON: {e}"));
        let Some(ty) = v.get("resourceType").and_then(Value::as_str) else { continue };
        if DEFINITIONAL_TYPES.contains(&ty) {
            continue;
        }
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("example {file} has no id"))
            .to_string();
        out.push(Example { file, ty: ty.to_string(), id, text });
    }
    out
}

#[derive(Debug)]
enum Outcome {
    RoundTrip,
    Rejected(u16, String),
    Mismatch(String),
    Failure(String),
}

async fn check_one(s: &TestServer, ex: &Example) -> Outcome {
    let path = format!("/{}/{}", ex.ty, ex.id);
    let put = s
        .send(
            s.req(reqwest::Method::PUT, &path)
                .header("content-type", FHIR_JSON)
                .header("accept", FHIR_JSON)
                .body(ex.text.clone()),
        )
        .await;
    if (400..500).contains(&put.status) {
        let diag = match put.try_json() {
            Some(v) if check_outcome(&v).is_ok() => v["issue"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|i| matches!(i["severity"].as_str(), Some("error") | Some("fatal")))
                        .map(|i| {
                            format!(
                                "{} @ {}",
                                i["diagnostics"].as_str().unwrap_or(""),
                                i["expression"].get(0).and_then(Value::as_str).unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default(),
            _ => return Outcome::Failure(format!("PUT {} without an OperationOutcome: {}", put.status, truncate(&put.text(), 300))),
        };
        return Outcome::Rejected(put.status, truncate(&diag, 400));
    }
    if put.status != 200 && put.status != 201 {
        return Outcome::Failure(format!("PUT -> {}: {}", put.status, truncate(&put.text(), 300)));
    }
    let put_body = put.try_json();
    let get = s.get(&path).await;
    if get.status != 200 {
        return Outcome::Failure(format!("GET after PUT -> {}: {}", get.status, truncate(&get.text(), 300)));
    }
    let mut want: Value = serde_json::from_str(&ex.text).expect("example JSON");
    let Some(mut got) = get.try_json() else {
        return Outcome::Failure("GET body is not JSON".into());
    };
    if let Some(pb) = put_body {
        if pb != got {
            return Outcome::Mismatch(format!("PUT response differs from GET: {}", first_difference(&pb, &got, String::new())));
        }
    }
    strip_server_meta(&mut want);
    strip_server_meta(&mut got);
    if want == got {
        Outcome::RoundTrip
    } else {
        Outcome::Mismatch(first_difference(&want, &got, String::new()))
    }
}

/// A human-readable description of the first place two JSON values differ.
fn first_difference(want: &Value, got: &Value, at: String) -> String {
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    None => return format!("{at}.{k}: missing in the response"),
                    Some(vb) if va != vb => return first_difference(va, vb, format!("{at}.{k}")),
                    _ => {}
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    return format!("{at}.{k}: added by the server");
                }
            }
            format!("{at}: objects differ (key order?)")
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                if va != vb {
                    return first_difference(va, vb, format!("{at}[{i}]"));
                }
            }
            format!("{at}: arrays differ")
        }
        _ => format!(
            "{at}: sent {} got {}",
            truncate(&want.to_string(), 120),
            truncate(&got.to_string(), 120)
        ),
    }
}

#[tokio::test]
async fn official_examples_round_trip() {
    let dir = package_dir();
    assert!(
        dir.join("package.json").is_file(),
        "R4 examples package not found at {}.\nRun `scripts/fetch-r4-package.sh` (or set HEARTH_R4_PACKAGE to the extracted `package` dir).",
        dir.display()
    );
    let examples = load_examples(&dir);
    assert!(examples.len() > 500, "only {} examples found in {}", examples.len(), dir.display());
    let (expected_invalid, list_found) = known_invalid();
    if !list_found {
        println!("note: definitions/r4/KNOWN_INVALID_EXAMPLES.md not found: expecting no rejections");
    }
    let file_names: BTreeSet<String> = examples.iter().map(|e| e.file.clone()).collect();
    // names in the list that are not files of the package at all
    let stale: Vec<&String> = expected_invalid.iter().filter(|f| !dir.join(f.as_str()).is_file()).collect();

    // group by (type, id) so two files with one identity never race
    let mut groups: BTreeMap<(String, String), Vec<Example>> = BTreeMap::new();
    for ex in examples {
        groups.entry((ex.ty.clone(), ex.id.clone())).or_default().push(ex);
    }
    let total: usize = groups.values().map(Vec::len).sum();
    let server = Arc::new(TestServer::start());
    let sem = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut set = tokio::task::JoinSet::new();
    for (_, group) in groups {
        let s = server.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            let mut out = Vec::new();
            for ex in group {
                let o = check_one(&s, &ex).await;
                out.push((ex.file, o));
            }
            out
        });
    }
    let mut results: Vec<(String, Outcome)> = Vec::new();
    while let Some(r) = set.join_next().await {
        results.extend(r.expect("example task panicked"));
    }
    results.sort_by(|a, b| a.0.cmp(&b.0));

    let mut ok = 0;
    let mut rejected = Vec::new();
    let mut mismatches = Vec::new();
    let mut failures = Vec::new();
    for (file, o) in &results {
        match o {
            Outcome::RoundTrip => ok += 1,
            Outcome::Rejected(st, why) => rejected.push(format!("{file}: {st} {why}")),
            Outcome::Mismatch(d) => mismatches.push(format!("{file}: {d}")),
            Outcome::Failure(d) => failures.push(format!("{file}: {d}")),
        }
    }
    println!("examples: {total}; PUT ok and round-tripped: {ok}; rejected: {}; round-trip mismatches: {}; other failures: {}", rejected.len(), mismatches.len(), failures.len());
    for r in &rejected {
        println!("  rejected {r}");
    }

    let rejected_files: BTreeSet<String> = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Rejected(..)))
        .map(|(f, _)| f.clone())
        .collect();
    let unexpected_rejections: Vec<&String> = rejected
        .iter()
        .filter(|r| !expected_invalid.contains(r.split(':').next().unwrap_or("")))
        .collect();
    let accepted_but_known_invalid: Vec<&String> = expected_invalid
        .iter()
        .filter(|f| file_names.contains(*f) && !rejected_files.contains(*f))
        .collect();

    let mut report = Vec::new();
    if !unexpected_rejections.is_empty() {
        report.push(format!(
            "{} examples rejected but not listed in KNOWN_INVALID_EXAMPLES.md:\n  {}",
            unexpected_rejections.len(),
            unexpected_rejections.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
        ));
    }
    if !accepted_but_known_invalid.is_empty() {
        report.push(format!(
            "{} examples listed as known-invalid were not rejected:\n  {}",
            accepted_but_known_invalid.len(),
            accepted_but_known_invalid.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
        ));
    }
    if !mismatches.is_empty() {
        report.push(format!("{} round-trip mismatches:\n  {}", mismatches.len(), mismatches.join("\n  ")));
    }
    if !failures.is_empty() {
        report.push(format!("{} failures (5xx, missing OperationOutcome, read errors):\n  {}", failures.len(), failures.join("\n  ")));
    }
    if !stale.is_empty() {
        report.push(format!("KNOWN_INVALID_EXAMPLES.md names files that are not examples: {stale:?}"));
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}
