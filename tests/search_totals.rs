//! Totals and default-order pages of searches while a store holds one tenant, and again
//! once a second tenant writes (the embedded index answers the first case from the index alone).
mod common;

use common::*;
use serde_json::{json, Value};

fn observation(code: &str, status: &str, family_ref: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": status,
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": family_ref}
    })
}

async fn total(s: &TestServer, path: &str) -> u64 {
    let r = s.get(path).await;
    r.expect(200, path);
    r.json()["total"].as_u64().unwrap_or_else(|| panic!("no total for {path}"))
}

/// The ids of every match, following `next` links, and the same walking back with `previous`.
async fn walk(s: &TestServer, path: &str) -> (Vec<String>, Vec<String>) {
    let ids = |b: &Value| -> Vec<String> {
        b["entry"].as_array().map(|es| es.iter().map(|e| e["resource"]["id"].as_str().unwrap_or("").to_string()).collect()).unwrap_or_default()
    };
    let link = |b: &Value, rel: &str| -> Option<String> {
        b["link"].as_array()?.iter().find(|l| l["relation"] == rel).and_then(|l| l["url"].as_str()).map(str::to_string)
    };
    let (mut forward, mut url, mut last) = (Vec::new(), Some(s.url(path)), Value::Null);
    while let Some(u) = url.take() {
        let b = s.get(&u).await.json();
        forward.extend(ids(&b));
        url = link(&b, "next");
        last = b;
        assert!(forward.len() < 100, "paging does not end");
    }
    let mut backward = ids(&last);
    let mut url = link(&last, "previous");
    while let Some(u) = url.take() {
        let b = s.get(&u).await.json();
        let mut page = ids(&b);
        page.extend(backward);
        backward = page;
        url = link(&b, "previous");
        assert!(backward.len() < 100, "paging back does not end");
    }
    (forward, backward)
}

#[tokio::test]
async fn totals_and_pages_with_one_tenant_then_two() {
    let s = TestServer::start();
    let p = s.post_json("/Patient", &json!({"resourceType": "Patient", "name": [{"family": "Quill"}]})).await.json();
    let pref = format!("Patient/{}", p["id"].as_str().expect("patient id"));
    let mut ids = Vec::new();
    for (code, status) in [("1-1", "final"), ("1-1", "amended"), ("2-2", "final"), ("1-1", "final")] {
        let r = s.post_json("/Observation", &observation(code, status, &pref)).await;
        r.expect(201, "create observation");
        ids.push(r.json()["id"].as_str().expect("id").to_string());
    }
    // The same code twice in one resource: one match, not two.
    let mut twice = observation("1-1", "final", &pref);
    twice["code"]["coding"] = json!([{"system": "http://loinc.org", "code": "1-1"}, {"system": "http://loinc.org", "code": "1-1"}]);
    let r = s.post_json("/Observation", &twice).await;
    r.expect(201, "create observation with a repeated coding");
    ids.push(r.json()["id"].as_str().expect("id").to_string());

    let code = "/Observation?code=http://loinc.org|1-1";
    assert_eq!(total(&s, code).await, 4);
    assert_eq!(total(&s, &format!("{code}&_summary=count")).await, 4);
    assert_eq!(total(&s, &format!("{code}&status=final")).await, 3);
    assert_eq!(total(&s, "/Observation?subject.family=Quill").await, 5);
    assert_eq!(total(&s, "/Observation?subject.family=Quill&code=2-2").await, 1);
    let expected: Vec<String> = [0, 1, 3, 4].iter().map(|i| ids[*i].clone()).collect();
    let (forward, backward) = walk(&s, &format!("{code}&_count=1")).await;
    assert_eq!(forward, expected, "pages of one in creation order");
    assert_eq!(backward, expected, "the same pages walking back");
    let (forward, _) = walk(&s, &format!("{code}&_count=3")).await;
    assert_eq!(forward, expected);

    s.delete(&format!("/Observation/{}", ids[1])).await.expect(204, "delete");
    assert_eq!(total(&s, code).await, 3, "a deleted resource is not counted");
    id_searches(&s, &ids).await;

    // A second tenant writes the same codes: neither tenant counts the other's resources.
    let b = format!("{}/tenant/b/fhir", s.root);
    for _ in 0..2 {
        s.send(json_body(s.req(reqwest::Method::POST, &format!("{b}/Observation")), &observation("1-1", "final", "Patient/elsewhere"))).await.expect(201, "create in b");
    }
    assert_eq!(total(&s, code).await, 3);
    assert_eq!(total(&s, &format!("{b}{code}")).await, 2);
    assert_eq!(total(&s, &format!("{b}{code}&_summary=count")).await, 2);
    let (forward, backward) = walk(&s, &format!("{code}&_count=2")).await;
    assert_eq!(forward, vec![ids[0].clone(), ids[3].clone(), ids[4].clone()]);
    assert_eq!(backward, forward);
    id_searches(&s, &ids).await;
    assert_eq!(total(&s, &format!("{b}/Observation?_id={}", ids[0])).await, 0, "another tenant's id");
}

/// `_id` (answered from the resources' own table, not from index rows) with the fifth
/// observation `ids[1]` deleted.
async fn id_searches(s: &TestServer, ids: &[String]) {
    let q = |query: String| format!("/Observation?{query}");
    assert_eq!(total(s, &q(format!("_id={}", ids[0]))).await, 1);
    assert_eq!(total(s, &q(format!("_id={},{}", ids[0], ids[2]))).await, 2);
    assert_eq!(total(s, &q(format!("_id={}", ids[1]))).await, 0, "a deleted resource");
    assert_eq!(total(s, &q(format!("_id={}&code=2-2", ids[0]))).await, 0);
    assert_eq!(total(s, &q(format!("_id={}&code=2-2", ids[2]))).await, 1);
    assert_eq!(total(s, &q(format!("_id=|{}", ids[0]))).await, 1, "no system");
    assert_eq!(total(s, &q(format!("_id=http://x|{}", ids[0]))).await, 0, "ids have no system");
    assert_eq!(total(s, &q(format!("_id:not={}&code=http://loinc.org|1-1", ids[0]))).await, 2);
    assert_eq!(total(s, &q("_id:missing=false&code=http://loinc.org|1-1".into())).await, 3);
    assert_eq!(total(s, &q("_id:missing=true".into())).await, 0);
    assert_eq!(total(s, &format!("/Patient?_id={}", ids[0])).await, 0, "an id of another type");
}
