//! `hearth import`: Bundles and NDJSON (plain, .gz, .bz2) into a running server and straight
//! into a data directory.
mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::TestServer;
use serde_json::json;

fn ndjson(kind: &str, n: usize, with_ids: bool) -> String {
    (0..n)
        .map(|i| {
            let mut r = json!({"resourceType": "Patient", "identifier": [{"system": format!("urn:{kind}"), "value": i.to_string()}]});
            if with_ids {
                r["id"] = json!(format!("{kind}-{i}"));
            }
            r.to_string() + "\n"
        })
        .collect()
}

fn write_inputs(dir: &Path) {
    std::fs::write(dir.join("plain.ndjson"), ndjson("plain", 25, true)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(dir.join("g.ndjson.gz")).unwrap(), flate2::Compression::default());
    gz.write_all(ndjson("gz", 30, false).as_bytes()).unwrap();
    gz.finish().unwrap();
    let mut bz = bzip2::write::BzEncoder::new(std::fs::File::create(dir.join("b.ndjson.bz2")).unwrap(), bzip2::Compression::default());
    bz.write_all(ndjson("bz", 40, true).as_bytes()).unwrap();
    bz.finish().unwrap();
    let bundle = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:11111111-2222-4333-8444-555555555555", "resource": {"resourceType": "Organization", "name": "Imported"}, "request": {"method": "POST", "url": "Organization"}},
        {"resource": {"resourceType": "Patient", "managingOrganization": {"reference": "urn:uuid:11111111-2222-4333-8444-555555555555"}}, "request": {"method": "POST", "url": "Patient"}}
    ]});
    std::fs::write(dir.join("bundle.json"), bundle.to_string()).unwrap();
}

async fn check(s: &TestServer) {
    for (q, n) in [("/Patient?identifier=urn:plain|", 25), ("/Patient?identifier=urn:gz|", 30), ("/Patient?identifier=urn:bz|", 40), ("/Organization?name=Imported", 1), ("/Patient", 96)] {
        let r = s.get(&format!("{q}&_count=1").replace("Patient&", "Patient?")).await;
        r.expect(200, q);
        assert_eq!(r.json()["total"], n, "{q}");
    }
    s.get("/Patient/plain-3").await.expect(200, "ids in NDJSON are kept");
}

#[tokio::test]
async fn import_into_a_running_server() {
    let input = tempfile::tempdir().unwrap();
    write_inputs(input.path());
    let s = TestServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["import", "--server", &s.base, "--batch-size", "10"])
        .arg(input.path())
        .output()
        .expect("run hearth import");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "import failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("imported 97 resources"), "summary: {stdout}");
    check(&s).await;
}

#[tokio::test]
async fn import_into_a_data_directory() {
    let input = tempfile::tempdir().unwrap();
    write_inputs(input.path());
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["import", "--quiet", "--data-dir"])
        .arg(data.path())
        .arg(input.path().join("plain.ndjson"))
        .arg(input.path().join("g.ndjson.gz"))
        .arg(input.path().join("b.ndjson.bz2"))
        .arg(input.path().join("bundle.json"))
        .output()
        .expect("run hearth import");
    assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
    let s = TestServer::start_in(data.path());
    check(&s).await;
}

#[tokio::test]
async fn import_reports_failures() {
    let input = tempfile::tempdir().unwrap();
    std::fs::write(input.path().join("bad.ndjson"), "{\"resourceType\": \"Patient\", \"gender\": \"robot\"}\n").unwrap();
    let s = TestServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth")).args(["import", "--quiet", "--server", &s.base]).arg(input.path()).output().expect("run");
    assert!(!out.status.success(), "an invalid resource fails the import");
    let missing = Command::new(env!("CARGO_BIN_EXE_hearth")).args(["import", "--server", &s.base, "/nonexistent/file.ndjson"]).output().expect("run");
    assert!(!missing.status.success());
}
