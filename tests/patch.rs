//! PATCH: HL7's JSON Patch and FHIRPath Patch test cases (run through the library), and
//! PATCH over HTTP: JSON Patch, FHIRPath Patch, If-Match, and patches that would make the
//! resource invalid (rejected, nothing stored).
mod common;
#[path = "patch_support/xml.rs"]
mod xml;

use common::{TestServer, FHIR_JSON};
use hearth::fhir::definitions::Definitions;
use hearth::interactions::patch::{fhirpath_patch, json_patch};
use serde_json::{json, Value};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/fhir-test-cases/patch");

#[test]
fn hl7_json_patch_cases() {
    let text = std::fs::read_to_string(format!("{CASES}/json-patch-tests.json")).expect("json-patch-tests.json");
    let cases: Vec<Value> = serde_json::from_str(&text).expect("cases");
    let mut run = 0;
    for c in &cases {
        let name = c["comment"].as_str().unwrap_or("?");
        if c.get("disabled").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let mut doc = c["doc"].clone();
        let r = json_patch::apply(&mut doc, &c["patch"]);
        match (c.get("expected"), c.get("error")) {
            (Some(expected), _) => {
                assert!(r.is_ok(), "{name}: {:?}", r.err());
                assert_eq!(&doc, expected, "{name}");
            }
            (None, Some(_)) => {
                assert!(r.is_err(), "{name}: must fail");
                assert_eq!(doc, c["doc"], "{name}: a failed patch changes nothing");
            }
            _ => {
                assert!(r.is_ok(), "{name}: {:?}", r.err());
            }
        }
        run += 1;
    }
    eprintln!("HL7 JSON Patch cases run: {run} of {}", cases.len());
    assert_eq!(run, cases.len(), "every JSON Patch case applies");
}

#[test]
fn hl7_fhirpath_patch_cases() {
    let defs = Definitions::r4();
    let text = std::fs::read_to_string(format!("{CASES}/fhir-patch-tests.xml")).expect("fhir-patch-tests.xml");
    let root = xml::parse(&text);
    let tests = root.child("tests").expect("tests");
    let (mut run, mut total) = (0, 0);
    let mut failures = Vec::new();
    for case in tests.children.iter().filter(|c| c.name == "case") {
        total += 1;
        let name = case.attr("name").unwrap_or("?");
        let input = xml::resource(defs, &case.child("input").expect("input").children[0]);
        let diff = xml::resource(defs, &case.child("diff").expect("diff").children[0]);
        let mut doc = input.clone();
        let r = fhirpath_patch::apply(defs, &mut doc, &diff);
        run += 1;
        match (case.child("output"), case.child("error")) {
            (Some(out), _) => {
                let expected = xml::resource(defs, &out.children[0]);
                xml::normalize_div(&mut doc);
                match r {
                    Ok(()) if doc == expected => {}
                    Ok(()) => failures.push(format!("{name}: got {doc}, expected {expected}")),
                    Err(e) => failures.push(format!("{name}: {e}")),
                }
            }
            (None, Some(_)) => {
                if r.is_ok() {
                    failures.push(format!("{name}: must fail"));
                } else {
                    assert_eq!(doc, input, "{name}: a failed patch changes nothing");
                }
            }
            _ => panic!("{name}: neither output nor error"),
        }
    }
    eprintln!("HL7 FHIRPath Patch cases run: {run} of {total}; failed: {}", failures.len());
    assert!(failures.is_empty(), "{} of {run} cases failed:\n{}", failures.len(), failures.join("\n"));
}

fn parts(ty: &str, path: &str, extra: Value) -> Value {
    let mut p = vec![json!({"name": "type", "valueCode": ty}), json!({"name": "path", "valueString": path})];
    if let Value::Array(a) = extra {
        p.extend(a);
    }
    json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": p}]})
}

#[tokio::test]
async fn patch_over_http() {
    let s = TestServer::start();
    let r = s.put_json("/Patient/p1", &json!({"resourceType": "Patient", "id": "p1", "active": true, "name": [{"family": "Old"}]})).await;
    r.expect(201, "seed");
    // JSON Patch.
    let jp = json!([{"op": "replace", "path": "/name/0/family", "value": "New"}, {"op": "add", "path": "/gender", "value": "female"}]);
    let r = s.send(s.req(reqwest::Method::PATCH, "/Patient/p1").header("content-type", "application/json-patch+json").header("accept", FHIR_JSON).body(jp.to_string())).await;
    r.expect(200, "JSON Patch");
    assert_eq!(r.json()["name"][0]["family"], "New");
    assert_eq!(r.json()["gender"], "female");
    assert_eq!(r.etag_version(), "2");
    // FHIRPath Patch with If-Match.
    let fp = parts("add", "Patient", json!([{"name": "name", "valueString": "birthDate"}, {"name": "value", "valueDate": "1970-01-02"}]));
    let send = |body: &Value, etag: &str| {
        s.req(reqwest::Method::PATCH, "/Patient/p1").header("content-type", FHIR_JSON).header("if-match", etag.to_string()).body(body.to_string())
    };
    s.send(send(&fp, "W/\"1\"")).await.expect(412, "stale If-Match");
    let r = s.send(send(&fp, "W/\"2\"")).await;
    r.expect(200, "FHIRPath Patch");
    assert_eq!(r.json()["birthDate"], "1970-01-02");
    // Patches that would make the resource invalid: rejected, nothing stored.
    let invalid = [
        s.req(reqwest::Method::PATCH, "/Patient/p1").header("content-type", "application/json-patch+json").body(json!([{"op": "replace", "path": "/gender", "value": "robot"}]).to_string()),
        s.req(reqwest::Method::PATCH, "/Patient/p1").header("content-type", "application/json-patch+json").body(json!([{"op": "add", "path": "/unknownElement", "value": 1}]).to_string()),
        s.req(reqwest::Method::PATCH, "/Patient/p1").header("content-type", "application/json-patch+json").body(json!([{"op": "replace", "path": "/id", "value": "other"}]).to_string()),
        s.req(reqwest::Method::PATCH, "/Patient/p1").header("content-type", FHIR_JSON).body(parts("replace", "Patient.birthDate", json!([{"name": "value", "valueString": "not a date"}])).to_string()),
        s.req(reqwest::Method::PATCH, "/Patient/p1").header("content-type", "application/json-patch+json").body("[{\"op\":"),
        s.req(reqwest::Method::PATCH, "/Patient/p1").header("content-type", "application/json-patch+json").body(json!([{"op": "remove", "path": "/nothing"}]).to_string()),
        s.req(reqwest::Method::PATCH, "/Patient/p1").header("content-type", FHIR_JSON).body(parts("delete", "Patient.name.where(", json!([])).to_string()),
    ];
    for (i, rb) in invalid.into_iter().enumerate() {
        let r = s.send(rb).await;
        assert!((400..500).contains(&r.status), "invalid patch {i}: status {} {}", r.status, r.text());
        r.expect_outcome(&format!("invalid patch {i}"));
    }
    let cur = s.get("/Patient/p1").await;
    assert_eq!(cur.etag_version(), "3", "nothing stored by the rejected patches");
    assert_eq!(cur.json()["gender"], "female");
    assert_eq!(s.history_entries("/Patient/p1/_history").await.len(), 3);
    s.send(s.req(reqwest::Method::PATCH, "/Patient/missing").header("content-type", "application/json-patch+json").body("[]")).await.expect(404, "missing");
}

#[tokio::test]
async fn patch_entries_in_a_transaction() {
    let s = TestServer::start();
    s.put_json("/Patient/tp", &json!({"resourceType": "Patient", "id": "tp", "active": true})).await.expect(201, "seed");
    let data = common::base64_encode(json!([{"op": "replace", "path": "/active", "value": false}]).to_string().as_bytes());
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data}, "request": {"method": "PATCH", "url": "Patient/tp"}},
        {"resource": parts("add", "Patient", json!([{"name": "name", "valueString": "gender"}, {"name": "value", "valueCode": "male"}])), "request": {"method": "PATCH", "url": "Patient?_id=tp"}}
    ]});
    let r = s.post_json("", &bundle).await;
    // Two entries on the same resource: a transaction refuses overlapping identities.
    r.expect(400, "same resource twice");
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data}, "request": {"method": "PATCH", "url": "Patient/tp"}}]});
    let r = s.post_json("", &bundle).await;
    r.expect(200, "patch entry");
    assert_eq!(r.json()["entry"][0]["response"]["etag"], "W/\"2\"");
    assert_eq!(s.get("/Patient/tp").await.json()["active"], false);
}
