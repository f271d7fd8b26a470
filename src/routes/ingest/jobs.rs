//! `$ingest-document` asynchronous jobs: state in memory while this process runs, and in
//! the blob store (`<tenant>/ingest-jobs/<job>`) so that a finished result outlives a
//! restart. A job whose record still says running after an hour was interrupted.
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use serde_json::{json, Value};

use crate::interactions::Fhir;
use crate::persistence::Blob;

/// A job interrupted (e.g. by a restart) is reported after this long.
const INTERRUPTED_AFTER_SECS: i64 = 3600;

#[derive(Clone)]
pub enum Job {
    Running,
    Done(u16, Value),
    Interrupted,
}

fn memory() -> &'static Mutex<HashMap<String, Job>> {
    static JOBS: OnceLock<Mutex<HashMap<String, Job>>> = OnceLock::new();
    JOBS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Whether `id` has the form of a job id (a UUID; it is part of a blob key).
pub fn valid_id(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

fn key(tenant: &str, id: &str) -> String {
    format!("{tenant}/ingest-jobs/{id}")
}

fn remember(tenant: &str, id: &str, job: Job) {
    if let Ok(mut j) = memory().lock() {
        // finished jobs are forgotten beyond 1,000 (the blob store keeps them)
        if j.len() >= 1000 {
            let done: Vec<String> = j.iter().filter(|(_, v)| !matches!(v, Job::Running)).map(|(k, _)| k.clone()).take(100).collect();
            for k in done {
                j.remove(&k);
            }
        }
        j.insert(key(tenant, id), job);
    }
}

async fn store(fhir: &Fhir, tenant: &str, id: &str, record: Value) {
    let blob = Blob { content_type: "application/json".into(), data: Bytes::from(record.to_string()) };
    if let Err(e) = fhir.blobs.put(&key(tenant, id), blob).await {
        tracing::error!(error = %e, job = id, "cannot record the $ingest-document job");
    }
}

pub async fn started(fhir: &Fhir, tenant: &str, id: &str) {
    remember(tenant, id, Job::Running);
    store(fhir, tenant, id, json!({"state": "running", "started": chrono::Utc::now().timestamp()})).await;
}

pub async fn finished(fhir: &Fhir, tenant: &str, id: &str, status: u16, body: Value) {
    store(fhir, tenant, id, json!({"state": "done", "status": status, "body": body})).await;
    remember(tenant, id, Job::Done(status, body));
}

/// The state of job `id` of `tenant`, if there is such a job.
pub async fn get(fhir: &Fhir, tenant: &str, id: &str) -> crate::error::Result<Option<Job>> {
    if let Some(j) = memory().lock().ok().and_then(|m| m.get(&key(tenant, id)).cloned()) {
        return Ok(Some(j));
    }
    let Some(blob) = fhir.blobs.get(&key(tenant, id)).await? else { return Ok(None) };
    let Ok(record) = serde_json::from_slice::<Value>(&blob.data) else { return Ok(Some(Job::Interrupted)) };
    Ok(Some(match record.get("state").and_then(Value::as_str) {
        Some("done") => Job::Done(record.get("status").and_then(Value::as_u64).unwrap_or(200) as u16, record.get("body").cloned().unwrap_or(Value::Null)),
        Some("running") if chrono::Utc::now().timestamp() - record.get("started").and_then(Value::as_i64).unwrap_or(0) < INTERRUPTED_AFTER_SECS => Job::Running,
        _ => Job::Interrupted,
    }))
}

#[cfg(test)]
mod tests {
    use super::valid_id;

    #[test]
    fn only_uuids_are_job_ids() {
        assert!(valid_id("0b6e8f0c-3a1d-4f5e-9c2b-7d8e9f0a1b2c"));
        assert!(!valid_id("../../etc/passwd-000000000000000000000"));
        assert!(!valid_id("123"));
    }
}
