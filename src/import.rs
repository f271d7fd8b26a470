//! `hearth import PATH...`: loads Bundles and NDJSON files (plain, `.gz`, `.bz2`) into a
//! running server (`--server URL`, over HTTP) or straight into a data directory
//! (`--data-dir`, through the same transaction code the server runs).
mod http;
mod local;
mod source;

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::config::ImportConfig;
use crate::interactions::Fhir;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where Bundles go.
enum Sink {
    Server(http::Client),
    Local(Arc<Fhir>),
}

/// What one Bundle did.
#[derive(Default, Debug, Clone)]
struct Tally {
    resources: usize,
    created: usize,
    matched: usize,
    failed: usize,
    bundles: usize,
    failed_bundles: usize,
}

pub async fn run(config: ImportConfig) -> Result<(), BoxError> {
    let files = source::files(&config.paths)?;
    if files.is_empty() {
        return Err("no files to import".into());
    }
    let (sink, store) = match (&config.server, &config.data_dir) {
        (Some(url), _) => (Sink::Server(http::Client::new(url)?), None),
        (None, Some(dir)) => {
            let (fhir, store) = local::open(dir, &config.sqlite_sync).await?;
            (Sink::Local(Arc::new(fhir)), Some(store))
        }
        (None, None) => return Err("give --server URL or --data-dir DIR".into()),
    };
    let sink = Arc::new(sink);
    let total_bytes: u64 = files.iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum();
    let start = Instant::now();
    let mut tally = Tally::default();
    let mut done_bytes = 0u64;
    // Shared resources first, one at a time; then the rest, `parallel` at a time.
    let (first, rest): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| source::goes_first(f));
    for group in [first, rest] {
        let parallel = if group.iter().all(|f| source::goes_first(f)) { 1 } else { config.parallel.max(1) };
        let mut pending = group.into_iter();
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < parallel {
                let Some(path) = pending.next() else { break };
                let sink = sink.clone();
                let batch = config.batch_size.max(1);
                running.spawn(async move {
                    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    let r = import_file(&sink, &path, batch).await;
                    (path, size, r)
                });
            }
            let Some(joined) = running.join_next().await else { break };
            let (path, size, r) = joined?;
            done_bytes += size;
            match r {
                Ok(t) => add(&mut tally, &t),
                Err(e) => {
                    tally.failed_bundles += 1;
                    eprintln!("\r{}: {e}", path.display());
                }
            }
            if !config.quiet {
                progress(&tally, start, done_bytes, total_bytes);
            }
        }
    }
    if let Some(store) = store {
        crate::persistence::ResourceStore::close(store.as_ref()).await?;
    }
    let secs = start.elapsed().as_secs_f64();
    if !config.quiet {
        eprintln!();
    }
    println!(
        "imported {} resources ({} created, {} already present) from {} Bundles in {:.2} s: {:.0} resources/s; {} entries failed, {} Bundles failed",
        tally.resources,
        tally.created,
        tally.matched,
        tally.bundles,
        secs,
        tally.resources as f64 / secs.max(1e-9),
        tally.failed,
        tally.failed_bundles
    );
    if tally.failed_bundles > 0 || tally.failed > 0 {
        return Err(format!("{} Bundles and {} entries failed", tally.failed_bundles, tally.failed).into());
    }
    Ok(())
}

fn add(t: &mut Tally, o: &Tally) {
    t.resources += o.resources;
    t.created += o.created;
    t.matched += o.matched;
    t.failed += o.failed;
    t.bundles += o.bundles;
    t.failed_bundles += o.failed_bundles;
}

fn progress(t: &Tally, start: Instant, done: u64, total: u64) {
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let rate = t.resources as f64 / secs;
    let frac = if total > 0 { done as f64 / total as f64 } else { 1.0 };
    let eta = if frac > 0.0 { secs / frac - secs } else { 0.0 };
    let width = 30;
    let filled = ((frac * width as f64) as usize).min(width);
    eprint!(
        "\r[{}{}] {:>3.0}% {} resources, {:.0}/s, ETA {:.0} s   ",
        "#".repeat(filled),
        " ".repeat(width - filled),
        frac * 100.0,
        t.resources,
        rate,
        eta.max(0.0)
    );
}

/// Imports one file: a Bundle as is, or NDJSON in transactions of `batch` resources.
async fn import_file(sink: &Sink, path: &std::path::Path, batch: usize) -> Result<Tally, BoxError> {
    let text = source::read(path)?;
    let mut tally = Tally::default();
    let trimmed = text.trim_start();
    // A transaction or batch Bundle goes to a server as the file's bytes (no parse and
    // serialisation here; the server validates it).
    if let (Sink::Server(_), true) = (sink, trimmed.starts_with('{')) {
        if let Ok(head) = serde_json::from_str::<source::Head>(trimmed) {
            if head.is_transaction_or_batch() {
                send_raw(sink, trimmed.as_bytes(), &mut tally).await?;
                return Ok(tally);
            }
        }
    }
    let single: Option<Value> = if trimmed.starts_with('{') { serde_json::from_str(trimmed).ok() } else { None };
    match single {
        Some(v) if v.get("resourceType").and_then(Value::as_str) == Some("Bundle") && matches!(v.get("type").and_then(Value::as_str), Some("transaction" | "batch")) => {
            send(sink, v, &mut tally).await?;
        }
        Some(v) if v.get("resourceType").and_then(Value::as_str) == Some("Bundle") => {
            // Another kind of Bundle (collection, searchset...): load its resources.
            let resources: Vec<Value> = v.get("entry").and_then(Value::as_array).map(|a| a.iter().filter_map(|e| e.get("resource").cloned()).collect()).unwrap_or_default();
            for chunk in resources.chunks(batch) {
                send(sink, source::bundle_of(chunk.to_vec()), &mut tally).await?;
            }
        }
        Some(v) => {
            send(sink, source::bundle_of(vec![v]), &mut tally).await?;
        }
        None => {
            let mut chunk = Vec::with_capacity(batch);
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line).map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
                chunk.push(v);
                if chunk.len() == batch {
                    send(sink, source::bundle_of(std::mem::take(&mut chunk)), &mut tally).await?;
                }
            }
            if !chunk.is_empty() {
                send(sink, source::bundle_of(chunk), &mut tally).await?;
            }
        }
    }
    Ok(tally)
}

/// POSTs a Bundle's JSON to the server; the status of each entry.
async fn post(client: &http::Client, body: &[u8]) -> Result<Vec<u16>, BoxError> {
    let (status, resp) = client.post_json(body).await?;
    if status != 200 {
        return Err(format!("the server answered {status}: {}", String::from_utf8_lossy(&resp).chars().take(1000).collect::<String>()).into());
    }
    let v: Value = serde_json::from_slice(&resp)?;
    Ok(v.get("entry")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| e.pointer("/response/status").and_then(Value::as_str).and_then(|s| s.split(' ').next()).and_then(|s| s.parse().ok()).unwrap_or(0))
                .collect()
        })
        .unwrap_or_default())
}

/// Sends a Bundle's JSON text as it is to the server and counts its outcome.
async fn send_raw(sink: &Sink, body: &[u8], tally: &mut Tally) -> Result<(), BoxError> {
    let Sink::Server(client) = sink else { return Err("a raw Bundle goes to a server".into()) };
    tally.bundles += 1;
    let statuses = post(client, body).await?;
    count(&statuses, tally);
    Ok(())
}

/// Sends one Bundle and counts its outcome.
async fn send(sink: &Sink, bundle: Value, tally: &mut Tally) -> Result<(), BoxError> {
    tally.bundles += 1;
    let statuses: Vec<u16> = match sink {
        Sink::Server(client) => post(client, &serde_json::to_vec(&bundle)?).await?,
        Sink::Local(fhir) => match crate::interactions::transaction::process(fhir, crate::TENANT, bundle, Default::default(), "", &None).await {
            Ok(o) => o.entries.iter().map(|e| e.status).collect(),
            Err(f) => {
                let msg: Vec<String> = f.issues().iter().map(|i| i.diagnostics.clone()).collect();
                return Err(msg.join("; ").into());
            }
        },
    };
    count(&statuses, tally);
    Ok(())
}

fn count(statuses: &[u16], tally: &mut Tally) {
    for &s in statuses {
        match s {
            201 => {
                tally.created += 1;
                tally.resources += 1;
            }
            200 | 204 => {
                tally.matched += 1;
                tally.resources += 1;
            }
            _ => tally.failed += 1,
        }
    }
}
