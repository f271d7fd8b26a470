//! Persistence across a graceful restart on the same data directory.
mod common;

use common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Entries with the server's address removed from fullUrl (the port changes on restart).
fn normalise_history(entries: &[Value], root: &str) -> Vec<Value> {
    entries
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(full) = e.get("fullUrl").and_then(Value::as_str) {
                e["fullUrl"] = json!(full.replacen(root, "", 1));
            }
            e
        })
        .collect()
}

#[tokio::test]
async fn every_version_survives_a_restart() {
    let dir = tempfile::tempdir().expect("data dir");
    let mut s = TestServer::start_in(dir.path());

    // Patient a: 3 versions
    let mut a = json!({"resourceType": "Patient", "id": "a", "name": [{"family": "A0"}], "birthDate": "1970"});
    s.put_json("/Patient/a", &a).await.expect(201, "a v1");
    for i in 1..3 {
        a["name"][0]["family"] = json!(format!("A{i}"));
        s.put_json("/Patient/a", &a).await.expect(200, "a update");
    }
    // Observation o: created, updated, deleted (3 versions, last is a delete)
    let o = parse(r#"{"resourceType":"Observation","id":"o","status":"final","code":{"text":"t"},"valueQuantity":{"value":1.50}}"#);
    s.put_json("/Observation/o", &o).await.expect(201, "o v1");
    let mut o2 = o.clone();
    o2["status"] = json!("amended");
    s.put_json("/Observation/o", &o2).await.expect(200, "o v2");
    s.delete("/Observation/o").await.expect(204, "o delete");
    // Patient with a server id
    let r = s.post_json("/Patient", &json!({"resourceType": "Patient", "gender": "other"})).await;
    r.expect(201, "POST patient");
    let pid = r.json()["id"].as_str().unwrap().to_string();
    // Binary with raw bytes
    let raw: Vec<u8> = (0..=255u8).rev().cycle().take(3000).collect();
    let r = s
        .send(s.req(Method::POST, "/Binary").header("content-type", "application/octet-stream").body(raw.clone()))
        .await;
    r.expect(201, "POST Binary");
    let loc = r.header("location").expect("Location");
    let bid = loc.split("/Binary/").nth(1).and_then(|x| x.split('/').next()).unwrap().to_string();

    let targets: Vec<(String, u64)> = vec![
        ("Patient/a".into(), 3),
        ("Observation/o".into(), 3),
        (format!("Patient/{pid}"), 1),
        (format!("Binary/{bid}"), 1),
    ];
    // snapshot every version and every history
    let mut snapshot = Vec::new();
    for (t, n) in &targets {
        for v in 1..=*n {
            let r = s.get(&format!("/{t}/_history/{v}")).await;
            snapshot.push((format!("/{t}/_history/{v}"), r.status, r.body.clone()));
        }
        let r = s.get(&format!("/{t}")).await;
        snapshot.push((format!("/{t}"), r.status, if r.status == 200 { r.body.clone() } else { Default::default() }));
    }
    assert_eq!(snapshot.iter().filter(|x| x.1 == 410).count(), 2, "deleted version + read of deleted: {:?}",
        snapshot.iter().map(|x| (&x.0, x.1)).collect::<Vec<_>>());
    let mut histories = Vec::new();
    for path in ["/Patient/a/_history", "/Observation/o/_history", "/Patient/_history", "/_history"] {
        histories.push((path, normalise_history(&s.history_entries(path).await, &s.root)));
    }
    let status = s.stop();
    assert!(status.success(), "SIGTERM must give a clean exit, got {status}");

    let s2 = TestServer::start_in(dir.path());
    for (path, status, body) in &snapshot {
        let r = s2.get(path).await;
        assert_eq!(r.status, *status, "status of {path} after restart");
        if *status == 200 {
            assert_eq!(r.json(), serde_json::from_slice::<Value>(body).unwrap(), "{path} changed across restart");
        }
    }
    for (path, before) in &histories {
        let after = normalise_history(&s2.history_entries(path).await, &s2.root);
        assert_eq!(&after, before, "history {path} changed across restart");
    }
    let r = s2.send(s2.req(Method::GET, &format!("/Binary/{bid}")).header("accept", "application/octet-stream")).await;
    r.expect(200, "raw Binary after restart");
    assert!(r.body.as_ref() == raw.as_slice(), "Binary bytes changed across restart");
    // the store keeps working: version numbering continues
    a["name"][0]["family"] = json!("A3");
    let r = s2.put_json("/Patient/a", &a).await;
    r.expect(200, "update after restart");
    assert_eq!(r.etag_version(), "4");
    let mut o3 = o.clone();
    o3["status"] = json!("final");
    let r = s2.put_json("/Observation/o", &o3).await;
    r.expect(201, "re-create after delete, after restart");
    assert_eq!(r.etag_version(), "4");
}

#[tokio::test]
async fn acknowledged_writes_survive_sigterm() {
    let dir = tempfile::tempdir().expect("data dir");
    let mut s = TestServer::start_in(dir.path());
    let n = 40;
    for i in 0..n {
        let body = json!({"resourceType": "Basic", "id": format!("b{i}"), "code": {"text": format!("n{i}")}});
        s.put_json(&format!("/Basic/b{i}"), &body).await.expect(201, "PUT Basic");
    }
    // stop immediately after the last acknowledged write
    let status = s.stop();
    assert!(status.success(), "clean exit on SIGTERM, got {status}");
    let s2 = TestServer::start_in(dir.path());
    for i in 0..n {
        let r = s2.get(&format!("/Basic/b{i}")).await;
        r.expect(200, &format!("Basic/b{i} after restart"));
        assert_eq!(r.json()["code"]["text"], json!(format!("n{i}")));
    }
    assert_eq!(s2.history_entries("/Basic/_history").await.len(), n);
}

#[tokio::test]
async fn sigint_also_stops_cleanly() {
    let dir = tempfile::tempdir().expect("data dir");
    let mut s = TestServer::start_in(dir.path());
    let p = json!({"resourceType": "Patient", "id": "int", "gender": "female"});
    s.put_json("/Patient/int", &p).await.expect(201, "PUT");
    let status = s.stop_with("INT");
    assert!(status.success(), "clean exit on SIGINT, got {status}");
    let s2 = TestServer::start_in(dir.path());
    s2.get("/Patient/int").await.expect(200, "after SIGINT restart");
}
