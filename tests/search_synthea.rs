//! Realistic searches over the Synthea data (`../shared/data/synthea`), checked exactly against
//! expectations computed here from the JSON, independently of the server.
//!
//! The data is loaded without transactions: each Bundle is decompressed with `bzcat`, every
//! `urn:uuid:` reference is rewritten to `Type/uuid`, conditional references
//! (`Practitioner?identifier=...`) are resolved through the hospital and practitioner bundles,
//! and every resource is PUT at `Type/uuid` with bounded concurrency.
//! `SYNTHEA_PATIENT_BUNDLES=N` loads only the first N patient bundles (default: all).
mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use common::*;
use serde_json::Value;

#[path = "search/synthea_data.rs"]
mod synthea_data;
use synthea_data::*;

const CONCURRENCY: usize = 8;

/// A search's result, all pages.
struct Fetched {
    matches: Vec<String>,
    includes: Vec<String>,
    total: Option<u64>,
    pages: usize,
    outcomes: Vec<String>,
}

async fn fetch_all(s: &TestServer, path: &str) -> Result<Fetched, String> {
    let mut url = s.url(path);
    if !path.contains("_count=") && !path.contains("_summary=count") {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str("_count=1000");
    }
    let mut f = Fetched { matches: Vec::new(), includes: Vec::new(), total: None, pages: 0, outcomes: Vec::new() };
    let mut next = Some(url);
    while let Some(u) = next.take() {
        f.pages += 1;
        if f.pages > 1000 {
            return Err("more than 1000 pages".into());
        }
        let r = s.get(&u).await;
        if r.status != 200 {
            return Err(format!("GET {u}: {} {}", r.status, truncate(&r.text(), 400)));
        }
        let b = r.json();
        if f.pages == 1 {
            f.total = b.get("total").and_then(Value::as_u64);
        }
        for e in b["entry"].as_array().into_iter().flatten() {
            let id = format!("{}/{}", e["resource"]["resourceType"].as_str().unwrap_or("?"), e["resource"]["id"].as_str().unwrap_or("?"));
            match e["search"]["mode"].as_str() {
                Some("match") => f.matches.push(id),
                Some("include") => f.includes.push(id),
                _ => f.outcomes.push(e["resource"]["issue"].to_string()),
            }
        }
        next = next_link(&b);
    }
    Ok(f)
}

fn set<I: IntoIterator<Item = String>>(v: I) -> BTreeSet<String> {
    v.into_iter().collect()
}

fn diff(got: &BTreeSet<String>, want: &BTreeSet<String>) -> String {
    let missing: Vec<_> = want.difference(got).take(5).collect();
    let extra: Vec<_> = got.difference(want).take(5).collect();
    format!(
        "got {} ids, expected {} ({} missing, e.g. {missing:?}; {} unexpected, e.g. {extra:?})",
        got.len(),
        want.len(),
        want.difference(got).count(),
        got.difference(want).count()
    )
}

/// What a query must return.
enum Want {
    /// Matches as a set (and total, when the server gives one, equal to its size).
    Ids(BTreeSet<String>),
    /// Matches as a set plus the included resources as a set.
    WithIncludes(BTreeSet<String>, BTreeSet<String>),
    /// Matches as a set, in an order whose keys (looked up per id) are non-increasing
    /// (`desc`) or non-decreasing.
    Sorted(BTreeSet<String>, HashMap<String, i64>, bool),
    /// `_summary=count`: only the total.
    Count(u64),
}

struct Query {
    name: String,
    path: String,
    want: Want,
    /// The server is known to fail this query (the test then expects a failure).
    known_failure: Option<&'static str>,
}

fn q(name: &str, path: String, want: Want) -> Query {
    Query { name: name.to_string(), path, want, known_failure: None }
}

/// Known server failures, by query name prefix.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

async fn check(s: &TestServer, query: &Query) -> Result<String, String> {
    let f = fetch_all(s, &query.path).await?;
    if !f.outcomes.is_empty() {
        return Err(format!("outcome entries (ignored parameters?): {:?}", f.outcomes));
    }
    let got = set(f.matches.iter().cloned());
    if got.len() != f.matches.len() {
        return Err(format!("{} duplicate matches over {} pages", f.matches.len() - got.len(), f.pages));
    }
    let check_ids = |want: &BTreeSet<String>| -> Result<(), String> {
        if &got != want {
            return Err(diff(&got, want));
        }
        if let Some(t) = f.total {
            if t as usize != want.len() {
                return Err(format!("total {t}, expected {}", want.len()));
            }
        }
        Ok(())
    };
    match &query.want {
        Want::Ids(want) => {
            check_ids(want)?;
            Ok(format!("{} ids, {} pages", want.len(), f.pages))
        }
        Want::WithIncludes(want, inc) => {
            check_ids(want)?;
            let got_inc = set(f.includes.iter().cloned());
            if &got_inc != inc {
                return Err(format!("includes: {}", diff(&got_inc, inc)));
            }
            Ok(format!("{} ids + {} included", want.len(), inc.len()))
        }
        Want::Sorted(want, keys, desc) => {
            check_ids(want)?;
            for w in f.matches.windows(2) {
                let (a, b) = (keys[&w[0]], keys[&w[1]]);
                if (*desc && a < b) || (!*desc && a > b) {
                    return Err(format!("not sorted: {} ({a}) before {} ({b})", w[0], w[1]));
                }
            }
            Ok(format!("{} ids in order", want.len()))
        }
        Want::Count(n) => {
            if !f.matches.is_empty() {
                return Err(format!("{} entries with _summary=count", f.matches.len()));
            }
            if f.total != Some(*n) {
                return Err(format!("total {:?}, expected {n}", f.total));
            }
            Ok(format!("total {n}"))
        }
    }
}

async fn load(s: &TestServer, files: &[PathBuf]) -> (Data, usize) {
    let (tx, rx) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(2000);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let rx = rx.clone();
        let client = s.client.clone();
        let base = s.base.clone();
        workers.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            let mut n = 0usize;
            loop {
                let item = rx.lock().await.recv().await;
                let Some((path, body)) = item else { break };
                n += 1;
                let resp = client.put(format!("{base}/{path}")).header("content-type", FHIR_JSON).body(body).send().await;
                match resp {
                    Ok(r) if r.status().as_u16() == 200 || r.status().as_u16() == 201 => {}
                    Ok(r) => {
                        let st = r.status().as_u16();
                        let text = r.text().await.unwrap_or_default();
                        errors.push(format!("PUT {path}: {st} {}", truncate(&text, 300)));
                    }
                    Err(e) => errors.push(format!("PUT {path}: {e}")),
                }
            }
            (n, errors)
        }));
    }
    let mut data = Data::default();
    let mut conditional: HashMap<String, String> = HashMap::new();
    for file in files {
        let bundle = bunzip_json(file);
        for (path, body) in data.add_bundle(bundle, &mut conditional) {
            tx.send((path, body)).await.expect("workers alive");
        }
    }
    drop(tx);
    let mut sent = 0;
    let mut errors = Vec::new();
    for w in workers {
        let (n, e) = w.await.expect("worker");
        sent += n;
        errors.extend(e);
    }
    assert!(errors.is_empty(), "{} PUTs failed, first: {:#?}", errors.len(), &errors[..errors.len().min(10)]);
    assert!(data.unresolved.is_empty(), "unresolved conditional references: {:?}", data.unresolved.iter().take(5).collect::<Vec<_>>());
    (data, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn synthea_searches() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/synthea");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".json.bz2"))
        .collect();
    // hospital and practitioner bundles ("0-...") first, then the patients in name order
    files.sort();
    let limit: usize = std::env::var("SYNTHEA_PATIENT_BUNDLES").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let (shared, patients): (Vec<_>, Vec<_>) = files.into_iter().partition(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("0-")));
    assert_eq!(shared.len(), 2, "hospital and practitioner bundles in {}", dir.display());
    let files: Vec<PathBuf> = shared.into_iter().chain(patients.into_iter().take(limit)).collect();

    let s = TestServer::start_with_args(&["--sqlite-sync", "normal"]);
    let t0 = Instant::now();
    let (data, sent) = load(&s, &files).await;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!("loaded {sent} resources from {} bundles in {secs:.1}s ({:.0} resources/s)", files.len(), sent as f64 / secs);

    let queries = build_queries(&data);
    let empty: Vec<&str> = queries.iter().filter(|q| matches!(&q.want, Want::Ids(w) | Want::WithIncludes(w, _) | Want::Sorted(w, _, _) if w.is_empty())).map(|q| q.name.as_str()).collect();
    eprintln!("{} queries; expected result empty for: {empty:?}", queries.len());
    assert!(queries.len() >= 30, "only {} queries", queries.len());
    let t1 = Instant::now();
    let mut failures = Vec::new();
    for query in &queries {
        let started = Instant::now();
        match (check(&s, query).await, query.known_failure) {
            (Ok(what), None) => eprintln!("ok   {} ({what}, {} ms): {}", query.name, started.elapsed().as_millis(), query.path),
            (Ok(_), Some(why)) => {
                eprintln!("PASSED BUT MARKED KNOWN FAILURE ({why}): {}: {}", query.name, query.path);
                failures.push(format!("{} | {} | passes but is marked as a known failure ({why})", query.name, query.path));
            }
            (Err(e), Some(why)) => eprintln!("KNOWN FAILURE ({why}) {}: {}\n     {e}", query.name, query.path),
            (Err(e), None) => {
                eprintln!("FAIL {}: {}\n     {e}", query.name, query.path);
                failures.push(format!("{} | {} | {e}", query.name, query.path));
            }
        }
    }
    eprintln!("{} queries in {:.1}s, {} failed", queries.len(), t1.elapsed().as_secs_f64(), failures.len());
    assert!(failures.is_empty(), "{} of {} Synthea queries failed:\n{}", failures.len(), queries.len(), failures.join("\n"));
}

fn ids<'a, I: IntoIterator<Item = &'a Res>>(it: I) -> BTreeSet<String> {
    it.into_iter().map(|r| r.key()).collect()
}

/// The queries and their expected results, computed from the loaded JSON.
fn build_queries(d: &Data) -> Vec<Query> {
    let mut out = Vec::new();
    let obs = d.of("Observation");
    let pats = d.of("Patient");
    let loinc = "http://loinc.org";

    // Patients chosen deterministically: the one with most Observations, and a median one.
    let mut per_patient: BTreeMap<String, usize> = BTreeMap::new();
    for o in &obs {
        if let Some(p) = o.patient() {
            *per_patient.entry(p).or_default() += 1;
        }
    }
    let mut ranked: Vec<(usize, String)> = per_patient.iter().map(|(p, n)| (*n, p.clone())).collect();
    ranked.sort();
    let busy = ranked.last().expect("some patient").1.clone();
    let median = ranked[ranked.len() / 2].1.clone();
    let busy_id = busy.trim_start_matches("Patient/").to_string();

    for code in ["8302-2", "29463-7", "4548-4"] {
        let want = ids(obs.iter().copied().filter(|o| o.has_code("code", loinc, code)));
        out.push(q(&format!("Observation by LOINC {code}"), format!("/Observation?code={loinc}|{code}"), Want::Ids(want)));
    }
    let want = ids(obs.iter().copied().filter(|o| o.has_code("code", loinc, "8302-2") || o.has_code("code", loinc, "8867-4")));
    out.push(q("Observation by two codes (OR), code only", "/Observation?code=8302-2,8867-4".into(), Want::Ids(want)));
    let cat = "http://terminology.hl7.org/CodeSystem/observation-category";
    let want = ids(obs.iter().copied().filter(|o| o.has_code("category", cat, "laboratory")));
    out.push(q("Observation category laboratory", format!("/Observation?category={cat}|laboratory"), Want::Ids(want)));
    for (label, p) in [("busiest", &busy), ("median", &median)] {
        let want = ids(obs.iter().copied().filter(|o| o.patient().as_ref() == Some(p) && o.has_code("category", cat, "vital-signs")));
        out.push(q(&format!("Observation patient ({label}) + category"), format!("/Observation?patient={p}&category=vital-signs"), Want::Ids(want)));
    }
    let (lo, hi) = (ms("2015-01-01T00:00:00Z"), ms("2016-01-01T00:00:00Z"));
    let want = ids(obs.iter().copied().filter(|o| o.has_code("code", loinc, "29463-7") && o.date_ge("effective", lo) && o.date_lt("effective", hi)));
    out.push(q("Observation weight in 2015 (date range)", format!("/Observation?code={loinc}|29463-7&date=ge2015-01-01T00:00:00Z&date=lt2016-01-01T00:00:00Z"), Want::Ids(want)));
    let want = ids(obs.iter().copied().filter(|o| o.date_lt("effective", ms("1990-01-01T00:00:00Z"))));
    out.push(q("Observation before 1990", "/Observation?date=lt1990-01-01T00:00:00Z".into(), Want::Ids(want)));
    let want = ids(obs.iter().copied().filter(|o| o.date_ge("effective", ms("2021-01-01T00:00:00Z"))));
    out.push(q("Observation since 2021", "/Observation?date=ge2021-01-01T00:00:00Z".into(), Want::Ids(want)));

    // Quantity: a threshold between two data values, far enough from both that the precision
    // rules (of the search value and of the stored values) cannot change the answer.
    for (code, unit, op) in [("8302-2", "cm", "gt"), ("29463-7", "kg", "lt")] {
        let vals: Vec<(&Res, f64, i32)> = obs.iter().copied().filter(|o| o.has_code("code", loinc, code)).filter_map(|o| o.quantity(unit).map(|(v, d)| (o, v, d))).collect();
        let x = pick_threshold(&vals, if op == "gt" { 0.8 } else { 0.2 });
        let xv: f64 = x.parse().expect("threshold");
        let want = ids(vals.iter().filter(|(_, v, _)| if op == "gt" { *v > xv } else { *v < xv }).map(|(o, _, _)| *o));
        out.push(q(&format!("Observation {code} value {op}{x} {unit}"), format!("/Observation?code={loinc}|{code}&value-quantity={op}{x}|http://unitsofmeasure.org|{unit}"), Want::Ids(want.clone())));
        out.push(q(&format!("Observation code-value-quantity {code} {op}{x}"), format!("/Observation?code-value-quantity={loinc}|{code}${op}{x}"), Want::Ids(want)));
    }

    // Sorted by date, checked on the sort key sequence.
    let mine: Vec<&Res> = obs.iter().copied().filter(|o| o.patient().as_ref() == Some(&busy) && o.has_code("code", loinc, "29463-7")).collect();
    let keys: HashMap<String, i64> = mine.iter().map(|o| (o.key(), o.date_range("effective").map(|r| r.0).unwrap_or(i64::MIN))).collect();
    out.push(q("Observation of a patient _sort=-date", format!("/Observation?subject={busy}&code={loinc}|29463-7&_sort=-date"), Want::Sorted(ids(mine.iter().copied()), keys.clone(), true)));
    out.push(q("Observation of a patient _sort=date, pages of 7", format!("/Observation?subject={busy}&code={loinc}|29463-7&_sort=date&_count=7"), Want::Sorted(ids(mine.iter().copied()), keys, false)));

    // Patients.
    let want = ids(pats.iter().copied().filter(|p| p.str_at(&["gender"]) == Some("female")));
    out.push(q("Patient gender female", "/Patient?gender=female".into(), Want::Ids(want)));
    let want = ids(pats.iter().copied().filter(|p| p.str_at(&["birthDate"]).is_some_and(|b| b < "1970-01-01")));
    out.push(q("Patient born before 1970", "/Patient?birthdate=lt1970-01-01".into(), Want::Ids(want)));
    let want = ids(pats.iter().copied().filter(|p| p.str_at(&["birthDate"]).is_some_and(|b| ("1990-01-01".."2000-01-01").contains(&b))));
    out.push(q("Patient born in the 1990s", "/Patient?birthdate=ge1990-01-01&birthdate=lt2000-01-01".into(), Want::Ids(want)));
    let busy_pat = d.get(&busy).expect("busy patient");
    let family = busy_pat.first_family().expect("family");
    let prefix: String = family.chars().take(3).collect();
    let want = ids(pats.iter().copied().filter(|p| p.families().iter().any(|f| fold(f).starts_with(&fold(&prefix)))));
    out.push(q("Patient family starts with", format!("/Patient?family={}", qenc(&prefix.to_lowercase())), Want::Ids(want)));
    let name_hits: BTreeSet<String> = pats.iter().filter(|p| p.name_parts().iter().any(|n| fold(n).starts_with(&fold(&family)))).map(|p| p.key()).collect();
    out.push(q("Patient name (any part)", format!("/Patient?name={}", qenc(&family)), Want::Ids(name_hits.clone())));
    let want = ids(obs.iter().copied().filter(|o| o.patient().is_some_and(|p| name_hits.contains(&p)) && o.has_code("code", loinc, "8302-2")));
    out.push(q("Observation chained subject:Patient.name", format!("/Observation?subject:Patient.name={}&code=8302-2", qenc(&family)), Want::Ids(want)));
    let males: BTreeSet<String> = ids(pats.iter().copied().filter(|p| p.str_at(&["gender"]) == Some("male")));
    let encs = d.of("Encounter");
    let want = ids(encs.iter().copied().filter(|e| e.ref_at("subject").is_some_and(|p| males.contains(&p)) && e.str_at(&["class", "code"]) == Some("EMER")));
    out.push(q("Encounter chained patient.gender + class", "/Encounter?patient.gender=male&class=EMER".into(), Want::Ids(want)));

    // Conditions and _has.
    let conds = d.of("Condition");
    let sct = "http://snomed.info/sct";
    let want = ids(conds.iter().copied().filter(|c| c.has_code("code", sct, "444814009")));
    out.push(q("Condition by SNOMED code", format!("/Condition?code={sct}|444814009"), Want::Ids(want)));
    let want = ids(conds.iter().copied().filter(|c| c.ref_at("subject").as_ref() == Some(&busy)));
    out.push(q("Condition of a patient", format!("/Condition?patient={busy_id}"), Want::Ids(want)));
    let want = ids(conds.iter().copied().filter(|c| c.date_lt("onset", ms("2000-01-01T00:00:00Z"))));
    out.push(q("Condition onset before 2000", "/Condition?onset-date=lt2000-01-01T00:00:00Z".into(), Want::Ids(want)));
    let diabetics: BTreeSet<String> = conds.iter().filter(|c| c.has_code("code", sct, "44054006")).filter_map(|c| c.ref_at("subject")).collect();
    out.push(q("Patient _has Condition diabetes", format!("/Patient?_has:Condition:patient:code={sct}|44054006"), Want::Ids(diabetics.clone())));
    let hba1c: BTreeSet<String> = obs.iter().filter(|o| o.has_code("code", loinc, "4548-4")).filter_map(|o| o.patient()).collect();
    let want: BTreeSet<String> = hba1c.intersection(&males).cloned().collect();
    out.push(q("Patient _has Observation HbA1c and gender", format!("/Patient?_has:Observation:subject:code={loinc}|4548-4&gender=male"), Want::Ids(want)));

    // Includes.
    let provs = d.of("Provenance");
    let prov_of = |targets: &BTreeSet<String>| -> BTreeSet<String> {
        ids(provs.iter().copied().filter(|p| p.refs_at("target").iter().any(|t| targets.contains(t))))
    };
    let one = BTreeSet::from([busy.clone()]);
    out.push(q("Patient _revinclude Provenance:target", format!("/Patient?_id={busy_id}&_revinclude=Provenance:target"), Want::WithIncludes(one.clone(), prov_of(&one))));
    let their_encs = ids(encs.iter().copied().filter(|e| e.ref_at("subject").as_ref() == Some(&median)));
    out.push(q("Encounter of a patient _revinclude Provenance:target", format!("/Encounter?subject={median}&_revinclude=Provenance:target"), Want::WithIncludes(their_encs.clone(), prov_of(&their_encs))));
    let orgs: BTreeSet<String> = encs.iter().filter(|e| their_encs.contains(&e.key())).filter_map(|e| e.ref_at("serviceProvider")).collect();
    out.push(q("Encounter _include service-provider", format!("/Encounter?subject={median}&_include=Encounter:service-provider"), Want::WithIncludes(their_encs.clone(), orgs)));
    let their_obs: Vec<&Res> = obs.iter().copied().filter(|o| o.patient().as_ref() == Some(&median) && o.has_code("code", loinc, "8302-2")).collect();
    let inc: BTreeSet<String> = their_obs.iter().filter_map(|o| o.ref_at("encounter")).collect::<BTreeSet<_>>().into_iter().chain(std::iter::once(median.clone())).collect();
    out.push(q("Observation _include encounter and patient", format!("/Observation?subject={median}&code=8302-2&_include=Observation:encounter&_include=Observation:patient"), Want::WithIncludes(ids(their_obs.iter().copied()), inc)));

    // Other resource types.
    let meds = d.of("MedicationRequest");
    let want = ids(meds.iter().copied().filter(|m| m.ref_at("subject").as_ref() == Some(&busy) && m.str_at(&["status"]) == Some("stopped")));
    out.push(q("MedicationRequest patient + status", format!("/MedicationRequest?patient={busy}&status=stopped"), Want::Ids(want)));
    out.push(q("MedicationRequest active _summary=count", "/MedicationRequest?status=active&_summary=count".into(), Want::Count(meds.iter().filter(|m| m.str_at(&["status"]) == Some("active")).count() as u64)));
    let imms = d.of("Immunization");
    let cvx = "http://hl7.org/fhir/sid/cvx";
    let want = ids(imms.iter().copied().filter(|i| i.has_code("vaccineCode", cvx, "140") && i.date_ge("occurrence", ms("2018-01-01T00:00:00Z"))));
    out.push(q("Immunization flu since 2018", format!("/Immunization?vaccine-code={cvx}|140&date=ge2018-01-01T00:00:00Z"), Want::Ids(want)));
    let reports = d.of("DiagnosticReport");
    let want = ids(reports.iter().copied().filter(|r| r.ref_at("subject").as_ref() == Some(&busy) && r.has_code("category", "http://terminology.hl7.org/CodeSystem/v2-0074", "LAB")));
    out.push(q("DiagnosticReport patient + category LAB", format!("/DiagnosticReport?subject={busy}&category=LAB"), Want::Ids(want)));
    if let Some(rep) = reports.iter().find(|r| !r.refs_at("result").is_empty()) {
        let target = rep.refs_at("result")[0].clone();
        let want = ids(reports.iter().copied().filter(|r| r.refs_at("result").contains(&target)));
        out.push(q("DiagnosticReport by result reference", format!("/DiagnosticReport?result={target}"), Want::Ids(want)));
    }
    let enc_busy: Vec<&Res> = encs.iter().copied().filter(|e| e.ref_at("subject").as_ref() == Some(&busy)).collect();
    let prac = busy_pat.ref_at("generalPractitioner").or_else(|| enc_busy.iter().flat_map(|e| e.refs_at("participant.individual")).next()).expect("a practitioner");
    let want = ids(encs.iter().copied().filter(|e| e.refs_at("participant.individual").contains(&prac)));
    out.push(q("Encounter by practitioner", format!("/Encounter?practitioner={prac}"), Want::Ids(want)));
    let org = enc_busy.iter().find_map(|e| e.ref_at("serviceProvider")).expect("a service provider");
    let org_name = d.get(&org).and_then(|o| o.str_at(&["name"]).map(str::to_string)).expect("org name");
    let orgs_named: BTreeSet<String> = ids(d.of("Organization").into_iter().filter(|o| o.str_at(&["name"]).is_some_and(|n| fold(n).starts_with(&fold(&org_name)))));
    let want = ids(encs.iter().copied().filter(|e| e.ref_at("serviceProvider").is_some_and(|o| orgs_named.contains(&o))));
    out.push(q("Encounter chained service-provider.name", format!("/Encounter?service-provider.name={}", qenc(&org_name)), Want::Ids(want)));
    let (lo, hi) = (ms("2019-01-01T00:00:00Z"), ms("2020-01-01T00:00:00Z"));
    let want = ids(encs.iter().copied().filter(|e| e.date_ge("period", lo) && e.date_lt("period", hi)));
    out.push(q("Encounter period overlapping 2019", "/Encounter?date=ge2019-01-01T00:00:00Z&date=lt2020-01-01T00:00:00Z".into(), Want::Ids(want)));
    let pracs = d.of("Practitioner");
    let npi_prac = d.get(&prac).expect("practitioner");
    let npi = npi_prac.str_at(&["identifier", "value"]).expect("npi").to_string();
    out.push(q("Practitioner by NPI", format!("/Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|{npi}"), Want::Ids(ids(pracs.iter().copied().filter(|p| p.str_at(&["identifier", "value"]) == Some(npi.as_str()))))));
    let emer: BTreeSet<String> = ids(encs.iter().copied().filter(|e| e.str_at(&["class", "code"]) == Some("EMER")));
    let want = ids(obs.iter().copied().filter(|o| o.ref_at("encounter").is_some_and(|e| emer.contains(&e))));
    out.push(q("Observation chained encounter.class", "/Observation?encounter.class=EMER".into(), Want::Ids(want)));
    let requester = meds.iter().find(|m| m.ref_at("subject").as_ref() == Some(&busy)).and_then(|m| m.ref_at("requester")).expect("a requester");
    let want = ids(meds.iter().copied().filter(|m| m.ref_at("requester").as_ref() == Some(&requester) && m.str_at(&["intent"]) == Some("order")));
    out.push(q("MedicationRequest by requester + intent", format!("/MedicationRequest?requester={requester}&intent=order"), Want::Ids(want)));
    let want = ids(d.of("Claim").into_iter().filter(|c| c.ref_at("patient").as_ref() == Some(&busy)));
    out.push(q("Claim of a patient", format!("/Claim?patient={busy}"), Want::Ids(want)));

    // Compartment, paging through everything, counts.
    let want = ids(obs.iter().copied().filter(|o| o.patient().as_ref() == Some(&median)));
    out.push(q("Patient compartment Observation", format!("/Patient/{}/Observation", median.trim_start_matches("Patient/")), Want::Ids(want)));
    out.push(q("All Observations, _count=1000 and next links", "/Observation?_count=1000".into(), Want::Ids(ids(obs.iter().copied()))));
    out.push(q("Observation _summary=count", "/Observation?_summary=count".into(), Want::Count(obs.len() as u64)));
    out.push(q("Encounter _summary=count", "/Encounter?_summary=count".into(), Want::Count(encs.len() as u64)));
    for query in &mut out {
        query.known_failure = KNOWN_FAILURES.iter().find(|(prefix, _)| query.name.starts_with(prefix)).map(|(_, why)| *why);
    }
    out
}

/// A value (3 decimals) in the widest gap between data values near the `at` quantile, at
/// least each value's own precision (half a unit of its last decimal) plus 0.001 away from both.
fn pick_threshold(vals: &[(&Res, f64, i32)], at: f64) -> String {
    let mut v: Vec<(f64, i32)> = vals.iter().map(|(_, v, d)| (*v, *d)).collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v.dedup_by(|a, b| a.0 == b.0);
    assert!(v.len() >= 2, "too few values to pick a threshold");
    let half = |d: i32| 0.5 * 10f64.powi(-d);
    let start = ((v.len() as f64 * at) as usize).min(v.len() - 2);
    for i in (start..v.len() - 1).chain((0..start).rev()) {
        let (a, b) = (v[i], v[i + 1]);
        let x = ((a.0 + b.0) / 2.0 * 1000.0).round() / 1000.0;
        if x - a.0 > half(a.1) + 0.001 && b.0 - x > half(b.1) + 0.001 {
            return format!("{x:.3}");
        }
    }
    panic!("no threshold far enough from the data values")
}

fn bunzip_json(path: &PathBuf) -> Value {
    let out = std::process::Command::new("bzcat").arg(path).output().unwrap_or_else(|e| {
        panic!("cannot run `bzcat` to decompress {} ({e}); install bzip2 (apt-get install bzip2)", path.display())
    });
    assert!(out.status.success(), "bzcat {} failed: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}
