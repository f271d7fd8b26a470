//! `Patient/[id]/$everything` and `Patient/$everything` over HTTP, on either backend.
mod auth_support;
mod common;

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

async fn put(s: &common::TestServer, path: &str, body: Value) {
    let r = s.put_json(path, &body).await;
    assert!(r.status == 200 || r.status == 201, "seed {path}: {} {}", r.status, r.text());
}

async fn seed(s: &common::TestServer) {
    put(s, "/Patient/p1", json!({"resourceType": "Patient", "id": "p1", "managingOrganization": {"reference": "Organization/o1"}})).await;
    put(s, "/Patient/p2", json!({"resourceType": "Patient", "id": "p2"})).await;
    put(s, "/Organization/o1", json!({"resourceType": "Organization", "id": "o1", "name": "Clinic"})).await;
    put(s, "/Organization/o2", json!({"resourceType": "Organization", "id": "o2", "name": "Other"})).await;
    put(s, "/Practitioner/pr1", json!({"resourceType": "Practitioner", "id": "pr1"})).await;
    put(s, "/Medication/m1", json!({"resourceType": "Medication", "id": "m1", "code": {"text": "metformin"}})).await;
    put(s, "/Encounter/e1", json!({"resourceType": "Encounter", "id": "e1", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/p1"}, "participant": [{"individual": {"reference": "Practitioner/pr1"}}],
        "serviceProvider": {"reference": "Organization/o1"}})).await;
    for (id, patient, date) in [("obs1", "p1", "2020-01-10"), ("obs2", "p1", "2023-06-01"), ("obs3", "p2", "2023-06-01")] {
        put(s, &format!("/Observation/{id}"), json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"text": "x"},
            "subject": {"reference": format!("Patient/{patient}")}, "effectiveDateTime": date,
            "performer": [{"reference": if patient == "p1" { "Practitioner/pr1" } else { "Organization/o2" }}]})).await;
    }
    put(s, "/MedicationRequest/mr1", json!({"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/m1"}})).await;
}

fn ids(b: &Value) -> Vec<String> {
    b["entry"].as_array().map(|a| a.iter().map(|e| format!("{}/{}", e["resource"]["resourceType"].as_str().unwrap_or(""), e["resource"]["id"].as_str().unwrap_or(""))).collect()).unwrap_or_default()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Every page, following `next`.
async fn all_pages(s: &common::TestServer, path: &str) -> (Vec<String>, u64) {
    let first = s.get(path).await;
    assert_eq!(first.status, 200, "{path}: {}", first.text());
    let mut b = first.json();
    let total = b["total"].as_u64().expect("total");
    let mut out = ids(&b);
    while let Some(next) = common::next_link(&b) {
        let r = s.get(&next).await;
        assert_eq!(r.status, 200, "{next}: {}", r.text());
        b = r.json();
        out.extend(ids(&b));
    }
    (out, total)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_patients_compartment_and_what_it_refers_to() {
    let s = tokio::task::block_in_place(common::TestServer::start);
    seed(&s).await;
    let want = set(&["Patient/p1", "Encounter/e1", "Observation/obs1", "Observation/obs2", "MedicationRequest/mr1",
        "Organization/o1", "Practitioner/pr1", "Medication/m1"]);
    let (got, total) = all_pages(&s, "/Patient/p1/$everything").await;
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want, "{got:?}");
    assert_eq!(got.len(), want.len(), "no duplicates: {got:?}");
    assert_eq!(total as usize, want.len());
    assert_eq!(got[0], "Patient/p1", "the patient first");
    // Paged with _count: the same set, each once.
    let (paged, _) = all_pages(&s, "/Patient/p1/$everything?_count=3").await;
    assert_eq!(paged.len(), want.len(), "{paged:?}");
    assert_eq!(paged.iter().cloned().collect::<BTreeSet<_>>(), want);
    // _type
    let (typed, _) = all_pages(&s, "/Patient/p1/$everything?_type=Observation,Patient").await;
    assert_eq!(typed.iter().cloned().collect::<BTreeSet<_>>(), set(&["Patient/p1", "Observation/obs1", "Observation/obs2"]));
    // start / end through care dates
    let (dated, _) = all_pages(&s, "/Patient/p1/$everything?_type=Observation&start=2023-01-01&end=2023-12-31").await;
    assert_eq!(dated, vec!["Observation/obs2".to_string()]);
    // POST with a Parameters body
    let body = json!({"resourceType": "Parameters", "parameter": [{"name": "_type", "valueString": "Observation"}]});
    let r = s.post_json("/Patient/p1/$everything", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ids(&r.json()).into_iter().collect::<BTreeSet<_>>(), set(&["Observation/obs1", "Observation/obs2"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn since_type_level_and_bad_input() {
    let s = tokio::task::block_in_place(common::TestServer::start);
    seed(&s).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mark = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    put(&s, "/Observation/obs1", json!({"resourceType": "Observation", "id": "obs1", "status": "amended", "code": {"text": "x"},
        "subject": {"reference": "Patient/p1"}})).await;
    let (since, _) = all_pages(&s, &format!("/Patient/p1/$everything?_since={}", common::qenc(&mark))).await;
    assert_eq!(since, vec!["Observation/obs1".to_string()]);
    // Type level: every patient.
    let (all, _) = all_pages(&s, "/Patient/$everything?_type=Patient,Observation").await;
    assert_eq!(all.iter().cloned().collect::<BTreeSet<_>>(), set(&["Patient/p1", "Patient/p2", "Observation/obs1", "Observation/obs2", "Observation/obs3"]));
    assert_eq!(s.get("/Patient/nobody/$everything").await.status, 404);
    for bad in ["?start=notadate", "?_type=Nope", "?bogus=1", "?_count=-1", "?_cursor=x"] {
        let r = s.get(&format!("/Patient/p1/$everything{bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        r.expect_outcome(bad);
    }
    assert_eq!(s.send(s.req(Method::DELETE, "/Patient/p1/$everything")).await.status, 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_confined_token_gets_only_its_own_patient() {
    let (s, _jwks) = auth_support::start(&[]).await;
    let prac = auth_support::practitioner();
    for (path, body) in [
        ("/Patient/p1", json!({"resourceType": "Patient", "id": "p1"})),
        ("/Patient/p2", json!({"resourceType": "Patient", "id": "p2", "name": [{"family": "Secretson"}]})),
        ("/Practitioner/pr1", json!({"resourceType": "Practitioner", "id": "pr1"})),
        ("/Observation/obs1", json!({"resourceType": "Observation", "id": "obs1", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/p1"}, "performer": [{"reference": "Practitioner/pr1"}]})),
        ("/Observation/obs3", json!({"resourceType": "Observation", "id": "obs3", "status": "final", "code": {"text": "Secretson"}, "subject": {"reference": "Patient/p2"}})),
    ] {
        let r = auth_support::call(&s, Method::PUT, path, Some(&prac), Some(&body)).await;
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let tok = auth_support::token(json!({"scope": "patient/*.rs", "patient": "p1"}));
    let r = auth_support::call(&s, Method::GET, "/Patient/p1/$everything", Some(&tok), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The Practitioner is outside a patient scope's compartment: left out.
    assert_eq!(ids(&r.json()).into_iter().collect::<BTreeSet<_>>(), set(&["Patient/p1", "Observation/obs1"]));
    for path in ["/Patient/p2/$everything", "/Patient/$everything"] {
        let r = auth_support::call(&s, Method::GET, path, Some(&tok), None).await;
        auth_support::assert_denied(&r, 403, path, &["Secretson"]);
    }
    let r = auth_support::call(&s, Method::GET, "/Patient/p1/$everything", Some(&prac), None).await;
    assert_eq!(ids(&r.json()).len(), 3, "{}", r.text());
}
