//! Writes: index creation, `_bulk` application of stored versions (idempotent through
//! external versioning), refresh, and rebuilding a tenant's index from its versions.
use bytes::Bytes;
use opensearch::http::Method;
use serde_json::{json, Value};

use super::document::{document, key, tombstone};
use super::mapping::index_body;
use super::OpenSearchIndex;
use crate::error::{FhirError, Result};
use crate::persistence::StoredVersion;
use crate::search::extract::Extractor;

/// A `_bulk` request is cut at about this many bytes (domains accept 10 MB or more).
const MAX_BULK_BYTES: usize = 5 * 1024 * 1024;
/// Versions per `_bulk` when rebuilding an index.
const REBUILD_BATCH: usize = 500;

/// One prepared bulk operation: its NDJSON lines, or why it could not be prepared.
type Prepared = std::result::Result<Vec<u8>, FhirError>;

impl OpenSearchIndex {
    /// Creates the tenant's index with the mapping when it does not exist.
    pub async fn ensure_index(&self, tenant: &str) -> Result<()> {
        let name = self.index_of(tenant)?;
        if self.ensured.lock().map(|s| s.contains(&name)).unwrap_or(false) {
            return Ok(());
        }
        let head = self.client.send(Method::Head, &name, None, false).await?;
        if !head.ok() {
            if head.status != 404 {
                return Err(FhirError::Internal(format!("the search index could not be checked: {}", head.describe())));
            }
            let created = self.client.json(Method::Put, &name, &index_body()).await?;
            if !created.ok() && created.error_type() != "resource_already_exists_exception" {
                tracing::debug!(error = %created.body, "index creation failed");
                return Err(FhirError::Internal(format!("the search index could not be created: {}", created.describe())));
            }
            tracing::info!(index = %name, "search index created");
        }
        if let Ok(mut s) = self.ensured.lock() {
            s.insert(name);
        }
        Ok(())
    }

    /// Deletes the tenant's index (nothing when it does not exist).
    pub async fn drop_index(&self, tenant: &str) -> Result<()> {
        let name = self.index_of(tenant)?;
        if let Ok(mut s) = self.ensured.lock() {
            s.remove(&name);
        }
        let reply = self.client.send(Method::Delete, &name, None, false).await?;
        if reply.ok() || reply.status == 404 {
            return Ok(());
        }
        Err(FhirError::Internal(format!("the search index could not be deleted: {}", reply.describe())))
    }

    /// Makes every write so far visible to searches.
    pub async fn refresh(&self, tenant: &str) -> Result<()> {
        let name = self.index_of(tenant)?;
        let reply = self.client.send(Method::Post, &format!("{name}/_refresh"), None, false).await?;
        if reply.ok() || reply.status == 404 {
            return Ok(());
        }
        Err(FhirError::Internal(format!("the search index could not be refreshed: {}", reply.describe())))
    }

    /// Indexes live versions and marks deleted ones, in `_bulk` requests. Each version is
    /// applied only when newer than what the index holds (an older or equal one is a success
    /// that changes nothing), so replays and out-of-order delivery are harmless. One result
    /// per version, in order, for reporting partial batch failures.
    pub async fn apply(&self, tenant: &str, versions: &[StoredVersion]) -> Result<Vec<Result<()>>> {
        self.ensure_index(tenant).await?;
        let name = self.index_of(tenant)?;
        let extractor = self.schema.get().extractor.clone();
        let owned: Vec<StoredVersion> = versions.to_vec();
        let index = name.clone();
        // Extraction evaluates FHIRPath: keep it off the async workers.
        let prepared: Vec<Prepared> = tokio::task::spawn_blocking(move || owned.iter().map(|v| prepare(&extractor, &index, v)).collect())
            .await
            .map_err(|e| FhirError::Internal(format!("indexing task failed: {e}")))?;
        let mut results: Vec<Option<Result<()>>> = (0..versions.len()).map(|_| None).collect();
        let mut batch: Vec<u8> = Vec::new();
        let mut members: Vec<usize> = Vec::new();
        for (i, p) in prepared.into_iter().enumerate() {
            match p {
                Err(e) => results[i] = Some(Err(e)),
                Ok(lines) => {
                    if !members.is_empty() && batch.len() + lines.len() > MAX_BULK_BYTES {
                        self.bulk(std::mem::take(&mut batch), &std::mem::take(&mut members), &mut results).await;
                    }
                    batch.extend(lines);
                    members.push(i);
                }
            }
        }
        if !members.is_empty() {
            self.bulk(batch, &members, &mut results).await;
        }
        Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(FhirError::Internal("no answer for this version".into())))).collect())
    }

    /// Sends one `_bulk` request and records the result of each member.
    async fn bulk(&self, body: Vec<u8>, members: &[usize], results: &mut [Option<Result<()>>]) {
        let reply = match self.client.send(Method::Post, "_bulk", Some(Bytes::from(body)), true).await {
            Ok(r) if r.ok() => r,
            Ok(r) => {
                tracing::warn!(status = r.status, "bulk request refused");
                for &i in members {
                    results[i] = Some(Err(FhirError::Internal(format!("the search index refused the bulk request: {}", r.describe()))));
                }
                return;
            }
            Err(e) => {
                let msg = e.to_string();
                for &i in members {
                    results[i] = Some(Err(FhirError::Internal(msg.clone())));
                }
                return;
            }
        };
        let items = reply.body.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        for (n, &i) in members.iter().enumerate() {
            let item = items.get(n).and_then(|it| it.as_object()).and_then(|o| o.values().next());
            results[i] = Some(match item {
                None => Err(FhirError::Internal("the bulk answer lacks this version".into())),
                Some(it) => item_result(it),
            });
        }
    }

    /// Drops and recreates the tenant's index with the current mapping.
    pub async fn recreate_index(&self, tenant: &str) -> Result<()> {
        self.drop_index(tenant).await?;
        self.ensure_index(tenant).await
    }

    /// Rebuilds the tenant's index from `versions` (its current versions, e.g. scanned from
    /// the resource store) with the search parameters in force; returns how many were
    /// indexed. Searches see an emptied index until the load is done.
    pub async fn reindex_from<I>(&self, tenant: &str, versions: I) -> Result<u64>
    where
        I: IntoIterator<Item = StoredVersion>,
        I::IntoIter: Send,
    {
        self.recreate_index(tenant).await?;
        let mut done = 0u64;
        let mut failed = 0u64;
        let mut first_error = None;
        let mut iter = versions.into_iter();
        loop {
            let batch: Vec<StoredVersion> = iter.by_ref().take(REBUILD_BATCH).collect();
            if batch.is_empty() {
                break;
            }
            for r in self.apply(tenant, &batch).await? {
                match r {
                    Ok(()) => done += 1,
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        self.refresh(tenant).await?;
        match first_error {
            None => Ok(done),
            Some(e) => Err(FhirError::Internal(format!("{failed} versions could not be indexed ({done} were); the first: {e}"))),
        }
    }
}

/// A bulk item's answer: written, or refused as not newer (both success), or a failure.
fn item_result(it: &Value) -> Result<()> {
    let status = it.get("status").and_then(Value::as_u64).unwrap_or(0);
    let etype = it.pointer("/error/type").and_then(Value::as_str).unwrap_or("");
    if (200..300).contains(&status) || etype == "version_conflict_engine_exception" {
        return Ok(());
    }
    // The reason can quote document values: kept out of the error (and of logs above debug).
    tracing::debug!(error = %it, "bulk item failed");
    Err(FhirError::Internal(format!("the search index refused this version: HTTP {status} {etype}")))
}

/// The bulk lines of one version: its document, or its deletion marker.
fn prepare(extractor: &Extractor, index: &str, v: &StoredVersion) -> Prepared {
    let action = json!({"index": {"_index": index, "_id": key(&v.resource_type, &v.id), "version": v.version, "version_type": "external"}});
    let doc = match &v.body {
        None => tombstone(v),
        Some(body) => {
            let text = std::str::from_utf8(body).map_err(|_| FhirError::BadRequest(format!("{}/{} is not UTF-8 JSON", v.resource_type, v.id)))?;
            let resource: Value = serde_json::from_str(text).map_err(|e| FhirError::BadRequest(format!("{}/{} is not JSON: {e}", v.resource_type, v.id)))?;
            let mut entries = extractor.extract(&resource);
            entries.extend(crate::search::fulltext::entries(&resource));
            document(v, text, &entries)
        }
    };
    let mut out = serde_json::to_vec(&action).map_err(|e| FhirError::Internal(e.to_string()))?;
    out.push(b'\n');
    serde_json::to_writer(&mut out, &doc).map_err(|e| FhirError::Internal(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}
