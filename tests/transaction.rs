//! Batch and transaction Bundles over HTTP: reference rewriting, all-or-nothing, conditional
//! references, processing order, per-entry conditions, the response Bundle.
mod common;

use common::{TestServer, FHIR_JSON};
use serde_json::{json, Value};

async fn post_bundle(s: &TestServer, bundle: &Value) -> common::Resp {
    s.send(common::json_body(s.req(reqwest::Method::POST, ""), bundle)).await
}

async fn total(s: &TestServer, query: &str) -> u64 {
    let r = s.get(query).await;
    r.expect(200, query);
    r.json()["total"].as_u64().unwrap_or_else(|| panic!("no total for {query}"))
}

fn issue_text(v: &Value) -> String {
    v.to_string()
}

#[tokio::test]
async fn urn_uuid_references_are_rewritten_among_five_resources() {
    let s = TestServer::start();
    let p = "urn:uuid:6f1d3a4e-0000-4000-8000-000000000001";
    let e = "urn:uuid:6f1d3a4e-0000-4000-8000-000000000002";
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6f1d3a4e-0000-4000-8000-000000000005", "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "hr"},
            "subject": {"reference": p}, "encounter": {"reference": e},
            "hasMember": [{"reference": "urn:uuid:6f1d3a4e-0000-4000-8000-000000000004"}]}, "request": {"method": "POST", "url": "Observation"}},
        {"fullUrl": p, "resource": {"resourceType": "Patient", "id": "client-id", "name": [{"family": "Tx"}],
            "managingOrganization": {"reference": "urn:uuid:6f1d3a4e-0000-4000-8000-000000000003"}}, "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": e, "resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}, "subject": {"reference": p}}, "request": {"method": "POST", "url": "Encounter"}},
        {"fullUrl": "urn:uuid:6f1d3a4e-0000-4000-8000-000000000003", "resource": {"resourceType": "Organization", "name": "Org"}, "request": {"method": "POST", "url": "Organization"}},
        {"fullUrl": "urn:uuid:6f1d3a4e-0000-4000-8000-000000000004", "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "bp"},
            "subject": {"reference": p}}, "request": {"method": "POST", "url": "Observation"}}
    ]});
    let r = post_bundle(&s, &bundle).await;
    r.expect(200, "transaction");
    let b = r.json();
    assert_eq!(b["type"], "transaction-response");
    let entries = b["entry"].as_array().expect("entries");
    assert_eq!(entries.len(), 5);
    let mut loc = Vec::new();
    for (i, en) in entries.iter().enumerate() {
        assert_eq!(en["response"]["status"], "201 Created", "entry {i}: {en}");
        let l = en["response"]["location"].as_str().expect("location").to_string();
        assert!(l.ends_with("/_history/1"), "{l}");
        assert_eq!(en["response"]["etag"], "W/\"1\"");
        assert!(en["response"]["lastModified"].is_string());
        let parts: Vec<&str> = l.split('/').collect();
        loc.push(format!("{}/{}", parts[0], parts[1]));
    }
    assert!(loc[1].starts_with("Patient/") && loc[1] != "Patient/client-id", "server assigns the id: {}", loc[1]);
    let obs = s.get(&format!("/{}", loc[0])).await.json();
    assert_eq!(obs["subject"]["reference"], loc[1]);
    assert_eq!(obs["encounter"]["reference"], loc[2]);
    assert_eq!(obs["hasMember"][0]["reference"], loc[4]);
    let pat = s.get(&format!("/{}", loc[1])).await.json();
    assert_eq!(pat["managingOrganization"]["reference"], loc[3]);
    let enc = s.get(&format!("/{}", loc[2])).await.json();
    assert_eq!(enc["subject"]["reference"], loc[1]);
    assert!(!r.text().contains("urn:uuid:6f1d3a4e"), "no urn:uuid left in the response");
    // The rewritten references are searchable.
    let pid = loc[1].trim_start_matches("Patient/");
    assert_eq!(total(&s, &format!("/Observation?subject=Patient/{pid}")).await, 2);
}

#[tokio::test]
async fn invalid_last_entry_leaves_nothing_behind() {
    let s = TestServer::start();
    let before = s.system_history_count().await;
    let mut entries = Vec::new();
    for i in 0..4 {
        entries.push(json!({"fullUrl": format!("urn:uuid:00000000-0000-4000-8000-00000000000{i}"),
            "resource": {"resourceType": "Patient", "identifier": [{"system": "urn:t", "value": format!("atomic-{i}")}]},
            "request": {"method": "POST", "url": "Patient"}}));
    }
    entries.push(json!({"resource": {"resourceType": "Patient", "gender": "not-a-gender"}, "request": {"method": "POST", "url": "Patient"}}));
    let r = post_bundle(&s, &json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})).await;
    assert!((400..500).contains(&r.status), "status {}: {}", r.status, r.text());
    let oo = r.expect_outcome("failed transaction");
    assert!(issue_text(&oo).contains("Bundle.entry[4]"), "the failing entry is named: {oo}");
    assert_eq!(total(&s, "/Patient?identifier=urn:t|").await, 0, "nothing searchable");
    assert_eq!(total(&s, "/Patient").await, 0);
    assert_eq!(s.system_history_count().await, before, "no history written");
}

#[tokio::test]
async fn conditional_references_need_exactly_one_match() {
    let s = TestServer::start();
    for _ in 0..2 {
        s.post_json("/Practitioner", &json!({"resourceType": "Practitioner", "identifier": [{"system": "urn:npi", "value": "dup"}]})).await.expect(201, "create");
    }
    s.post_json("/Practitioner", &json!({"resourceType": "Practitioner", "identifier": [{"system": "urn:npi", "value": "one"}]})).await.expect(201, "create");
    let tx = |reference: &str| {
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "name": [{"family": "A"}]}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Patient", "generalPractitioner": [{"reference": reference}]}, "request": {"method": "POST", "url": "Patient"}}
        ]})
    };
    for (reference, word) in [("Practitioner?identifier=urn:npi|none", "no resource"), ("Practitioner?identifier=urn:npi|dup", "more than one")] {
        let r = post_bundle(&s, &tx(reference)).await;
        assert!((400..500).contains(&r.status), "{reference}: status {}", r.status);
        let oo = r.expect_outcome(reference);
        let text = issue_text(&oo);
        assert!(text.contains("Bundle.entry[1]") && text.contains(word) && text.contains("Practitioner?identifier"), "{reference}: {text}");
    }
    assert_eq!(total(&s, "/Patient").await, 0, "failed transactions stored nothing");
    let r = post_bundle(&s, &tx("Practitioner?identifier=urn:npi|one")).await;
    r.expect(200, "one match");
    let loc = r.json()["entry"][1]["response"]["location"].as_str().unwrap().to_string();
    let id = loc.split('/').nth(1).unwrap();
    let p = s.get(&format!("/Patient/{id}")).await.json();
    let one = s.get("/Practitioner?identifier=urn:npi|one").await.json();
    let pid = one["entry"][0]["resource"]["id"].as_str().unwrap();
    assert_eq!(p["generalPractitioner"][0]["reference"], format!("Practitioner/{pid}"));
}

#[tokio::test]
async fn processing_order_conditions_and_response_fields() {
    let s = TestServer::start();
    let old = s.put_json("/Patient/old", &json!({"resourceType": "Patient", "id": "old", "active": true})).await;
    old.expect(201, "seed");
    s.put_json("/Patient/keep", &json!({"resourceType": "Patient", "id": "keep", "active": true})).await.expect(201, "seed");
    // Entries in reverse of processing order: GET first, DELETE last.
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Patient?identifier=urn:o|new"}},
        {"request": {"method": "GET", "url": "Patient/keep"}},
        {"request": {"method": "GET", "url": "Patient/keep", "ifNoneMatch": "W/\"1\""}},
        {"resource": {"resourceType": "Patient", "id": "keep", "active": false}, "request": {"method": "PUT", "url": "Patient/keep", "ifMatch": "W/\"1\""}},
        {"resource": {"resourceType": "Patient", "identifier": [{"system": "urn:o", "value": "new"}]}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:o|new"}},
        {"request": {"method": "DELETE", "url": "Patient/old"}}
    ]});
    let r = post_bundle(&s, &bundle).await;
    r.expect(200, "ordered transaction");
    let b = r.json();
    let st = |i: usize| b["entry"][i]["response"]["status"].as_str().unwrap_or("").to_string();
    assert_eq!(st(5), "204 No Content");
    assert_eq!(st(4), "201 Created");
    assert_eq!(st(3), "200 OK");
    assert_eq!(b["entry"][3]["response"]["etag"], "W/\"2\"");
    assert_eq!(st(2), "200 OK", "ifNoneMatch W/1 after the update to version 2");
    assert_eq!(st(1), "200 OK");
    assert_eq!(b["entry"][1]["resource"]["active"], false, "GET sees the PUT (GETs run last)");
    assert_eq!(b["entry"][0]["resource"]["total"], 1, "search sees the POST");
    assert_eq!(s.get("/Patient/old").await.status, 410);
    // ifNoneExist matching: nothing created, 200 with the existing resource.
    let again = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "identifier": [{"system": "urn:o", "value": "new"}]}, "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=urn:o|new"}},
        {"request": {"method": "GET", "url": "Patient/keep", "ifNoneMatch": "W/\"2\""}}
    ]});
    let r = post_bundle(&s, &again).await;
    r.expect(200, "again");
    assert_eq!(r.json()["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(r.json()["entry"][1]["response"]["status"], "304 Not Modified");
    assert_eq!(total(&s, "/Patient?identifier=urn:o|new").await, 1);
    // A stale ifMatch fails the whole transaction, naming the entry.
    let stale = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"family": "Z"}]}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "id": "keep"}, "request": {"method": "PUT", "url": "Patient/keep", "ifMatch": "W/\"1\""}}
    ]});
    let r = post_bundle(&s, &stale).await;
    r.expect(412, "stale ifMatch");
    assert!(r.text().contains("Bundle.entry[1]"));
    assert_eq!(total(&s, "/Patient?family=Z").await, 0);
}

#[tokio::test]
async fn identical_update_and_overlapping_identities() {
    let s = TestServer::start();
    s.put_json("/Patient/same", &json!({"resourceType": "Patient", "id": "same", "active": true})).await.expect(201, "seed");
    let put = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "same", "active": true}, "request": {"method": "PUT", "url": "Patient/same"}}]});
    let r = post_bundle(&s, &put).await;
    r.expect(200, "identical update");
    assert_eq!(r.json()["entry"][0]["response"]["etag"], "W/\"1\"", "no new version for identical content");
    let twice = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "same", "active": false}, "request": {"method": "PUT", "url": "Patient/same"}},
        {"request": {"method": "DELETE", "url": "Patient/same"}}]});
    let r = post_bundle(&s, &twice).await;
    r.expect(400, "the same resource twice");
    assert!(r.text().contains("more than one entry"), "{}", r.text());
    assert_eq!(s.get("/Patient/same").await.json()["active"], true);
}

#[tokio::test]
async fn batch_entries_succeed_or_fail_independently() {
    let s = TestServer::start();
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"family": "B1"}]}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "gender": "bad"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"resource": {"resourceType": "Patient", "id": "b3"}, "request": {"method": "PUT", "url": "Patient/b3"}},
        {"request": {"method": "FETCH", "url": "Patient"}}
    ]});
    let r = post_bundle(&s, &bundle).await;
    r.expect(200, "batch");
    let b = r.json();
    assert_eq!(b["type"], "batch-response");
    let st: Vec<String> = b["entry"].as_array().unwrap().iter().map(|e| e["response"]["status"].as_str().unwrap().to_string()).collect();
    assert_eq!(st[0], "201 Created");
    assert!(st[1].starts_with("4"), "{st:?}");
    assert_eq!(b["entry"][1]["response"]["outcome"]["resourceType"], "OperationOutcome");
    assert!(st[2].starts_with("404"), "{st:?}");
    assert_eq!(st[3], "201 Created");
    assert!(st[4].starts_with("400"), "{st:?}");
    assert_eq!(total(&s, "/Patient").await, 2);
}

#[tokio::test]
async fn limits_and_bad_bundles() {
    let s = TestServer::start_with_args(&["--max-bundle-entries", "3"]);
    let e = json!({"resource": {"resourceType": "Basic", "code": {"text": "x"}}, "request": {"method": "POST", "url": "Basic"}});
    let r = post_bundle(&s, &json!({"resourceType": "Bundle", "type": "transaction", "entry": [e, e, e, e]})).await;
    r.expect(413, "too many entries");
    r.expect_outcome("limit");
    post_bundle(&s, &json!({"resourceType": "Bundle", "type": "transaction", "entry": [e, e, e]})).await.expect(200, "at the limit");
    for bad in [json!({"resourceType": "Bundle", "type": "collection"}), json!({"resourceType": "Patient"}), json!({"resourceType": "Bundle", "type": "batch", "entry": {}})] {
        let r = post_bundle(&s, &bad).await;
        r.expect(400, &bad.to_string());
        r.expect_outcome("bad bundle");
    }
    let r = s.send(s.req(reqwest::Method::POST, "").header("content-type", FHIR_JSON).body("{\"resourceType\":")).await;
    r.expect(400, "broken JSON");
    let dangling = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "link": [{"other": {"reference": "urn:uuid:99999999-0000-4000-8000-000000000000"}, "type": "seealso"}]}, "request": {"method": "POST", "url": "Patient"}}]});
    let r = post_bundle(&s, &dangling).await;
    r.expect(400, "dangling urn:uuid");
    assert!(r.text().contains("Bundle.entry[0]"));
}

#[tokio::test]
async fn same_if_none_exist_twice_in_one_bundle_creates_once() {
    let s = TestServer::start();
    let entry = |n: u32| {
        json!({"fullUrl": format!("urn:uuid:aaaaaaaa-0000-4000-8000-00000000000{n}"),
            "resource": {"resourceType": "Organization", "identifier": [{"system": "urn:org", "value": "twice"}]},
            "request": {"method": "POST", "url": "Organization", "ifNoneExist": "identifier=urn:org|twice"}})
    };
    let obs = json!({"resource": {"resourceType": "Patient", "managingOrganization": {"reference": "urn:uuid:aaaaaaaa-0000-4000-8000-000000000002"}},
        "request": {"method": "POST", "url": "Patient"}});
    for kind in ["transaction", "batch"] {
        let r = post_bundle(&s, &json!({"resourceType": "Bundle", "type": kind, "entry": [entry(1), entry(2), obs.clone()]})).await;
        r.expect(200, kind);
        assert_eq!(total(&s, "/Organization?identifier=urn:org|twice").await, 1, "{kind}");
    }
    let org = s.get("/Organization?identifier=urn:org|twice").await.json();
    let id = org["entry"][0]["resource"]["id"].as_str().unwrap().to_string();
    let pats = s.get("/Patient").await.json();
    for p in pats["entry"].as_array().unwrap() {
        assert_eq!(p["resource"]["managingOrganization"]["reference"], format!("Organization/{id}"));
    }
}

#[tokio::test]
async fn urn_uuid_in_attachment_urls_and_absolute_full_urls() {
    let s = TestServer::start();
    let bin = "urn:uuid:bbbbbbbb-0000-4000-8000-000000000001";
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": bin, "resource": {"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8="}, "request": {"method": "POST", "url": "Binary"}},
        {"fullUrl": "http://example.org/fhir/Patient/abc", "resource": {"resourceType": "Patient", "id": "abc"}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/abc"},
            "content": [{"attachment": {"contentType": "text/plain", "url": bin}}]}, "request": {"method": "POST", "url": "DocumentReference"}}
    ]});
    let r = post_bundle(&s, &bundle).await;
    r.expect(200, "transaction");
    let b = r.json();
    let loc = |i: usize| {
        let l = b["entry"][i]["response"]["location"].as_str().unwrap();
        l.split('/').take(2).collect::<Vec<_>>().join("/")
    };
    let doc = s.get(&format!("/{}", loc(2))).await.json();
    assert_eq!(doc["content"][0]["attachment"]["url"], loc(0), "urn:uuid in an attachment url");
    assert_eq!(doc["subject"]["reference"], loc(1), "relative reference to an entry with an absolute fullUrl");
    assert_ne!(loc(1), "Patient/abc", "POST assigns a new id");
    let binary = s.get(&format!("/{}", loc(0))).await.json();
    assert_eq!(binary["data"], "aGVsbG8=");
}

#[tokio::test]
async fn a_failing_read_fails_the_transaction() {
    let s = TestServer::start();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"family": "ReadFail"}]}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/does-not-exist"}}
    ]});
    let r = post_bundle(&s, &bundle).await;
    r.expect(404, "missing read");
    assert!(r.text().contains("Bundle.entry[1]"));
    assert_eq!(total(&s, "/Patient").await, 0, "the POST was undone");
}

/// Entries are parsed apart from the rest of the Bundle's text: text that is not valid JSON
/// as a whole is still refused whole (a batch too), and valid text of any layout is read.
#[tokio::test]
async fn bundle_text_is_refused_whole_when_any_part_is_not_json() {
    let s = TestServer::start();
    let post_text = |text: String| async { s.send(s.req(reqwest::Method::POST, "").header("content-type", FHIR_JSON).body(text)).await };
    let basic = |t: &str| format!(r#"{{"resource": {{"resourceType": "Basic", "code": {{"text": "{t}"}}}}, "request": {{"method": "POST", "url": "Basic"}}}}"#);
    for kind in ["batch", "transaction"] {
        for (bad_entry, what) in [
            (r#"{"resource": {"resourceType": "Basic", "code": {"text": "a", "text": "b"}}, "request": {"method": "POST", "url": "Basic"}}"#, "duplicate member name"),
            (r#"{"resource": {"resourceType": "Basic", "code": {"text": tru}}, "request": {"method": "POST", "url": "Basic"}}"#, "a broken literal"),
            (r#"{"resource": {"resourceType": "Basic", "code": {"text": "a"}}, "request": {"method": "POST", "url": "Basic"},}"#, "a trailing comma"),
        ] {
            let text = format!(r#"{{"resourceType": "Bundle", "type": "{kind}", "entry": [{}, {bad_entry}, {}]}}"#, basic("x"), basic("y"));
            let r = post_text(text).await;
            r.expect(400, &format!("{kind} with {what}"));
            r.expect_outcome(what);
        }
        let r = post_text(format!(r#"{{"resourceType": "Bundle", "type": "{kind}", "entry": [{}], "type": "{kind}"}}"#, basic("x"))).await;
        r.expect(400, "duplicate Bundle.type");
    }
    assert_eq!(total(&s, "/Basic?_summary=count").await, 0, "nothing stored");
    // Whitespace, escapes and brackets inside strings.
    let text = format!(
        "\n{{ \"entry\" :\n [ {} ,\r\n\t{} ] , \"resourceType\" : \"Bundle\", \"type\" : \"transaction\" }}\n",
        basic(r#"a \"quoted\" ] } [ { , text"#),
        basic("\\u00e9")
    );
    let r = post_text(text).await;
    r.expect(200, "a valid Bundle in any layout");
    let found = s.get("/Basic").await.json();
    let mut texts: Vec<String> = found["entry"].as_array().unwrap().iter().map(|e| e["resource"]["code"]["text"].as_str().unwrap().to_string()).collect();
    texts.sort();
    assert_eq!(texts, vec![r#"a "quoted" ] } [ { , text"#.to_string(), "é".to_string()]);
}
