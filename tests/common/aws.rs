//! The AWS configuration on loopback: `moto[server]` (DynamoDB, DynamoDB Streams, S3) and
//! `osmem-server` (the OpenSearch REST API), both from the virtualenv that
//! scripts/test.sh creates in .cache/venv-moto. One pair per test process; each server
//! gets its own table, bucket and index prefix. With OPENSEARCH_URL set, that cluster is
//! used instead of osmem. Missing emulators fail the test (they are never skipped).
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::TestServer;

pub struct Emulators {
    pub moto_url: String,
    pub opensearch_url: String,
    _children: Vec<Child>,
}

fn venv_bin(env: &str, rel: &str) -> PathBuf {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel));
    assert!(path.exists(), "{} is missing: run `bash scripts/test.sh` (it creates .cache/venv-moto) or set {env}", path.display());
    path
}

fn start_moto() -> (Child, String) {
    let bin = venv_bin("MOTO_SERVER", ".cache/venv-moto/bin/moto_server");
    // The venv's python runs moto with requests applied one at a time (see the script).
    let python = bin.with_file_name("python");
    let launcher = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support_moto.py");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // moto cannot watch its parent: a small shell does, so no emulator outlives the tests.
    let script = format!("\"$0\" \"$1\" 127.0.0.1 {port} & m=$!; while kill -0 {} 2>/dev/null; do sleep 1; done; kill $m", std::process::id());
    let child = Command::new("sh")
        .args(["-c", &script, python.to_str().unwrap(), launcher.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, url)
}

fn start_osmem() -> (Child, String) {
    let bin = venv_bin("OSMEM_SERVER_BIN", ".cache/venv-moto/lib/python3.11/site-packages/osmem_server/bin/osmem-server");
    let mut child = Command::new(bin)
        .args(["-addr", "127.0.0.1:0", "-parent-pid", &std::process::id().to_string(), "-no-stdin-watch"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start osmem-server");
    let out = child.stdout.take().unwrap();
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        let line = lines.next().expect("osmem-server exited before printing its address").expect("read osmem-server");
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            if let Some(u) = v.get("url").and_then(|u| u.as_str()) {
                break u.trim_end_matches('/').to_string();
            }
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// moto alone (e.g. for Cognito), started once per test process; its URL.
pub fn moto_url() -> &'static str {
    static MOTO: OnceLock<(Child, String)> = OnceLock::new();
    &MOTO.get_or_init(start_moto).1
}

pub fn emulators() -> &'static Emulators {
    static EMU: OnceLock<Emulators> = OnceLock::new();
    EMU.get_or_init(|| {
        let moto_url = moto_url().to_string();
        let mut children = Vec::new();
        let opensearch_url = match std::env::var("OPENSEARCH_URL") {
            Ok(u) if !u.is_empty() => u.trim_end_matches('/').to_string(),
            _ => {
                let (os, url) = start_osmem();
                children.push(os);
                url
            }
        };
        Emulators { moto_url, opensearch_url, _children: children }
    })
}

/// `HEARTH_TEST_BACKEND=aws` runs the HTTP suites against the AWS backend.
pub fn aws_selected() -> bool {
    std::env::var("HEARTH_TEST_BACKEND").is_ok_and(|b| b == "aws")
}

/// The extra environment of a test server for the selected backend; on AWS the table,
/// bucket and index are named after the data directory, so a restart finds its data.
pub fn backend_env(dir: &std::path::Path) -> Vec<(String, String)> {
    if !aws_selected() {
        return Vec::new();
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    aws_env_named(&format!("t{:016x}", h.finish()))
}

/// Environment of a server in local AWS mode with its own table, bucket and index.
pub fn aws_env() -> Vec<(String, String)> {
    aws_env_named(&format!("t{}", uuid_like()))
}

fn aws_env_named(name: &str) -> Vec<(String, String)> {
    let emu = emulators();
    let name = name.to_string();
    vec![
        ("HEARTH_BACKEND".into(), "aws".into()),
        ("AWS_ENDPOINT_URL".into(), emu.moto_url.clone()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("HEARTH_DYNAMODB_TABLE".into(), format!("{name}-resources")),
        ("HEARTH_S3_BUCKET".into(), format!("{name}-data")),
        ("HEARTH_OPENSEARCH_URL".into(), emu.opensearch_url.clone()),
        ("HEARTH_OPENSEARCH_INDEX".into(), name),
    ]
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{:x}{:x}{}", std::process::id(), nanos, N.fetch_add(1, Ordering::Relaxed))
}

impl TestServer {
    /// A server on the AWS backend (emulated on loopback) in local AWS mode.
    pub fn start_aws() -> TestServer {
        let env = aws_env();
        let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        TestServer::start_with_env(&refs)
    }

    /// Waits until a search sees `expected` matches (the index follows the table's stream).
    pub async fn wait_indexed(&self, query: &str, expected: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let sep = if query.contains('?') { '&' } else { '?' };
        loop {
            let r = self.get(&format!("{query}{sep}_summary=count")).await;
            let total = r.try_json().and_then(|v| v.get("total").and_then(|t| t.as_u64()));
            if total == Some(expected as u64) {
                return;
            }
            assert!(Instant::now() < deadline, "search {query} did not reach {expected} matches within 30 s (last: {total:?}, status {})", r.status);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
