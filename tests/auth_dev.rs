//! Dev tokens (`hearth token` + `HEARTH_AUTH=dev`), the refusal to serve a non-loopback
//! address without authentication, and JWKS refresh on an unknown kid (rate-limited).
mod auth_support;
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use auth_support::*;
use reqwest::Method;
use serde_json::json;

fn hearth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hearth"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HEARTH_") {
            c.env_remove(k);
        }
    }
    c
}

fn mint(dir: &std::path::Path, args: &[&str]) -> String {
    let out = hearth().arg("token").arg("--data-dir").arg(dir).args(args).output().expect("run hearth token");
    assert!(out.status.success(), "hearth token failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_tokens_work_locally() {
    let dir = tempfile::tempdir().unwrap();
    let prac = mint(dir.path(), &["--group", "practitioner"]);
    assert_eq!(prac.split('.').count(), 3, "a compact JWS: {prac}");
    let d = dir.path().to_string_lossy().into_owned();
    let s = tokio::task::block_in_place(|| common::TestServer::start_with_env(&[("HEARTH_AUTH", "dev"), ("HEARTH_DATA_DIR", &d)]));
    // The key is only readable by its owner.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("dev-signing-key.p8")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "dev key mode {mode:o}");
    }
    assert_denied(&call(&s, Method::GET, "/Patient", None, None).await, 401, "no token", &[]);
    let r = call(&s, Method::PUT, "/Patient/123", Some(&prac), Some(&json!({"resourceType": "Patient", "id": "123"}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    call(&s, Method::PUT, "/Patient/456", Some(&prac), Some(&json!({"resourceType": "Patient", "id": "456"}))).await;
    // A patient-scoped dev token sees only its patient.
    let pt = mint(dir.path(), &["--patient", "123", "--scope", "patient/*.rs"]);
    assert_eq!(call(&s, Method::GET, "/Patient/123", Some(&pt), None).await.status, 200);
    assert_denied(&call(&s, Method::GET, "/Patient/456", Some(&pt), None).await, 403, "other patient", &[]);
    let auditor = mint(dir.path(), &["--group", "auditor"]);
    assert_eq!(call(&s, Method::GET, "/Patient", Some(&auditor), None).await.status, 200);
    assert_denied(&call(&s, Method::DELETE, "/Patient/123", Some(&auditor), None).await, 403, "auditor delete", &[]);
    // A token of another key (another data directory) is refused.
    let other = tempfile::tempdir().unwrap();
    let foreign = mint(other.path(), &["--group", "practitioner"]);
    assert_denied(&call(&s, Method::GET, "/Patient/123", Some(&foreign), None).await, 401, "foreign dev key", &[]);
    // Expired dev tokens too.
    let expired = mint(dir.path(), &["--group", "practitioner", "--ttl=-3600"]);
    assert_denied(&call(&s, Method::GET, "/Patient/123", Some(&expired), None).await, 401, "expired dev token", &[]);
}

#[test]
fn refuses_a_public_address_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let out = hearth().args(["serve", "--listen", "0.0.0.0:0", "--data-dir"]).arg(dir.path()).stdin(Stdio::null()).output().expect("run hearth");
    assert!(!out.status.success(), "hearth served 0.0.0.0 without auth");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--insecure-no-auth"), "the refusal names the way out: {err}");
    // HEARTH_AUTH=jwt without an issuer is a configuration error, not an open server.
    let out = hearth().args(["serve", "--listen", "127.0.0.1:0", "--data-dir"]).arg(dir.path()).env("HEARTH_AUTH", "jwt").output().expect("run hearth");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HEARTH_JWT_ISSUER"));
    // With the explicit flag it starts.
    let mut child = hearth()
        .args(["serve", "--insecure-no-auth", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("read");
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("Hearth listening on http://0.0.0.0:"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_is_refreshed_for_an_unknown_kid_at_a_limited_rate() {
    let (s, jwks) = start(&[]).await;
    // Only the RSA key is published at first.
    let full = jwks.body.lock().unwrap().clone();
    let mut set: serde_json::Value = serde_json::from_str(&full).unwrap();
    set["keys"].as_array_mut().unwrap().retain(|k| k["kid"] == "rsa-1");
    *jwks.body.lock().unwrap() = set.to_string();
    let es = sign_es256(&claims(json!({"cognito:groups": ["practitioner"]})));
    assert_eq!(call(&s, Method::GET, "/Patient", Some(&es), None).await.status, 401, "ec-1 not published yet");
    // The issuer rotates in the EC key; an immediate retry does not hammer the JWKS.
    *jwks.body.lock().unwrap() = full;
    assert_eq!(call(&s, Method::GET, "/Patient", Some(&es), None).await.status, 401, "refresh is rate-limited");
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert_eq!(call(&s, Method::GET, "/Patient", Some(&es), None).await.status, 200, "refreshed on the unknown kid");
    assert_eq!(call(&s, Method::GET, "/Patient", Some(&practitioner()), None).await.status, 200);
}

/// The silo model: one database file per tenant, kept across restarts.
#[tokio::test(flavor = "multi_thread")]
async fn silo_tenancy_keeps_one_database_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    let env = [("HEARTH_TENANCY", "silo"), ("HEARTH_DATA_DIR", d.as_str())];
    let mut s = tokio::task::block_in_place(|| common::TestServer::start_with_env(&env));
    let t = |tenant: &str, p: &str| format!("{}/tenant/{tenant}/fhir{p}", s.root);
    let r = s.send(common::json_body(s.req(Method::PUT, &t("t1", "/Patient/p")), &json!({"resourceType": "Patient", "id": "p", "active": true}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(dir.path().join("tenants/t1/hearth.db").exists(), "tenant t1 has its own database file");
    assert_eq!(s.get(&t("t2", "/Patient/p")).await.status, 404);
    assert_eq!(s.get("/Patient/p").await.status, 404, "not in the default tenant");
    assert_eq!(s.get(&t("t1", "/Patient?_summary=count")).await.json()["total"], 1);
    tokio::task::block_in_place(|| s.stop());
    let s = tokio::task::block_in_place(|| common::TestServer::start_with_env(&env));
    let r = s.get(&format!("{}/tenant/t1/fhir/Patient/p", s.root)).await;
    assert_eq!(r.status, 200, "kept across a restart: {}", r.text());
    assert_eq!(s.get("/Patient?_summary=count").await.json()["total"], 0);
}

/// Every request is also an AuditEvent resource when asked (HEARTH_AUDIT_EVENTS).
#[tokio::test(flavor = "multi_thread")]
async fn audit_events_as_fhir_resources() {
    let dir = tempfile::tempdir().unwrap();
    let prac = mint(dir.path(), &["--group", "practitioner", "--sub", "dr-who"]);
    let d = dir.path().to_string_lossy().into_owned();
    let s = tokio::task::block_in_place(|| {
        common::TestServer::start_with_env(&[("HEARTH_AUTH", "dev"), ("HEARTH_DATA_DIR", &d), ("HEARTH_AUDIT_EVENTS", "true")])
    });
    let r = call(&s, Method::PUT, "/Patient/x", Some(&prac), Some(&json!({"resourceType": "Patient", "id": "x", "name": [{"family": "Auditson"}]}))).await;
    assert_eq!(r.status, 201);
    assert_eq!(call(&s, Method::GET, "/Patient/x", Some(&prac), None).await.status, 200);
    assert_eq!(call(&s, Method::GET, "/Patient/x", None, None).await.status, 401);
    let mut events = serde_json::Value::Null;
    for _ in 0..50 {
        events = call(&s, Method::GET, "/AuditEvent?entity=Patient/x&_count=50", Some(&prac), None).await.json();
        if events["total"].as_u64() >= Some(3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(events["total"], 3, "update, read, denied read: {events}");
    let entries = events["entry"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["resource"]["action"] == "U" && e["resource"]["agent"][0]["who"]["identifier"]["value"] == "dr-who"));
    assert!(entries.iter().any(|e| e["resource"]["outcome"] == "4" && e["resource"]["agent"][0]["who"]["identifier"]["value"] == "anonymous"));
    assert!(!events.to_string().contains("Auditson"), "no resource content in AuditEvents");
}
