//! Conformance points other servers' suites check: `$versions`, the CapabilityStatement's
//! caching headers and shaping, `If-None-Match: *` on PUT, ids made of dots.
mod common;

use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn versions_and_capability_statement_caching() {
    let s = tokio::task::block_in_place(common::TestServer::start);
    let r = s.get("/$versions").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["resourceType"], "Parameters");
    assert_eq!(v["parameter"][0], json!({"name": "version", "valueCode": "4.0"}));
    assert_eq!(v["parameter"][1], json!({"name": "default", "valueCode": "4.0"}));
    assert_eq!(s.send(s.req(Method::POST, "/$versions")).await.status, 405);

    let first = s.get("/metadata").await;
    assert_eq!(first.status, 200);
    let etag = first.header("etag").expect("an ETag");
    assert!(etag.starts_with("W/\""), "{etag}");
    assert!(first.header("last-modified").is_some());
    let again = s.get("/metadata").await;
    assert_eq!(again.header("etag"), Some(etag.clone()), "the same statement keeps its ETag");
    let r = s.send(s.req(Method::GET, "/metadata").header("if-none-match", etag.as_str())).await;
    assert_eq!(r.status, 304);
    assert!(r.text().is_empty());
    let r = s.send(s.req(Method::GET, "/metadata").header("if-none-match", "W/\"other\"")).await;
    assert_eq!(r.status, 200);

    let r = s.get("/metadata?_summary=true").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cs = r.json();
    assert!(cs.get("rest").is_some() && cs.get("fhirVersion").is_some(), "summary elements stay: {}", common::truncate(&r.text(), 400));
    assert!(cs["meta"]["tag"].as_array().is_some_and(|t| t.iter().any(|x| x["code"] == "SUBSETTED")));
    assert_ne!(r.header("etag"), Some(etag.clone()), "another representation, another ETag");
    let r = s.get("/metadata?_elements=fhirVersion,format").await;
    let cs = r.json();
    assert!(cs.get("fhirVersion").is_some() && cs.get("format").is_some() && cs.get("rest").is_none(), "{}", common::truncate(&r.text(), 400));
    assert_eq!(s.get("/metadata?_summary=bogus").await.status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn if_none_match_star_creates_only() {
    let s = tokio::task::block_in_place(common::TestServer::start);
    let p = json!({"resourceType": "Patient", "id": "inm", "active": true});
    let put = |body: &serde_json::Value| common::json_body(s.req(Method::PUT, "/Patient/inm").header("if-none-match", "*"), body);
    let r = s.send(put(&p)).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let mut changed = p.clone();
    changed["active"] = json!(false);
    let r = s.send(put(&changed)).await;
    assert_eq!(r.status, 412, "{}", r.text());
    r.expect_outcome("If-None-Match: * on an existing resource");
    let r = s.get("/Patient/inm").await;
    assert_eq!(r.json()["active"], true, "nothing was written");
    assert_eq!(r.json()["meta"]["versionId"], "1");
    let both = common::json_body(s.req(Method::PUT, "/Patient/inm").header("if-none-match", "*").header("if-match", "W/\"1\""), &changed);
    assert_eq!(s.send(both).await.status, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn ids_made_of_dots_are_refused() {
    let s = tokio::task::block_in_place(common::TestServer::start);
    for id in [".", "..", "...", "%2E%2E"] {
        let body = json!({"resourceType": "Patient", "id": id.replace("%2E", ".")});
        let r = s.put_json(&format!("/Patient/{id}"), &body).await;
        // `.` and `..` may already be resolved by the client's URL parser (then 405: no id).
        assert!((400..=405).contains(&r.status), "PUT Patient/{id}: {} {}", r.status, r.text());
        r.expect_outcome(id);
    }
    let r = s.post_json("/Patient", &json!({"resourceType": "Patient"})).await;
    assert_eq!(r.status, 201);
    // In a body sent to a valid URL, and in a transaction.
    let r = s.post_json("/Patient/$validate", &json!({"resourceType": "Patient", "id": ".."})).await;
    let issues = r.json()["issue"].as_array().cloned().unwrap_or_default();
    assert!(issues.iter().any(|i| i["severity"] == "error" && i["expression"][0] == "Patient.id"), "{}", r.text());
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": ".."}, "request": {"method": "PUT", "url": "Patient/.."}}]});
    let r = s.post_json("", &tx).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(s.system_history_count().await, 1, "only the one valid create is stored");
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_that_change_nothing_make_no_version() {
    let s = tokio::task::block_in_place(common::TestServer::start);
    let p = json!({"resourceType": "Patient", "id": "same", "active": true, "identifier": [{"system": "urn:x", "value": "s1"}]});
    assert_eq!(s.put_json("/Patient/same", &p).await.status, 201);
    let version = |r: &common::Resp| r.json()["meta"]["versionId"].as_str().unwrap_or("").to_string();
    // Plain PUT, also with meta the client carried over from a read.
    let r = s.put_json("/Patient/same", &p).await;
    assert_eq!((r.status, version(&r)), (200, "1".to_string()), "{}", r.text());
    let mut with_meta = s.get("/Patient/same").await.json();
    with_meta["meta"]["lastUpdated"] = json!("2020-01-01T00:00:00Z");
    assert_eq!(version(&s.put_json("/Patient/same", &with_meta).await), "1");
    // With If-Match of the current version; a stale one is still 412.
    let r = s.send(common::json_body(s.req(Method::PUT, "/Patient/same").header("if-match", "W/\"1\""), &p)).await;
    assert_eq!((r.status, version(&r)), (200, "1".to_string()));
    assert_eq!(s.send(common::json_body(s.req(Method::PUT, "/Patient/same").header("if-match", "W/\"7\""), &p)).await.status, 412);
    // Conditional PUT and PATCH.
    let r = s.put_json("/Patient?identifier=urn:x|s1", &p).await;
    assert_eq!((r.status, version(&r)), (200, "1".to_string()), "{}", r.text());
    let patch = s.req(Method::PATCH, "/Patient/same").header("content-type", "application/json-patch+json").body(json!([{"op": "replace", "path": "/active", "value": true}]).to_string());
    let r = s.send(patch).await;
    assert_eq!((r.status, version(&r)), (200, "1".to_string()), "{}", r.text());
    assert_eq!(s.history_entries("/Patient/same/_history").await.len(), 1);
    // A real change still makes version 2.
    let mut changed = p.clone();
    changed["active"] = json!(false);
    assert_eq!(version(&s.put_json("/Patient/same", &changed).await), "2");
}

#[tokio::test(flavor = "multi_thread")]
async fn numbers_out_of_range_are_refused() {
    let s = tokio::task::block_in_place(common::TestServer::start);
    let body = r#"{"resourceType":"Observation","id":"big","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e999}}"#;
    let r = s.send(s.req(Method::PUT, "/Observation/big").header("content-type", "application/fhir+json").body(body)).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("out of range"), "{}", r.text());
    let tx = format!(r#"{{"resourceType":"Bundle","type":"transaction","entry":[{{"resource":{body},"request":{{"method":"PUT","url":"Observation/big"}}}}]}}"#);
    let r = s.send(s.req(Method::POST, "").header("content-type", "application/fhir+json").body(tx)).await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(s.get("/Observation/big").await.status, 404);
    let small = r#"{"resourceType":"Observation","id":"small","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e-300}}"#;
    assert_eq!(s.send(s.req(Method::PUT, "/Observation/small").header("content-type", "application/fhir+json").body(small)).await.status, 201);
}
