//! Writes: the tenant's index behind its alias, `_bulk` application of stored versions
//! (idempotent through external versioning), refresh, and rebuilds.
//!
//! Searches and writes address the alias `{prefix}-{tenant}`; writes use `require_alias`, so
//! a write never auto-creates an index with a guessed mapping. A rebuild loads a new index
//! `{alias}~{n}` behind the alias `{alias}~next` while the old one keeps serving; writes
//! arriving meanwhile go to both (the newest version wins in each), then the alias moves to
//! the new index in one atomic step and the old one is deleted.
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

/// One prepared version: its `_id`, version and document, or why it could not be prepared.
type Prepared = std::result::Result<(String, u64, Vec<u8>), FhirError>;

fn refused(what: &str, reply: &super::client::Reply) -> FhirError {
    tracing::debug!(status = reply.status, error = %reply.body, "OpenSearch {what} failed");
    FhirError::Internal(format!("the search index refused to {what}: {}", reply.describe()))
}

fn next_alias(alias: &str) -> String {
    format!("{alias}~next")
}

impl OpenSearchIndex {
    /// Creates the tenant's index (behind its alias) with the mapping when it does not exist.
    pub async fn ensure_index(&self, tenant: &str) -> Result<()> {
        let alias = self.index_of(tenant)?;
        if self.ensured.lock().map(|s| s.contains(&alias)).unwrap_or(false) {
            return Ok(());
        }
        if self.indexes_of(&alias).await?.is_empty() {
            // A fixed first name: concurrent creators race to one index, not two.
            let first = format!("{alias}~1");
            let created = self.client.json(Method::Put, &first, &index_body(&[&alias])).await?;
            if created.error_type() == "resource_already_exists_exception" {
                let actions = json!({"actions": [{"add": {"index": first, "alias": alias}}]});
                let added = self.client.json(Method::Post, "_aliases", &actions).await?;
                if !added.ok() {
                    return Err(refused("attach the index alias", &added));
                }
            } else if !created.ok() {
                return Err(refused("create the index", &created));
            } else {
                tracing::info!(index = %alias, "search index created");
            }
        }
        if let Ok(mut s) = self.ensured.lock() {
            s.insert(alias);
        }
        Ok(())
    }

    /// The concrete indexes behind `alias` (none when it does not exist).
    async fn indexes_of(&self, alias: &str) -> Result<Vec<String>> {
        let reply = self.client.send(Method::Get, &format!("_alias/{alias}"), None, false).await?;
        if reply.status == 404 {
            return Ok(Vec::new());
        }
        if !reply.ok() {
            return Err(refused("read the index alias", &reply));
        }
        Ok(reply.body.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default())
    }

    async fn delete_indexes(&self, names: &[String]) -> Result<()> {
        for name in names {
            let reply = self.client.send(Method::Delete, name, None, false).await?;
            if !reply.ok() && reply.status != 404 {
                return Err(refused("delete an index", &reply));
            }
        }
        Ok(())
    }

    /// Deletes the tenant's indexes (nothing when there are none).
    pub async fn drop_index(&self, tenant: &str) -> Result<()> {
        let alias = self.index_of(tenant)?;
        if let Ok(mut s) = self.ensured.lock() {
            s.remove(&alias);
        }
        let reply = self.client.send(Method::Get, &format!("{alias}~*"), None, false).await?;
        if !reply.ok() {
            return Err(refused("list the indexes", &reply));
        }
        let names: Vec<String> = reply.body.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        self.delete_indexes(&names).await
    }

    /// Makes every write so far visible to searches.
    pub async fn refresh(&self, tenant: &str) -> Result<()> {
        let alias = self.index_of(tenant)?;
        let reply = self.client.send(Method::Post, &format!("{alias}/_refresh"), None, false).await?;
        if reply.ok() || reply.status == 404 {
            return Ok(());
        }
        Err(refused("refresh", &reply))
    }

    /// Indexes live versions and marks deleted ones, in `_bulk` requests. Each version is
    /// applied only when newer than what the index holds (an older or equal one is a success
    /// that changes nothing), so replays and out-of-order delivery are harmless. One result
    /// per version, in order, for reporting partial batch failures.
    pub async fn apply(&self, tenant: &str, versions: &[StoredVersion]) -> Result<Vec<Result<()>>> {
        self.ensure_index(tenant).await?;
        let alias = self.index_of(tenant)?;
        let next = next_alias(&alias);
        // A rebuild is loading a new index: it gets every write too.
        let rebuilding = self.client.send(Method::Head, &next, None, false).await?.ok();
        let targets: Vec<&str> = if rebuilding { vec![&alias, &next] } else { vec![&alias] };
        self.write(tenant, &targets, versions).await
    }

    /// Writes `versions` to each alias of `targets`; a version succeeds when written to the
    /// first (or refused there as not newer) and to the others unless they are gone.
    async fn write(&self, tenant: &str, targets: &[&str], versions: &[StoredVersion]) -> Result<Vec<Result<()>>> {
        let extractor = self.schema.get_for(tenant).extractor.clone();
        let owned: Vec<StoredVersion> = versions.to_vec();
        // Extraction evaluates FHIRPath: keep it off the async workers.
        let prepared: Vec<Prepared> = tokio::task::spawn_blocking(move || owned.iter().map(|v| prepare(&extractor, v)).collect())
            .await
            .map_err(|e| FhirError::Internal(format!("indexing task failed: {e}")))?;
        let mut results: Vec<Option<Result<()>>> = (0..versions.len()).map(|_| None).collect();
        let mut batch: Vec<u8> = Vec::new();
        let mut members: Vec<usize> = Vec::new();
        for (i, p) in prepared.into_iter().enumerate() {
            let (id, version, doc) = match p {
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
                Ok(p) => p,
            };
            let mut lines = Vec::with_capacity((doc.len() + 200) * targets.len());
            for t in targets {
                let action = json!({"index": {"_index": t, "_id": id, "version": version, "version_type": "external"}});
                lines.extend(action.to_string().into_bytes());
                lines.push(b'\n');
                lines.extend_from_slice(&doc);
                lines.push(b'\n');
            }
            if !members.is_empty() && batch.len() + lines.len() > MAX_BULK_BYTES {
                self.bulk(std::mem::take(&mut batch), &std::mem::take(&mut members), targets.len(), &mut results).await;
            }
            batch.extend(lines);
            members.push(i);
        }
        if !members.is_empty() {
            self.bulk(batch, &members, targets.len(), &mut results).await;
        }
        Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(FhirError::Internal("no answer for this version".into())))).collect())
    }

    /// Sends one `_bulk` request (`per` operations per member) and records each member's result.
    async fn bulk(&self, body: Vec<u8>, members: &[usize], per: usize, results: &mut [Option<Result<()>>]) {
        let reply = match self.client.send(Method::Post, "_bulk?require_alias=true", Some(Bytes::from(body)), true).await {
            Ok(r) if r.ok() => r,
            Ok(r) => {
                tracing::warn!(status = r.status, "bulk request refused");
                let e = refused("run a bulk request", &r);
                for &i in members {
                    results[i] = Some(Err(FhirError::Internal(e.to_string())));
                }
                return;
            }
            Err(e) => {
                for &i in members {
                    results[i] = Some(Err(FhirError::Internal(e.to_string())));
                }
                return;
            }
        };
        let items = reply.body.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        let item = |n: usize| items.get(n).and_then(Value::as_object).and_then(|o| o.values().next());
        for (m, &i) in members.iter().enumerate() {
            let mut r = match item(m * per) {
                None => Err(FhirError::Internal("the bulk answer lacks this version".into())),
                Some(it) => item_result(it, false),
            };
            for k in 1..per {
                if r.is_ok() {
                    r = item(m * per + k).map(|it| item_result(it, true)).unwrap_or(Ok(()));
                }
            }
            results[i] = Some(r);
        }
    }

    /// Rebuilds the tenant's index from `versions` (its current versions, e.g. scanned from
    /// the resource store) with the search parameters in force, and returns how many were
    /// indexed. The old index serves searches until the new one replaces it atomically;
    /// versions written meanwhile (`apply`) reach both. A version that is not a resource
    /// (not JSON) is skipped; any other failure abandons the rebuild and keeps the old index.
    pub async fn reindex_from<I>(&self, tenant: &str, versions: I) -> Result<u64>
    where
        I: IntoIterator<Item = StoredVersion>,
        I::IntoIter: Send,
    {
        self.ensure_index(tenant).await?;
        let alias = self.index_of(tenant)?;
        let next = next_alias(&alias);
        // A rebuild that never finished.
        self.delete_indexes(&self.indexes_of(&next).await?).await?;
        let name = format!("{alias}~{}", crate::fhir::meta::now_micros());
        let created = self.client.json(Method::Put, &name, &index_body(&[&next])).await?;
        if !created.ok() {
            return Err(refused("create the new index", &created));
        }
        let (mut done, mut skipped) = (0u64, 0u64);
        let mut iter = versions.into_iter();
        loop {
            let batch: Vec<StoredVersion> = iter.by_ref().take(REBUILD_BATCH).collect();
            if batch.is_empty() {
                break;
            }
            for (v, r) in batch.iter().zip(self.write(tenant, &[&next], &batch).await?) {
                match r {
                    Ok(()) => done += 1,
                    Err(FhirError::BadRequest(_)) => {
                        skipped += 1;
                        tracing::warn!(resource = %key(&v.resource_type, &v.id), "not indexed: its stored body is not a resource");
                    }
                    Err(e) => {
                        let _ = self.delete_indexes(std::slice::from_ref(&name)).await;
                        return Err(FhirError::Internal(format!("the rebuild of the search index stopped ({done} versions indexed): {e}")));
                    }
                }
            }
        }
        let old = self.indexes_of(&alias).await?;
        let mut actions: Vec<Value> = old.iter().map(|o| json!({"remove": {"index": o, "alias": alias}})).collect();
        actions.push(json!({"add": {"index": name, "alias": alias}}));
        actions.push(json!({"remove": {"index": name, "alias": next}}));
        let swapped = self.client.json(Method::Post, "_aliases", &json!({"actions": actions})).await?;
        if !swapped.ok() {
            return Err(refused("switch to the rebuilt index", &swapped));
        }
        self.delete_indexes(&old).await?;
        self.refresh(tenant).await?;
        tracing::info!(index = %alias, done, skipped, "search index rebuilt");
        Ok(done)
    }
}

/// A bulk item's answer: written, or refused as not newer (both success), or gone (a
/// rebuild's alias that has just been switched: success when `secondary`), or a failure.
fn item_result(it: &Value, secondary: bool) -> Result<()> {
    let status = it.get("status").and_then(Value::as_u64).unwrap_or(0);
    let etype = it.pointer("/error/type").and_then(Value::as_str).unwrap_or("");
    if (200..300).contains(&status) || etype == "version_conflict_engine_exception" || (secondary && status == 404) {
        return Ok(());
    }
    // The reason can quote document values: kept out of the error (and of logs above debug).
    tracing::debug!(error = %it, "bulk item failed");
    Err(FhirError::Internal(format!("the search index refused this version: HTTP {status} {etype}")))
}

/// A version's `_id`, version and document (its search values, or its deletion marker).
fn prepare(extractor: &Extractor, v: &StoredVersion) -> Prepared {
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
    let bytes = serde_json::to_vec(&doc).map_err(|e| FhirError::Internal(e.to_string()))?;
    Ok((key(&v.resource_type, &v.id), v.version, bytes))
}
