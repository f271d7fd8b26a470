//! `$ingest-document` inputs over HTTP: a multipart/form-data upload (with a patient part),
//! a Parameters referring to an existing Binary or DocumentReference (read under the
//! caller's rights), and the refusals (nothing written).
mod auth_support;
mod common;

use base64::Engine;
use common::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/bench/ingest/corpus/{name}", env!("CARGO_MANIFEST_DIR"))).expect("corpus file")
}

async fn total(s: &TestServer, query: &str) -> u64 {
    let r = s.get(&format!("{query}{}_summary=count", if query.contains('?') { "&" } else { "?" })).await;
    r.expect(200, query);
    r.json()["total"].as_u64().unwrap_or(0)
}

/// A multipart/form-data body: (name, file name, content type, bytes) per part.
fn form(parts: &[(&str, Option<&str>, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "hearth-test-7f3a";
    let mut out = Vec::new();
    for (name, file, ct, data) in parts {
        out.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(f) = file {
            out.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        if let Some(ct) = ct {
            out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), out)
}

async fn post_form(s: &TestServer, path: &str, parts: &[(&str, Option<&str>, Option<&str>, &[u8])]) -> common::Resp {
    let (ct, body) = form(parts);
    s.send(s.req(Method::POST, path).header("content-type", ct).body(body)).await
}

fn params(doc: Value, patient: Option<&str>) -> Value {
    let mut p = vec![json!({"name": "document", "valueReference": {"reference": doc}})];
    if let Some(id) = patient {
        p.push(json!({"name": "patient", "valueReference": {"reference": format!("Patient/{id}")}}));
    }
    json!({"resourceType": "Parameters", "parameter": p})
}

#[tokio::test]
async fn a_multipart_upload_with_a_patient_part() {
    let s = TestServer::start();
    s.put_json("/Patient/m1", &json!({"resourceType": "Patient", "id": "m1"})).await.expect(201, "patient");
    let doc = corpus("001-summary.pdf");
    // the patient named in the form differs from the one in the path: refused
    let r = post_form(&s, "/Patient/other/$ingest-document", &[("patient", None, None, b"Patient/m1"), ("file", Some("a.pdf"), Some("application/pdf"), &doc)]).await;
    r.expect(400, "two patients");
    // no file part, a text file, a broken body: refused
    post_form(&s, "/$ingest-document", &[("patient", None, None, b"m1")]).await.expect(400, "no file");
    post_form(&s, "/$ingest-document", &[("file", Some("a.txt"), Some("text/plain"), b"hello")]).await.expect(415, "text file");
    let r = s.send(s.req(Method::POST, "/$ingest-document").header("content-type", "multipart/form-data; boundary=zz").body("--zz\r\nbroken")).await;
    r.expect(400, "broken form");
    assert_eq!(r.json()["resourceType"], "OperationOutcome");
    assert_eq!(s.system_history_count().await, 1, "a refused form wrote something");
    // a file part sent as octet-stream is recognised by its bytes
    let r = post_form(&s, "/$ingest-document", &[("patient", None, None, b"Patient/m1"), ("upload", Some("note.pdf"), Some("application/octet-stream"), &doc)]).await;
    r.expect(200, "multipart ingest");
    assert_eq!(total(&s, "/Patient").await, 1, "no second patient");
    assert!(total(&s, "/Observation?subject=Patient/m1").await > 3);
    assert_eq!(total(&s, "/DocumentReference?subject=Patient/m1").await, 1);
}

#[tokio::test]
async fn a_reference_to_a_binary_or_document_reference() {
    let s = TestServer::start();
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    s.put_json("/Binary/src1", &json!({"resourceType": "Binary", "id": "src1", "contentType": "application/pdf", "data": b64(&corpus("001-summary.pdf"))})).await.expect(201, "binary");
    s.put_json("/Binary/src2", &json!({"resourceType": "Binary", "id": "src2", "contentType": "application/octet-stream", "data": b64(&corpus("002-discharge.pdf"))})).await.expect(201, "binary 2");
    s.put_json("/DocumentReference/dr2", &json!({"resourceType": "DocumentReference", "id": "dr2", "status": "current",
        "content": [{"attachment": {"contentType": "application/pdf", "url": "Binary/src2"}}]})).await.expect(201, "docref");
    s.put_json("/DocumentReference/empty", &json!({"resourceType": "DocumentReference", "id": "empty", "status": "current",
        "content": [{"attachment": {"contentType": "application/pdf", "url": "http://elsewhere.example/doc.pdf"}}]})).await.expect(201, "docref");
    let before = s.system_history_count().await;
    for (doc, status, what) in [
        (json!("Binary/missing"), 404, "unknown Binary"),
        (json!("Observation/x"), 400, "not a document"),
        (json!("DocumentReference/empty"), 422, "attachment elsewhere"),
        (json!("DocumentReference/nope"), 404, "unknown DocumentReference"),
    ] {
        let r = s.post_json("/$ingest-document", &params(doc, None)).await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
        assert_eq!(r.json()["resourceType"], "OperationOutcome", "{what}");
    }
    assert_eq!(s.system_history_count().await, before, "a refused reference wrote something");

    s.post_json("/$ingest-document", &params(json!("Binary/src1"), None)).await.expect(200, "binary reference");
    assert_eq!(total(&s, "/Patient").await, 1);
    s.put_json("/Patient/k2", &json!({"resourceType": "Patient", "id": "k2"})).await.expect(201, "patient");
    s.post_json("/$ingest-document", &params(json!("DocumentReference/dr2"), Some("k2"))).await.expect(200, "docref reference");
    assert_eq!(total(&s, "/Patient").await, 2, "the known patient was used");
    assert!(total(&s, "/Condition?subject=Patient/k2").await >= 1);
    // the ingested original is the referenced content
    let docs = s.get("/DocumentReference?subject=Patient/k2").await.json();
    let url = docs["entry"][0]["resource"]["content"][0]["attachment"]["url"].as_str().expect("url").to_string();
    let bin = s.send(s.req(Method::GET, &format!("/{url}")).header("accept", "application/pdf")).await;
    assert_eq!(bin.body.as_ref(), corpus("002-discharge.pdf").as_slice());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reference_needs_read_access_to_the_document() {
    let dir = tempfile::tempdir().expect("dir");
    let rules = dir.path().join("rules.json");
    let text = json!({"groupRules": {
        "writer": {"interactions": ["*"], "resources": ["*"]},
        "ingest-only": {"interactions": ["operation"], "resources": ["*"]},
        "ingest-and-read": {"interactions": ["operation", "read"], "resources": ["*"]}
    }});
    std::fs::write(&rules, text.to_string()).expect("rules");
    let rules_path = rules.to_string_lossy().to_string();
    let (s, _jwks) = auth_support::start(&[("HEARTH_RULES_FILE", rules_path.as_str())]).await;
    let tok = |g: &str| auth_support::token(json!({"cognito:groups": [g]}));
    let pdf = base64::engine::general_purpose::STANDARD.encode(corpus("001-summary.pdf"));
    let r = auth_support::call(&s, Method::PUT, "/Binary/b1", Some(&tok("writer")), Some(&json!({"resourceType": "Binary", "id": "b1", "contentType": "application/pdf", "data": pdf}))).await;
    r.expect(201, "binary");
    let body = params(json!("Binary/b1"), None);
    let r = auth_support::call(&s, Method::POST, "/$ingest-document", Some(&tok("ingest-only")), Some(&body)).await;
    auth_support::assert_denied(&r, 403, "no read access to Binary", &["%PDF"]);
    let r = auth_support::call(&s, Method::GET, "/Patient?_summary=count", Some(&tok("writer")), None).await;
    assert_eq!(r.json()["total"], 0, "a refused ingestion wrote a patient");
    let r = auth_support::call(&s, Method::POST, "/$ingest-document", Some(&tok("ingest-and-read")), Some(&body)).await;
    r.expect(200, "with read access");
}

#[test]
fn a_server_with_an_unavailable_engine_does_not_start() {
    let cases = [
        ("--ingest-ocr", "no-such-ocr", "HEARTH_INGEST_OCR"),
        ("--ingest-extract", "no-such-service", "HEARTH_INGEST_EXTRACT"),
        ("--ingest-low-confidence", "keep", "HEARTH_INGEST_LOW_CONFIDENCE"),
    ];
    for (flag, value, setting) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HEARTH_")) {
            cmd.env_remove(k);
        }
        let out = cmd
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args([flag, value])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run hearth");
        assert!(!out.status.success(), "{flag} {value}: the server started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(setting) && err.contains(value), "{flag} {value}: the refusal names the setting: {err}");
        assert!(!dir.path().join("hearth.db").exists(), "{flag} {value}: a database was created");
    }
}
