//! Conditional create, update, delete and patch over HTTP, with the spec's 0/1/many outcomes
//! and concurrency.
mod common;

use common::{TestServer, FHIR_JSON};
use serde_json::{json, Value};

async fn total(s: &TestServer, query: &str) -> u64 {
    let r = s.get(query).await;
    r.expect(200, query);
    r.json()["total"].as_u64().unwrap_or_else(|| panic!("no total for {query}"))
}

fn patient(value: &str) -> Value {
    json!({"resourceType": "Patient", "identifier": [{"system": "urn:c", "value": value}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_concurrent_conditional_creates_make_one_resource() {
    let s = std::sync::Arc::new(TestServer::start());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let rb = common::json_body(s.req(reqwest::Method::POST, "/Patient"), &patient("race")).header("If-None-Exist", "identifier=urn:c|race");
            s.send(rb).await
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.expect("task");
        assert!(r.status == 201 || r.status == 200, "status {}: {}", r.status, r.text());
        if r.status == 201 {
            created += 1;
        }
        ids.insert(r.json()["id"].as_str().expect("id").to_string());
    }
    assert_eq!(created, 1, "exactly one create");
    assert_eq!(ids.len(), 1, "every answer names the same resource");
    assert_eq!(total(&s, "/Patient?identifier=urn:c|race").await, 1);
    assert_eq!(total(&s, "/Patient").await, 1);
}

#[tokio::test]
async fn conditional_create_outcomes() {
    let s = TestServer::start();
    let post = |v: &str, crit: &str| common::json_body(s.req(reqwest::Method::POST, "/Patient"), &patient(v)).header("If-None-Exist", crit.to_string());
    let r = s.send(post("a", "identifier=urn:c|a")).await;
    r.expect(201, "no match creates");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = s.send(post("a", "identifier=urn:c|a")).await;
    r.expect(200, "one match returns it");
    assert_eq!(r.json()["id"], id.as_str());
    s.post_json("/Patient", &patient("a")).await.expect(201, "plain create");
    let r = s.send(post("a", "identifier=urn:c|a")).await;
    r.expect(412, "two matches");
    r.expect_outcome("412");
    let r = s.send(post("b", "nonsense-param=1")).await;
    r.expect(400, "unknown parameter");
    r.expect_outcome("400");
    assert_eq!(total(&s, "/Patient").await, 2);
}

#[tokio::test]
async fn conditional_update_outcomes() {
    let s = TestServer::start();
    let r = s.put_json("/Patient?identifier=urn:c|u", &json!({"resourceType": "Patient", "identifier": [{"system": "urn:c", "value": "u"}], "active": true})).await;
    r.expect(201, "no match creates");
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = s.put_json("/Patient?identifier=urn:c|u", &json!({"resourceType": "Patient", "identifier": [{"system": "urn:c", "value": "u"}], "active": false})).await;
    r.expect(200, "one match updates");
    assert_eq!(r.json()["id"], id.as_str());
    assert_eq!(r.etag_version(), "2");
    let r = s.put_json("/Patient?identifier=urn:c|u", &json!({"resourceType": "Patient", "id": "other", "active": false})).await;
    r.expect(400, "body id differs from the match");
    s.post_json("/Patient", &patient("u")).await.expect(201, "second");
    let r = s.put_json("/Patient?identifier=urn:c|u", &patient("u")).await;
    r.expect(412, "two matches");
    let r = s.put_json("/Patient", &patient("u")).await;
    assert!(r.status == 405 || r.status == 400, "no criteria: {}", r.status);
}

#[tokio::test]
async fn conditional_delete_single_and_multiple() {
    let s = TestServer::start();
    s.post_json("/Patient", &patient("d1")).await.expect(201, "c");
    s.post_json("/Patient", &patient("d2")).await.expect(201, "c");
    s.post_json("/Patient", &patient("d2")).await.expect(201, "c");
    s.delete("/Patient?identifier=urn:c|none").await.expect(204, "no match");
    s.delete("/Patient?identifier=urn:c|d1").await.expect(204, "one match");
    assert_eq!(total(&s, "/Patient?identifier=urn:c|d1").await, 0);
    let r = s.delete("/Patient?identifier=urn:c|d2").await;
    r.expect(412, "several without the setting");
    r.expect_outcome("412");
    assert_eq!(total(&s, "/Patient?identifier=urn:c|d2").await, 2);
    let m = TestServer::start_with_args(&["--conditional-delete-multiple"]);
    m.post_json("/Patient", &patient("d2")).await.expect(201, "c");
    m.post_json("/Patient", &patient("d2")).await.expect(201, "c");
    m.delete("/Patient?identifier=urn:c|d2").await.expect(204, "several when configured");
    assert_eq!(total(&m, "/Patient?identifier=urn:c|d2").await, 0);
}

#[tokio::test]
async fn conditional_patch_outcomes() {
    let s = TestServer::start();
    let patch = json!([{"op": "add", "path": "/active", "value": true}]);
    let send = |crit: &str| {
        s.req(reqwest::Method::PATCH, &format!("/Patient?{crit}")).header("content-type", "application/json-patch+json").header("accept", FHIR_JSON).body(patch.to_string())
    };
    s.send(send("identifier=urn:c|p")).await.expect(404, "no match");
    s.post_json("/Patient", &patient("p")).await.expect(201, "c");
    let r = s.send(send("identifier=urn:c|p")).await;
    r.expect(200, "one match");
    assert_eq!(r.json()["active"], true);
    s.post_json("/Patient", &patient("p")).await.expect(201, "c");
    s.send(send("identifier=urn:c|p")).await.expect(412, "two matches");
}
