//! Shared helpers for the HTTP integration tests: start the real `hearth` binary on a
//! random port, talk to it with reqwest, stop it with SIGTERM.
#![allow(dead_code)]

pub mod aws;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;

pub const FHIR_JSON: &str = "application/fhir+json";
const READY_PREFIX: &str = "Hearth listening on ";

/// A running `hearth serve` child process with its own data directory.
pub struct TestServer {
    child: Option<Child>,
    /// Data directory owned by this server (None when the caller gave one).
    _owned_dir: Option<tempfile::TempDir>,
    _log_dir: tempfile::TempDir,
    log_path: PathBuf,
    pub data_dir: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub root: String,
    /// `http://127.0.0.1:PORT/fhir`
    pub base: String,
    pub client: reqwest::Client,
}

/// A fully read HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parse the body as JSON (numbers keep their literal text).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body (status {}) is not JSON: {e}\nbody: {}",
                self.status,
                truncate(&self.text(), 2000)
            )
        })
    }

    pub fn try_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The version from a weak ETag `W/"n"`.
    pub fn etag_version(&self) -> String {
        let etag = self
            .header("etag")
            .unwrap_or_else(|| panic!("no ETag header (status {})", self.status));
        parse_weak_etag(&etag).unwrap_or_else(|| panic!("ETag {etag:?} is not W/\"n\""))
    }

    /// Panic unless the status is `expected`, showing the body.
    pub fn expect(&self, expected: u16, ctx: &str) -> &Self {
        assert_eq!(
            self.status,
            expected,
            "{ctx}: expected status {expected}, got {}; body: {}",
            self.status,
            truncate(&self.text(), 2000)
        );
        self
    }

    /// Panic unless the body is an OperationOutcome with well-formed issues.
    pub fn expect_outcome(&self, ctx: &str) -> Value {
        let v = self.try_json().unwrap_or_else(|| {
            panic!(
                "{ctx}: status {} body is not JSON: {}",
                self.status,
                truncate(&self.text(), 500)
            )
        });
        if let Err(e) = check_outcome(&v) {
            panic!("{ctx}: status {}: {e}; body: {}", self.status, truncate(&self.text(), 1000));
        }
        v
    }
}

pub fn parse_weak_etag(etag: &str) -> Option<String> {
    let s = etag.trim();
    let s = s.strip_prefix("W/")?;
    let s = s.strip_prefix('"')?.strip_suffix('"')?;
    Some(s.to_string())
}

/// Ok when `v` is an OperationOutcome whose issues each carry severity and code.
pub fn check_outcome(v: &Value) -> Result<(), String> {
    if v.get("resourceType").and_then(Value::as_str) != Some("OperationOutcome") {
        return Err("resourceType is not OperationOutcome".into());
    }
    let issues = v
        .get("issue")
        .and_then(Value::as_array)
        .ok_or("OperationOutcome has no issue array")?;
    if issues.is_empty() {
        return Err("OperationOutcome.issue is empty".into());
    }
    for (i, issue) in issues.iter().enumerate() {
        for field in ["severity", "code"] {
            if issue.get(field).and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(format!("issue[{i}] has no {field}"));
            }
        }
    }
    Ok(())
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &s[..end], s.len())
}

impl TestServer {
    /// Start a server on a fresh temporary data directory.
    pub fn start() -> TestServer {
        Self::start_with_args(&[])
    }

    /// Start a server on a fresh temporary data directory with extra CLI arguments.
    pub fn start_with_args(extra: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("create temp data dir");
        let path = dir.path().to_path_buf();
        let mut args = std_args(&path);
        args.extend(extra.iter().map(|s| s.to_string()));
        let env = aws::backend_env(&path);
        Self::launch(&path, Some(dir), args, &env, "/fhir")
    }

    /// Start a server on a given data directory (kept by the caller, e.g. for restarts).
    pub fn start_in(dir: &Path) -> TestServer {
        let env = aws::backend_env(dir);
        Self::launch(dir, None, std_args(dir), &env, "/fhir")
    }

    /// Start a server configured only through `HEARTH_*` environment variables
    /// (`serve` subcommand, no flags). HEARTH_DATA_DIR is set to a fresh temp dir and
    /// HEARTH_LISTEN to 127.0.0.1:0 unless given.
    pub fn start_with_env(envs: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::tempdir().expect("create temp data dir");
        let path = dir.path().to_path_buf();
        let mut all: Vec<(String, String)> = envs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for (k, v) in aws::backend_env(&path) {
            if !all.iter().any(|(have, _)| *have == k) {
                all.push((k, v));
            }
        }
        if !envs.iter().any(|(k, _)| *k == "HEARTH_DATA_DIR") {
            all.push(("HEARTH_DATA_DIR".into(), path.to_string_lossy().into_owned()));
        }
        if !envs.iter().any(|(k, _)| *k == "HEARTH_LISTEN") {
            all.push(("HEARTH_LISTEN".into(), "127.0.0.1:0".into()));
        }
        let base_path = envs
            .iter()
            .find(|(k, _)| *k == "HEARTH_BASE_PATH")
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| "/fhir".into());
        Self::launch(&path, Some(dir), vec!["serve".into()], &all, &base_path)
    }

    fn launch(
        dir: &Path,
        owned: Option<tempfile::TempDir>,
        args: Vec<String>,
        envs: &[(String, String)],
        base_path: &str,
    ) -> TestServer {
        let log_dir = tempfile::tempdir().expect("create temp log dir");
        let log_path = log_dir.path().join("hearth.log");
        let log = File::create(&log_path).expect("create log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hearth"));
        for (k, _) in std::env::vars() {
            if k.starts_with("HEARTH_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(&args)
            .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = cmd.spawn().expect("spawn hearth binary");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let reader = BufReader::new(stdout);
            let mut sent = false;
            for line in reader.lines() {
                let Ok(line) = line else { break };
                if !sent && line.starts_with(READY_PREFIX) {
                    let _ = tx.send(line);
                    sent = true;
                }
                // keep draining so the child never blocks on a full pipe
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let line = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => break line,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    panic!(
                        "hearth exited before printing its listening line (status {status:?}); log:\n{}",
                        read_tail(&log_path, 8000)
                    );
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "hearth exited before becoming ready (status {status}); log:\n{}",
                    read_tail(&log_path, 8000)
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "hearth did not print '{READY_PREFIX}...' within 120s; log:\n{}",
                    read_tail(&log_path, 8000)
                );
            }
        };
        let root = line[READY_PREFIX.len()..].trim().trim_end_matches('/').to_string();
        assert!(
            root.starts_with("http://127.0.0.1:"),
            "unexpected listening line: {line:?}"
        );
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(120))
            .build()
            .expect("build reqwest client");
        TestServer {
            child: Some(child),
            _owned_dir: owned,
            _log_dir: log_dir,
            log_path,
            data_dir: dir.to_path_buf(),
            base: format!("{root}{base_path}"),
            root,
            client,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// The server's stderr log so far (tail).
    pub fn log(&self) -> String {
        read_tail(&self.log_path, 8000)
    }

    /// Stop with SIGTERM and wait (up to 30 s) for a clean exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.stop_with("TERM")
    }

    /// Stop with the given signal name (`TERM`, `INT`) and wait (up to 30 s) for the exit.
    pub fn stop_with(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().expect("server already stopped");
        let pid = child.id().to_string();
        let _ = Command::new("kill").arg(format!("-{signal}")).arg(&pid).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("hearth did not exit within 30s of SIG{signal}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Absolute URL for a path below the FHIR base (`/Patient/1`), or a full URL as is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    pub async fn send(&self, rb: RequestBuilder) -> Resp {
        let resp = rb.send().await.unwrap_or_else(|e| {
            panic!("HTTP request failed: {e:?}\nserver log:\n{}", self.log())
        });
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.expect("read response body");
        Resp { status, headers, body }
    }

    /// GET asking for FHIR JSON (a Binary then comes back as a resource, not raw bytes).
    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.req(Method::GET, path).header("accept", FHIR_JSON)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.req(Method::DELETE, path)).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Resp {
        self.send(json_body(self.req(Method::PUT, path), body)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.send(json_body(self.req(Method::POST, path), body)).await
    }

    /// All entries of a history Bundle, following `next` links.
    pub async fn history_entries(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(self.url(path));
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            assert!(pages < 10_000, "history paging does not terminate at {path}");
            let r = self.get(&url).await;
            r.expect(200, &format!("GET {url}"));
            let b = r.json();
            assert_eq!(b["resourceType"], "Bundle", "history of {path} is not a Bundle");
            assert_eq!(b["type"], "history", "Bundle.type of {path} history");
            if let Some(entries) = b.get("entry").and_then(Value::as_array) {
                out.extend(entries.iter().cloned());
            }
            next = next_link(&b);
        }
        out
    }

    /// Number of versions in the whole server (system history).
    pub async fn system_history_count(&self) -> usize {
        self.history_entries("/_history?_count=1000").await.len()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if std::thread::panicking() {
                eprintln!("---- hearth server log (tail) ----\n{}", self.log());
            }
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

fn std_args(dir: &Path) -> Vec<String> {
    vec![
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        dir.to_string_lossy().into_owned(),
        "--base-path".into(),
        "/fhir".into(),
    ]
}

/// A response read from a raw socket.
#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Send raw bytes to the server over a fresh TCP connection (write errors are ignored:
/// the server may answer early), optionally half-close (signals "no more body"), and read
/// the response until EOF (send `Connection: close`). None when no response came back.
pub async fn raw_http(root: &str, request: Vec<u8>, half_close: bool) -> Option<RawResp> {
    let addr = root.trim_start_matches("http://").to_string();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut sock = std::net::TcpStream::connect(&addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        for chunk in request.chunks(16 * 1024) {
            if sock.write_all(chunk).is_err() {
                break;
            }
        }
        if half_close {
            let _ = sock.shutdown(std::net::Shutdown::Write);
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        parse_raw_response(&out)
    })
    .await
    .expect("raw socket task")
}

/// Like curl: send `method path` with a Content-Length body and `Connection: close`, writing
/// the body on another thread while reading the response, so an early answer (e.g. 413
/// before the body was read) is seen even when the server closes the connection.
pub async fn raw_request(
    root: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Option<RawResp> {
    let addr = root.trim_start_matches("http://").to_string();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut sock = std::net::TcpStream::connect(&addr).expect("connect");
        sock.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let mut writer = sock.try_clone().expect("clone socket");
        let w = std::thread::spawn(move || {
            if writer.write_all(head.as_bytes()).is_err() {
                return;
            }
            for chunk in body.chunks(16 * 1024) {
                if writer.write_all(chunk).is_err() {
                    return;
                }
            }
        });
        let mut out = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match sock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        let _ = sock.shutdown(std::net::Shutdown::Both);
        let _ = w.join();
        parse_raw_response(&out)
    })
    .await
    .expect("raw socket task")
}

fn parse_raw_response(out: &[u8]) -> Option<RawResp> {
    let split = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let raw_body = &out[split + 4..];
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        let mut rest = raw_body;
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size_txt = String::from_utf8_lossy(&rest[..eol]);
            let Ok(size) = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16) else { break };
            if size == 0 || rest.len() < eol + 2 + size {
                break;
            }
            body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[(eol + 4 + size).min(rest.len())..];
        }
        body
    } else {
        raw_body.to_vec()
    };
    Some(RawResp { status, head, body })
}

pub fn json_body(rb: RequestBuilder, body: &Value) -> RequestBuilder {
    rb.header("content-type", FHIR_JSON)
        .header("accept", FHIR_JSON)
        .body(serde_json::to_vec(body).expect("serialize body"))
}

/// The `next` link of a Bundle, if any.
pub fn next_link(bundle: &Value) -> Option<String> {
    bundle.get("link")?.as_array()?.iter().find_map(|l| {
        if l.get("relation")?.as_str()? == "next" {
            Some(l.get("url")?.as_str()?.to_string())
        } else {
            None
        }
    })
}

fn read_tail(path: &Path, max: usize) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let mut buf = Vec::new();
        let _ = f.read_to_end(&mut buf);
        s = String::from_utf8_lossy(&buf).into_owned();
    }
    if s.len() > max {
        let mut start = s.len() - max;
        while !s.is_char_boundary(start) {
            start += 1;
        }
        s = s[start..].to_string();
    }
    s
}

/// Remove server-managed meta (versionId, lastUpdated); drop `meta` if it becomes empty.
pub fn strip_server_meta(v: &mut Value) {
    if let Some(obj) = v.as_object_mut() {
        let mut empty = false;
        if let Some(meta) = obj.get_mut("meta").and_then(Value::as_object_mut) {
            meta.remove("versionId");
            meta.remove("lastUpdated");
            empty = meta.is_empty();
        }
        if empty {
            obj.remove("meta");
        }
    }
}

/// Parse JSON text keeping number literals exact.
pub fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad JSON literal in test: {e}: {text}"))
}

/// Percent-encode a query parameter value.
pub fn qenc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { B64[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { B64[n as usize & 63] as char } else { '=' });
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| B64.iter().position(|&x| x == c).map(|p| p as u32);
    let mut out = Vec::new();
    for chunk in s.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = if c == b'=' && i >= 4 - pad { 0 } else { val(c)? };
            n = (n << 6) | v;
        }
        out.push((n >> 16) as u8);
        if pad < 2 {
            out.push((n >> 8) as u8);
        }
        if pad < 1 {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// The 145 R4 (4.0.1) resource types.
pub const R4_RESOURCE_TYPES: &[&str] = &[
    "Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance", "Appointment",
    "AppointmentResponse", "AuditEvent", "Basic", "Binary", "BiologicallyDerivedProduct",
    "BodyStructure", "Bundle", "CapabilityStatement", "CarePlan", "CareTeam", "CatalogEntry",
    "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse", "ClinicalImpression",
    "CodeSystem", "Communication", "CommunicationRequest", "CompartmentDefinition",
    "Composition", "ConceptMap", "Condition", "Consent", "Contract", "Coverage",
    "CoverageEligibilityRequest", "CoverageEligibilityResponse", "DetectedIssue", "Device",
    "DeviceDefinition", "DeviceMetric", "DeviceRequest", "DeviceUseStatement",
    "DiagnosticReport", "DocumentManifest", "DocumentReference", "EffectEvidenceSynthesis",
    "Encounter", "Endpoint", "EnrollmentRequest", "EnrollmentResponse", "EpisodeOfCare",
    "EventDefinition", "Evidence", "EvidenceVariable", "ExampleScenario",
    "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal", "GraphDefinition", "Group",
    "GuidanceResponse", "HealthcareService", "ImagingStudy", "Immunization",
    "ImmunizationEvaluation", "ImmunizationRecommendation", "ImplementationGuide",
    "InsurancePlan", "Invoice", "Library", "Linkage", "List", "Location", "Measure",
    "MeasureReport", "Media", "Medication", "MedicationAdministration", "MedicationDispense",
    "MedicationKnowledge", "MedicationRequest", "MedicationStatement", "MedicinalProduct",
    "MedicinalProductAuthorization", "MedicinalProductContraindication",
    "MedicinalProductIndication", "MedicinalProductIngredient", "MedicinalProductInteraction",
    "MedicinalProductManufactured", "MedicinalProductPackaged",
    "MedicinalProductPharmaceutical", "MedicinalProductUndesirableEffect", "MessageDefinition",
    "MessageHeader", "MolecularSequence", "NamingSystem", "NutritionOrder", "Observation",
    "ObservationDefinition", "OperationDefinition", "OperationOutcome", "Organization",
    "OrganizationAffiliation", "Parameters", "Patient", "PaymentNotice",
    "PaymentReconciliation", "Person", "PlanDefinition", "Practitioner", "PractitionerRole",
    "Procedure", "Provenance", "Questionnaire", "QuestionnaireResponse", "RelatedPerson",
    "RequestGroup", "ResearchDefinition", "ResearchElementDefinition", "ResearchStudy",
    "ResearchSubject", "RiskAssessment", "RiskEvidenceSynthesis", "Schedule",
    "SearchParameter", "ServiceRequest", "Slot", "Specimen", "SpecimenDefinition",
    "StructureDefinition", "StructureMap", "Subscription", "Substance",
    "SubstanceNucleicAcid", "SubstancePolymer", "SubstanceProtein",
    "SubstanceReferenceInformation", "SubstanceSourceMaterial", "SubstanceSpecification",
    "SupplyDelivery", "SupplyRequest", "Task", "TerminologyCapabilities", "TestReport",
    "TestScript", "ValueSet", "VerificationResult", "VisionPrescription",
];
