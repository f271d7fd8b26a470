//! Every REST interaction and HTTP header of the FHIR R4 core, over real HTTP.
mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"family": family, "given": ["Ann"]}], "gender": "female"})
}

fn last_updated(v: &Value) -> String {
    v["meta"]["lastUpdated"]
        .as_str()
        .unwrap_or_else(|| panic!("no meta.lastUpdated in {v}"))
        .to_string()
}

async fn create(s: &TestServer, ty: &str, body: &Value) -> (String, Value) {
    let r = s.post_json(&format!("/{ty}"), body).await;
    r.expect(201, &format!("POST /{ty}"));
    let v = r.json();
    (v["id"].as_str().expect("created id").to_string(), v)
}

#[tokio::test]
async fn health_is_ok() {
    let s = TestServer::start();
    let r = s.send(s.client.get(format!("{}/health", s.root))).await;
    r.expect(200, "GET /health");
}

#[tokio::test]
async fn create_assigns_id_version_and_headers() {
    let s = TestServer::start();
    let mut body = patient("Create");
    body["id"] = json!("client-chosen");
    body["meta"] = json!({"versionId": "7", "lastUpdated": "2001-01-01T00:00:00Z", "tag": [{"code": "t1"}]});
    let r = s.post_json("/Patient", &body).await;
    r.expect(201, "create");
    let v = r.json();
    let id = v["id"].as_str().expect("id").to_string();
    assert_ne!(id, "client-chosen", "server must ignore the id in a create body");
    assert!(
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
        "server-assigned id {id:?} is not a valid FHIR id"
    );
    assert_eq!(v["meta"]["versionId"], "1");
    assert_ne!(last_updated(&v), "2001-01-01T00:00:00Z", "lastUpdated is server-managed");
    assert_eq!(v["meta"]["tag"], json!([{"code": "t1"}]), "meta.tag must be kept");
    assert_eq!(v["name"], body["name"]);
    assert_eq!(v["gender"], "female");
    let loc = r.header("location").expect("Location header");
    assert!(
        loc.ends_with(&format!("/fhir/Patient/{id}/_history/1")),
        "Location {loc:?} must be <base>/Patient/{id}/_history/1"
    );
    assert_eq!(r.header("etag").as_deref(), Some("W/\"1\""));
    let lm = r.header("last-modified").expect("Last-Modified");
    httpdate::parse_http_date(&lm).unwrap_or_else(|e| panic!("Last-Modified {lm:?}: {e}"));
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/fhir+json"), "Content-Type {ct:?}");

    // read returns exactly what create returned
    let g = s.get(&format!("/Patient/{id}")).await;
    g.expect(200, "read after create");
    assert_eq!(g.json(), v);
    assert_eq!(g.header("etag").as_deref(), Some("W/\"1\""));
    let lm2 = g.header("last-modified").expect("Last-Modified on read");
    assert_eq!(lm2, lm);
    // Last-Modified agrees with meta.lastUpdated (to the second)
    let lu = chrono::DateTime::parse_from_rfc3339(&last_updated(&v)).expect("lastUpdated is an instant");
    let lm_t = httpdate::parse_http_date(&lm).unwrap();
    let lm_secs = lm_t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_eq!(lm_secs, lu.timestamp(), "Last-Modified {lm} vs meta.lastUpdated {}", last_updated(&v));
}

#[tokio::test]
async fn read_unknown_id_and_type_are_404() {
    let s = TestServer::start();
    let r = s.get("/Patient/does-not-exist").await;
    r.expect(404, "unknown id");
    r.expect_outcome("unknown id");
    let r = s.get("/NotAType/1").await;
    r.expect(404, "unknown type");
    r.expect_outcome("unknown type");
    for path in ["/NotAType/_history", "/NotAType/1/_history", "/Patient/1/_history/1/extra/segments"] {
        let r = s.get(path).await;
        assert!((400..500).contains(&r.status), "GET {path} -> {}", r.status);
        r.expect_outcome(path);
    }
    let r = s.get("/Patient/does-not-exist/_history/1").await;
    r.expect(404, "vread of unknown id");
    r.expect_outcome("vread of unknown id");
}

#[tokio::test]
async fn update_versions_and_update_as_create() {
    let s = TestServer::start();
    let (id, v1) = create(&s, "Patient", &patient("One")).await;
    let mut body = v1.clone();
    body["name"][0]["family"] = json!("Two");
    let r = s.put_json(&format!("/Patient/{id}"), &body).await;
    r.expect(200, "update");
    assert_eq!(r.header("etag").as_deref(), Some("W/\"2\""));
    assert!(r.header("last-modified").is_some(), "Last-Modified on update");
    let v2 = r.json();
    assert_eq!(v2["meta"]["versionId"], "2");
    assert_eq!(v2["name"][0]["family"], "Two");
    assert_eq!(v2["id"], json!(id));
    let g = s.get(&format!("/Patient/{id}")).await;
    g.expect(200, "read v2");
    assert_eq!(g.json(), v2);
    // vread still returns the first version
    let g1 = s.get(&format!("/Patient/{id}/_history/1")).await;
    g1.expect(200, "vread v1");
    assert_eq!(g1.json(), v1);
    assert_eq!(g1.header("etag").as_deref(), Some("W/\"1\""));

    // update-as-create with a client id
    let mut nb = patient("Client");
    nb["id"] = json!("client-id-1.a");
    let r = s.put_json("/Patient/client-id-1.a", &nb).await;
    r.expect(201, "update as create");
    assert_eq!(r.header("etag").as_deref(), Some("W/\"1\""));
    let loc = r.header("location").expect("Location on update-as-create");
    assert!(loc.ends_with("/fhir/Patient/client-id-1.a/_history/1"), "Location {loc}");
    let c = r.json();
    assert_eq!(c["id"], "client-id-1.a");
    assert_eq!(c["meta"]["versionId"], "1");

    // a 64-character id is allowed
    let long_id = "a".repeat(64);
    let mut lb = patient("Long");
    lb["id"] = json!(long_id);
    s.put_json(&format!("/Patient/{long_id}"), &lb).await.expect(201, "64-char id");
}

#[tokio::test]
async fn put_id_and_type_mismatch_are_400() {
    let s = TestServer::start();
    let mut b = patient("X");
    b["id"] = json!("other");
    let r = s.put_json("/Patient/mine", &b).await;
    r.expect(400, "body id differs from URL id");
    r.expect_outcome("id mismatch");
    let r = s.put_json("/Patient/mine", &patient("X")).await;
    r.expect(400, "body without id on PUT");
    r.expect_outcome("missing id");
    let r = s
        .put_json("/Patient/mine", &json!({"resourceType": "Observation", "id": "mine", "status": "final", "code": {"text": "x"}}))
        .await;
    r.expect(400, "resourceType differs from URL");
    r.expect_outcome("type mismatch");
    s.get("/Patient/mine").await.expect(404, "nothing stored");
}

#[tokio::test]
async fn delete_then_read_vread_and_recreate() {
    let s = TestServer::start();
    let (id, v1) = create(&s, "Patient", &patient("Del")).await;
    let mut b = v1.clone();
    b["gender"] = json!("male");
    s.put_json(&format!("/Patient/{id}"), &b).await.expect(200, "update");
    let r = s.delete(&format!("/Patient/{id}")).await;
    assert!(r.status == 204 || r.status == 200, "delete status {}", r.status);
    assert_eq!(r.status, 204, "delete must answer 204; body {}", r.text());

    let r = s.get(&format!("/Patient/{id}")).await;
    r.expect(410, "read after delete");
    r.expect_outcome("read after delete");
    // the deleted version
    let r = s.get(&format!("/Patient/{id}/_history/3")).await;
    r.expect(410, "vread of the deleted version");
    r.expect_outcome("vread deleted");
    // earlier versions stay readable
    s.get(&format!("/Patient/{id}/_history/1")).await.expect(200, "vread v1 after delete");
    s.get(&format!("/Patient/{id}/_history/2")).await.expect(200, "vread v2 after delete");
    // non-existent versions
    let r = s.get(&format!("/Patient/{id}/_history/99")).await;
    r.expect(404, "vread of non-existent version");
    r.expect_outcome("vread 99");

    // deleting again / deleting a missing resource is 204
    s.delete(&format!("/Patient/{id}")).await.expect(204, "delete again");
    s.delete("/Patient/never-existed").await.expect(204, "delete missing");
    s.get("/Patient/never-existed").await.expect(404, "delete of missing creates nothing");

    let hist = s.history_entries(&format!("/Patient/{id}/_history")).await;
    let deleted_versions = hist.len();
    // PUT after delete re-creates with a higher version
    let mut nb = patient("Back");
    nb["id"] = json!(id);
    let r = s.put_json(&format!("/Patient/{id}"), &nb).await;
    r.expect(201, "PUT after delete re-creates");
    let ver: u64 = r.etag_version().parse().expect("numeric version");
    assert_eq!(ver as usize, deleted_versions + 1, "version after re-create (history had {deleted_versions})");
    assert!(ver >= 4);
    let g = s.get(&format!("/Patient/{id}")).await;
    g.expect(200, "read after re-create");
    assert_eq!(g.json()["name"][0]["family"], "Back");
}

#[tokio::test]
async fn instance_history_bundle_shape() {
    let s = TestServer::start();
    let (id, v1) = create(&s, "Patient", &patient("H")).await;
    let mut b = v1.clone();
    b["gender"] = json!("male");
    s.put_json(&format!("/Patient/{id}"), &b).await.expect(200, "update");
    s.delete(&format!("/Patient/{id}")).await.expect(204, "delete");
    let mut nb = patient("H2");
    nb["id"] = json!(id);
    s.put_json(&format!("/Patient/{id}"), &nb).await.expect(201, "re-create");

    let r = s.get(&format!("/Patient/{id}/_history")).await;
    r.expect(200, "instance history");
    let bundle = r.json();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert_eq!(bundle["type"], "history");
    assert_eq!(bundle["total"], json!(4), "instance history total");
    let entries = bundle["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 4);
    let methods = ["PUT", "DELETE", "PUT", "POST"];
    for (i, e) in entries.iter().enumerate() {
        let ver = 4 - i;
        let full = e["fullUrl"].as_str().unwrap_or_else(|| panic!("entry {i} fullUrl"));
        assert!(full.contains(&format!("Patient/{id}")), "fullUrl {full}");
        assert_eq!(e["request"]["method"], methods[i], "entry {i} request.method");
        let url = e["request"]["url"].as_str().unwrap_or_else(|| panic!("entry {i} request.url"));
        assert!(url.contains("Patient"), "request.url {url}");
        assert_eq!(e["response"]["etag"], json!(format!("W/\"{ver}\"")), "entry {i} etag");
        assert!(e["response"]["lastModified"].is_string(), "entry {i} lastModified");
        let status = e["response"]["status"].as_str().unwrap_or_else(|| panic!("entry {i} status"));
        if methods[i] == "DELETE" {
            assert!(e.get("resource").is_none(), "deleted entry must have no resource: {e}");
        } else {
            assert_eq!(e["resource"]["meta"]["versionId"], json!(ver.to_string()));
            let want = if methods[i] == "PUT" && i == 2 { "200" } else { "201" };
            assert!(status.starts_with(want), "entry {i} ({}) status {status}, want {want}", methods[i]);
        }
    }
}

#[tokio::test]
async fn history_paging_type_and_system_levels() {
    let s = TestServer::start();
    let (id, v1) = create(&s, "Patient", &patient("P0")).await;
    let mut cur = v1;
    for i in 1..5 {
        cur["name"][0]["family"] = json!(format!("P{i}"));
        cur = s.put_json(&format!("/Patient/{id}"), &cur).await.expect(200, "update").json();
    }
    let (oid, _) = create(&s, "Observation", &json!({"resourceType":"Observation","status":"final","code":{"text":"t"}})).await;

    // paging: _count=2 over 5 versions
    let r = s.get(&format!("/Patient/{id}/_history?_count=2")).await;
    r.expect(200, "paged history");
    let first = r.json();
    assert_eq!(first["entry"].as_array().map(Vec::len), Some(2), "page size");
    assert!(next_link(&first).is_some(), "first page must have a next link");
    assert_eq!(first["total"], json!(5));
    let all = s.history_entries(&format!("/Patient/{id}/_history?_count=2")).await;
    let versions: Vec<String> = all
        .iter()
        .map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(versions, ["5", "4", "3", "2", "1"], "paged instance history, newest first");

    // type history only holds that type
    let th = s.history_entries("/Patient/_history?_count=3").await;
    assert_eq!(th.len(), 5);
    assert!(th.iter().all(|e| e["resource"]["resourceType"] == "Patient"));
    let oh = s.history_entries("/Observation/_history").await;
    assert_eq!(oh.len(), 1);
    assert_eq!(oh[0]["resource"]["id"], json!(oid));

    // system history holds everything, newest first
    let sh = s.history_entries("/_history?_count=2").await;
    assert_eq!(sh.len(), 6);
    assert_eq!(sh[0]["resource"]["resourceType"], "Observation");
    let times: Vec<String> = sh.iter().map(|e| last_updated(&e["resource"])).collect();
    for w in times.windows(2) {
        let a = chrono::DateTime::parse_from_rfc3339(&w[0]).unwrap();
        let b = chrono::DateTime::parse_from_rfc3339(&w[1]).unwrap();
        assert!(a >= b, "system history not newest first: {times:?}");
    }
}

#[tokio::test]
async fn history_since_and_at() {
    let s = TestServer::start();
    let (a, _) = create(&s, "Patient", &patient("A")).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (b, b1) = create(&s, "Patient", &patient("B")).await;
    let t_b1 = last_updated(&b1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut bb = b1.clone();
    bb["gender"] = json!("other");
    let b2 = s.put_json(&format!("/Patient/{b}"), &bb).await.expect(200, "update").json();
    let t_b2 = last_updated(&b2);

    // _since: versions with lastUpdated >= since
    let since = s.history_entries(&format!("/Patient/_history?_since={}", qenc(&t_b1))).await;
    let got: Vec<(String, String)> = since
        .iter()
        .map(|e| (e["resource"]["id"].as_str().unwrap().to_string(), e["resource"]["meta"]["versionId"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, [(b.clone(), "2".to_string()), (b.clone(), "1".to_string())], "_since={t_b1}");
    let since2 = s.history_entries(&format!("/_history?_since={}", qenc(&t_b2))).await;
    assert_eq!(since2.len(), 1, "system _since={t_b2}");
    let paged = s.history_entries(&format!("/Patient/_history?_since={}&_count=1", qenc(&t_b1))).await;
    assert_eq!(paged, since, "paging with _count=1 must keep _since across next links");
    let since_all = s.history_entries(&format!("/Patient/{a}/_history?_since=2000-01-01T00:00:00Z")).await;
    assert_eq!(since_all.len(), 1);

    // _at: the versions current at that time
    let mid = chrono::DateTime::parse_from_rfc3339(&t_b1).unwrap() + chrono::Duration::milliseconds(500);
    let mid = mid.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let at1 = s.history_entries(&format!("/Patient/{b}/_history?_at={}", qenc(&mid))).await;
    let v: Vec<&str> = at1.iter().map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap()).collect();
    assert_eq!(v, ["1"], "_at={mid} (between v1 and v2) must give version 1 only");
    let after = chrono::DateTime::parse_from_rfc3339(&t_b2).unwrap() + chrono::Duration::milliseconds(1500);
    let after = after.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let at2 = s.history_entries(&format!("/Patient/{b}/_history?_at={}", qenc(&after))).await;
    let v: Vec<&str> = at2.iter().map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap()).collect();
    assert_eq!(v, ["2"], "_at={after} (after v2) must give version 2 only");
    let at0 = s.history_entries(&format!("/Patient/{b}/_history?_at=2000-01-01T00:00:00Z")).await;
    assert!(at0.is_empty(), "_at before creation must be empty: {at0:?}");
    let bad = s.get("/Patient/_history?_since=not-a-date").await;
    bad.expect(400, "_since with a bad instant");
    bad.expect_outcome("bad _since");
}

#[tokio::test]
async fn capability_statement_lists_every_type() {
    let s = TestServer::start();
    let r = s.get("/metadata").await;
    r.expect(200, "metadata");
    let cs = r.json();
    assert_eq!(cs["resourceType"], "CapabilityStatement");
    assert_eq!(cs["fhirVersion"], "4.0.1");
    assert_eq!(cs["rest"][0]["mode"], "server");
    assert!(cs["status"].is_string() && cs["date"].is_string() && cs["kind"].is_string(), "status/date/kind are 1..1");
    let fmt: Vec<&str> = cs["format"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    assert!(fmt.iter().any(|f| f.contains("json")), "format {fmt:?}");
    let resources = cs["rest"][0]["resource"].as_array().expect("rest[0].resource");
    let listed: HashSet<&str> = resources.iter().filter_map(|r| r["type"].as_str()).collect();
    let mut missing = Vec::new();
    for ty in R4_RESOURCE_TYPES {
        if !listed.contains(ty) {
            missing.push(*ty);
        }
    }
    assert!(missing.is_empty(), "CapabilityStatement misses types {missing:?}");
    assert_eq!(listed.len(), R4_RESOURCE_TYPES.len(), "listed types beyond R4: {listed:?}");
    let needed = ["read", "vread", "update", "delete", "create", "history-instance", "history-type"];
    for res in resources {
        let codes: HashSet<&str> = res["interaction"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["code"].as_str()).collect())
            .unwrap_or_default();
        for n in needed {
            assert!(codes.contains(n), "{} lacks interaction {n}", res["type"]);
        }
    }
}

#[tokio::test]
async fn conditional_headers_if_match_none_match_modified_since() {
    let s = TestServer::start();
    let (id, v1) = create(&s, "Patient", &patient("C")).await;
    let path = format!("/Patient/{id}");
    let mut b = v1.clone();
    b["gender"] = json!("male");
    // If-Match right version
    let r = s.send(json_body(s.req(Method::PUT, &path), &b).header("if-match", "W/\"1\"")).await;
    r.expect(200, "If-Match current");
    // If-Match stale version
    b["gender"] = json!("other");
    let r = s.send(json_body(s.req(Method::PUT, &path), &b).header("if-match", "W/\"1\"")).await;
    r.expect(412, "If-Match stale on PUT");
    r.expect_outcome("412 PUT");
    let cur = s.get(&path).await;
    assert_eq!(cur.etag_version(), "2");
    assert_eq!(cur.json()["gender"], "male", "412 must not change the resource");
    // If-Match on DELETE
    let r = s.send(s.req(Method::DELETE, &path).header("if-match", "W/\"1\"")).await;
    r.expect(412, "If-Match stale on DELETE");
    r.expect_outcome("412 DELETE");
    s.get(&path).await.expect(200, "still there after 412 delete");

    // If-None-Match
    let r = s.send(s.req(Method::GET, &path).header("if-none-match", "W/\"2\"")).await;
    r.expect(304, "If-None-Match current");
    assert!(r.body.is_empty(), "304 has no body");
    assert_eq!(r.header("etag").as_deref(), Some("W/\"2\""), "a 304 carries the ETag a 200 would (RFC 9110 15.4.5)");
    let r = s.send(s.req(Method::GET, &path).header("if-none-match", "W/\"1\"")).await;
    r.expect(200, "If-None-Match old");

    // If-Modified-Since
    let lm = cur.header("last-modified").expect("Last-Modified");
    let r = s.send(s.req(Method::GET, &path).header("if-modified-since", &lm)).await;
    r.expect(304, "If-Modified-Since == Last-Modified");
    let future = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(3600));
    s.send(s.req(Method::GET, &path).header("if-modified-since", future)).await.expect(304, "IMS in the future");
    let r = s
        .send(s.req(Method::GET, &path).header("if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT"))
        .await;
    r.expect(200, "If-Modified-Since long ago");

    // If-Match with the current version on DELETE works
    let r = s.send(s.req(Method::DELETE, &path).header("if-match", "W/\"2\"")).await;
    r.expect(204, "If-Match current DELETE");
}

#[tokio::test]
async fn prefer_return_variants() {
    let s = TestServer::start();
    let r = s
        .send(json_body(s.req(Method::POST, "/Patient"), &patient("M")).header("prefer", "return=minimal"))
        .await;
    r.expect(201, "create minimal");
    assert!(r.body.is_empty(), "return=minimal must have an empty body: {}", r.text());
    let loc = r.header("location").expect("Location with return=minimal");
    let id = loc.split("/Patient/").nth(1).and_then(|s| s.split('/').next()).expect("id in Location").to_string();
    assert_eq!(r.header("etag").as_deref(), Some("W/\"1\""));

    let r = s
        .send(json_body(s.req(Method::POST, "/Patient"), &patient("O")).header("prefer", "return=OperationOutcome"))
        .await;
    r.expect(201, "create OperationOutcome");
    r.expect_outcome("return=OperationOutcome");

    let r = s
        .send(json_body(s.req(Method::POST, "/Patient"), &patient("R")).header("prefer", "return=representation"))
        .await;
    r.expect(201, "create representation");
    assert_eq!(r.json()["resourceType"], "Patient");

    let mut b = s.get(&format!("/Patient/{id}")).await.json();
    b["gender"] = json!("male");
    let r = s
        .send(json_body(s.req(Method::PUT, &format!("/Patient/{id}")), &b).header("prefer", "return=minimal"))
        .await;
    r.expect(200, "update minimal");
    assert!(r.body.is_empty(), "update return=minimal body: {}", r.text());
    let r = s
        .send(json_body(s.req(Method::PUT, &format!("/Patient/{id}")), &b).header("prefer", "return=OperationOutcome"))
        .await;
    r.expect(200, "update OperationOutcome");
    r.expect_outcome("update return=OperationOutcome");
}

#[tokio::test]
async fn content_negotiation_format_and_pretty() {
    let s = TestServer::start();
    let (id, _) = create(&s, "Patient", &patient("F")).await;
    let path = format!("/Patient/{id}");
    for accept in ["application/fhir+json", "application/json", "*/*", "application/fhir+json;q=0.9, */*;q=0.1"] {
        let r = s.send(s.req(Method::GET, &path).header("accept", accept)).await;
        r.expect(200, &format!("Accept {accept}"));
        assert_eq!(r.json()["id"], json!(id));
    }
    let r = s.send(s.req(Method::GET, &path).header("accept", "application/json")).await;
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.contains("json"), "Content-Type for Accept application/json: {ct}");
    for accept in ["application/fhir+xml", "application/xml", "text/turtle"] {
        let r = s.send(s.req(Method::GET, &path).header("accept", accept)).await;
        r.expect(406, &format!("Accept {accept}"));
        r.expect_outcome(&format!("406 for Accept {accept}"));
    }
    for f in ["json", "application/json", "application/fhir+json"] {
        s.get(&format!("{path}?_format={}", qenc(f))).await.expect(200, &format!("_format={f}"));
    }
    for f in ["xml", "application/fhir+xml", "ttl"] {
        let r = s.get(&format!("{path}?_format={}", qenc(f))).await;
        r.expect(406, &format!("_format={f}"));
        r.expect_outcome("406 _format");
    }
    // _format overrides Accept
    let r = s.send(s.req(Method::GET, &format!("{path}?_format=json")).header("accept", "application/fhir+xml")).await;
    r.expect(200, "_format=json overrides Accept: application/fhir+xml");
    let r = s.get("/metadata?_format=xml").await;
    r.expect(406, "metadata _format=xml");
    let r = s.get(&format!("{path}?_pretty=true")).await;
    r.expect(200, "_pretty");
    let text = r.text();
    assert!(text.contains("\n  \""), "_pretty=true must indent: {text}");
    assert_eq!(r.json()["id"], json!(id));
}

#[tokio::test]
async fn request_content_type_415_and_json_variants() {
    let s = TestServer::start();
    let body = serde_json::to_vec(&patient("CT")).unwrap();
    for ct in ["text/plain", "application/xml", "application/fhir+xml", "application/x-www-form-urlencoded"] {
        let r = s.send(s.req(Method::POST, "/Patient").header("content-type", ct).body(body.clone())).await;
        r.expect(415, &format!("POST Content-Type {ct}"));
        r.expect_outcome("415");
    }
    let mut p = patient("CT");
    p["id"] = json!("ct1");
    let r = s
        .send(s.req(Method::PUT, "/Patient/ct1").header("content-type", "text/plain").body(serde_json::to_vec(&p).unwrap()))
        .await;
    r.expect(415, "PUT text/plain");
    assert_eq!(s.system_history_count().await, 0, "415s store nothing");
    for ct in ["application/fhir+json", "application/json", "application/fhir+json; charset=utf-8", "application/json;charset=UTF-8"] {
        let r = s.send(s.req(Method::POST, "/Patient").header("content-type", ct).body(body.clone())).await;
        r.expect(201, &format!("POST Content-Type {ct}"));
    }
}

#[tokio::test]
async fn binary_raw_and_json_round_trip() {
    let s = TestServer::start();
    let mut png: Vec<u8> = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    png.extend((0..=255u8).cycle().take(5000));
    let r = s
        .send(s.req(Method::POST, "/Binary").header("content-type", "image/png").body(png.clone()))
        .await;
    r.expect(201, "POST raw Binary");
    let loc = r.header("location").expect("Location");
    let id = loc.split("/Binary/").nth(1).and_then(|x| x.split('/').next()).expect("id").to_string();

    let raw = s.send(s.req(Method::GET, &format!("/Binary/{id}")).header("accept", "image/png")).await;
    raw.expect(200, "GET Binary as image/png");
    assert_eq!(raw.header("content-type").as_deref().map(|c| c.split(';').next().unwrap().trim().to_string()), Some("image/png".to_string()));
    assert!(raw.body.as_ref() == png.as_slice(), "raw bytes differ ({} vs {} bytes)", raw.body.len(), png.len());

    let js = s.send(s.req(Method::GET, &format!("/Binary/{id}")).header("accept", FHIR_JSON)).await;
    js.expect(200, "GET Binary as FHIR JSON");
    let v = js.json();
    assert_eq!(v["resourceType"], "Binary");
    assert_eq!(v["contentType"], "image/png");
    let data = base64_decode(v["data"].as_str().expect("data")).expect("valid base64");
    assert_eq!(data, png, "base64 data differs from the raw bytes");

    // Binary as FHIR JSON
    let text = b"hello, binary \xe2\x9c\x93".to_vec();
    let body = json!({"resourceType": "Binary", "contentType": "text/plain", "data": base64_encode(&text)});
    let r = s.post_json("/Binary", &body).await;
    r.expect(201, "POST Binary JSON");
    let created = r.json();
    let jid = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["data"], body["data"]);
    let raw = s.send(s.req(Method::GET, &format!("/Binary/{jid}")).header("accept", "text/plain")).await;
    raw.expect(200, "GET JSON-created Binary raw");
    assert_eq!(raw.body.as_ref(), text.as_slice());
    let js = s.send(s.req(Method::GET, &format!("/Binary/{jid}")).header("accept", FHIR_JSON)).await;
    js.expect(200, "GET JSON-created Binary as JSON");
    let mut got = js.json();
    strip_server_meta(&mut got);
    let mut want = body.clone();
    want["id"] = json!(jid);
    assert_eq!(got, want);
    // history of a Binary works and vread too
    s.get(&format!("/Binary/{id}/_history/1")).await.expect(200, "vread Binary");
}

#[tokio::test]
async fn exact_round_trip_decimals_and_extensions() {
    let s = TestServer::start();
    let text = r##"{"resourceType":"Observation","id":"dec1","status":"final",
      "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate \u00e9\u6f22"}]},
      "valueQuantity":{"value":5.00,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"},
      "component":[
        {"code":{"text":"a"},"valueQuantity":{"value":5}},
        {"code":{"text":"b"},"valueQuantity":{"value":5.0}},
        {"code":{"text":"c"},"valueQuantity":{"value":5.000000000000000000001}},
        {"code":{"text":"d"},"valueQuantity":{"value":-0.0010}},
        {"code":{"text":"e"},"valueQuantity":{"value":123456789012345678901234567890.12}},
        {"code":{"text":"f"},"valueInteger":2147483647},
        {"code":{"text":"g"},"valueDateTime":"2020-02-29T23:59:59.123456+14:00"},
        {"code":{"text":"h"},"valueString":"line1\nline2\t\"quoted\" \\ \u2603"}
      ],
      "effectiveDateTime":"2012",
      "_status":{"extension":[{"url":"http://example.org/x","valueDecimal":1.10}]},
      "extension":[{"url":"http://example.org/nested","extension":[{"url":"a","valueDecimal":0.50}]}],
      "contained":[{"resourceType":"Patient","id":"p1","birthDate":"1970-01"}],
      "subject":{"reference":"#p1"}}"##;
    let v = parse(text);
    let r = s.put_json("/Observation/dec1", &v).await;
    r.expect(201, "PUT decimal observation");
    let g = s.get("/Observation/dec1").await;
    g.expect(200, "read");
    let mut got = g.json();
    strip_server_meta(&mut got);
    assert_eq!(got, v, "round trip must be exact\nsent: {v}\ngot:  {got}");
    let raw = g.text();
    for lit in ["\"value\":5.00,", "\"value\":5.0}", "\"value\":5}", "5.000000000000000000001", "-0.0010", "123456789012345678901234567890.12", "1.10", "0.50"] {
        let squeezed: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(squeezed.contains(lit), "literal {lit} lost in {raw}");
    }
    // POST keeps it too
    let r = s.post_json("/Observation", &v).await;
    r.expect(201, "POST decimal observation");
    let mut created = r.json();
    let id = created["id"].clone();
    strip_server_meta(&mut created);
    let mut want = v.clone();
    want["id"] = id;
    assert_eq!(created, want);
}

#[tokio::test]
async fn validate_operation() {
    let s = TestServer::start();
    let before = s.system_history_count().await;
    // invalid resource: errors with expression
    let bad = json!({"resourceType": "Patient", "gender": "robot", "birthDate": "1980-13-45"});
    let r = s.post_json("/Patient/$validate", &bad).await;
    r.expect(200, "$validate invalid");
    let oo = r.expect_outcome("$validate invalid");
    let errors: Vec<&Value> = oo["issue"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| matches!(i["severity"].as_str(), Some("error") | Some("fatal")))
        .collect();
    assert!(errors.len() >= 2, "expected an error per problem: {oo}");
    for e in &errors {
        let ex = e["expression"].as_array().filter(|a| !a.is_empty());
        assert!(ex.is_some(), "error issue without expression: {e}");
    }
    let exprs = serde_json::to_string(&errors).unwrap();
    assert!(exprs.contains("gender") && exprs.contains("birthDate"), "expressions should name the elements: {exprs}");

    // valid resource: informational
    let good = patient("Valid");
    let r = s.post_json("/Patient/$validate", &good).await;
    r.expect(200, "$validate valid");
    let oo = r.expect_outcome("$validate valid");
    assert!(
        oo["issue"].as_array().unwrap().iter().all(|i| matches!(i["severity"].as_str(), Some("information") | Some("warning"))),
        "valid resource must give no errors: {oo}"
    );
    // Parameters wrapper
    let params = json!({"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": bad}]});
    let r = s.post_json("/Patient/$validate", &params).await;
    r.expect(200, "$validate Parameters");
    let oo = r.expect_outcome("$validate Parameters");
    assert!(oo["issue"].as_array().unwrap().iter().any(|i| i["severity"] == "error"), "{oo}");
    // instance level
    let mut p = patient("Inst");
    p["id"] = json!("inst1");
    let r = s.post_json("/Patient/inst1/$validate", &p).await;
    r.expect(200, "instance $validate");
    r.expect_outcome("instance $validate");
    let mut pb = bad.clone();
    pb["id"] = json!("inst1");
    let r = s.post_json("/Patient/inst1/$validate", &pb).await;
    r.expect(200, "instance $validate invalid");
    let oo = r.expect_outcome("instance $validate invalid");
    assert!(oo["issue"].as_array().unwrap().iter().any(|i| i["severity"] == "error"), "{oo}");
    assert_eq!(s.system_history_count().await, before, "$validate must store nothing");
    s.get("/Patient/inst1").await.expect(404, "$validate stores nothing");
}

#[tokio::test]
async fn every_r4_type_supports_create_and_read() {
    let s = TestServer::start();
    let mut failures = Vec::new();
    for ty in R4_RESOURCE_TYPES {
        // minimal bodies for types with required elements are not needed for this check:
        // an empty-but-typed body may legitimately be rejected with 422, never 404/5xx.
        let r = s.post_json(&format!("/{ty}"), &json!({"resourceType": ty})).await;
        if r.status == 404 || r.status >= 500 || (r.status != 201 && check_outcome(&r.try_json().unwrap_or(Value::Null)).is_err()) {
            failures.push(format!("{ty}: POST -> {} {}", r.status, truncate(&r.text(), 200)));
            continue;
        }
        if r.status == 201 {
            let id = r.json()["id"].as_str().unwrap_or("").to_string();
            let g = s.get(&format!("/{ty}/{id}")).await;
            if g.status != 200 {
                failures.push(format!("{ty}: read after create -> {}", g.status));
            }
        }
        let h = s.get(&format!("/{ty}/_history")).await;
        if h.status != 200 {
            failures.push(format!("{ty}: type history -> {}", h.status));
        }
    }
    assert!(failures.is_empty(), "{} types failed:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn configuration_from_environment() {
    let s = TestServer::start_with_env(&[("HEARTH_BASE_PATH", "/r4"), ("HEARTH_MAX_BODY_BYTES", "2000")]);
    assert!(s.base.ends_with("/r4"));
    s.get("/metadata").await.expect(200, "metadata under HEARTH_BASE_PATH");
    let (id, _) = create(&s, "Patient", &patient("Env")).await;
    let r = s.get(&format!("/Patient/{id}")).await;
    r.expect(200, "read under /r4");
    let r = s.send(s.client.get(format!("{}/fhir/Patient/{id}", s.root))).await;
    assert_eq!(r.status, 404, "/fhir is not the base when HEARTH_BASE_PATH=/r4");
    let big = json!({"resourceType": "Patient", "name": [{"family": "q".repeat(3000)}]});
    let r = s.post_json("/Patient", &big).await;
    r.expect(413, "HEARTH_MAX_BODY_BYTES=2000");
    r.expect_outcome("413");
}

#[tokio::test]
async fn large_binary_under_the_default_limit() {
    let s = TestServer::start();
    let data: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let r = s
        .send(s.req(Method::POST, "/Binary").header("content-type", "application/pdf").body(data.clone()))
        .await;
    r.expect(201, "8 MiB Binary under the 64 MiB default");
    let loc = r.header("location").expect("Location");
    let id = loc.split("/Binary/").nth(1).and_then(|x| x.split('/').next()).expect("id").to_string();
    let raw = s.send(s.req(Method::GET, &format!("/Binary/{id}")).header("accept", "application/pdf")).await;
    raw.expect(200, "GET 8 MiB Binary");
    assert!(raw.body.as_ref() == data.as_slice(), "8 MiB Binary bytes differ");
}
