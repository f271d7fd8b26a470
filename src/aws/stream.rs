//! The DynamoDB stream indexer, shared by the streamer Lambda and the local AWS mode:
//! changes of current items become index writes through `_bulk`. Idempotent (the index
//! keeps the newest version: external versioning); a record that can never be indexed is
//! logged and skipped, a failed index write is reported so that only it is retried.
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::persistence::dynamodb::item::{self, get_s, Item, CURRENT};
use crate::persistence::dynamodb::DynamoStore;
use crate::persistence::StoredVersion;
use crate::search::opensearch::OpenSearchIndex;

/// One stream record: its id (the sequence number), the item after the change, and the
/// version the item had before (None: it had none).
pub struct Change {
    pub id: String,
    pub new_image: Option<Item>,
    pub old_version: Option<i64>,
}

pub struct StreamHandler {
    index: Arc<OpenSearchIndex>,
    store: Arc<DynamoStore>,
    ensured: Mutex<HashSet<String>>,
    /// Resource writes (current items whose version changed) indexed so far.
    indexed: AtomicU64,
    progress: Notify,
    /// Make each batch searchable at once (local mode; in production the index refreshes
    /// on its own interval).
    pub refresh: bool,
}

impl StreamHandler {
    pub fn new(index: Arc<OpenSearchIndex>, store: Arc<DynamoStore>) -> StreamHandler {
        StreamHandler { index, store, ensured: Mutex::new(HashSet::new()), indexed: AtomicU64::new(0), progress: Notify::new(), refresh: false }
    }

    /// Waits (up to `limit`) until every resource write this process committed is indexed:
    /// local AWS mode runs this before a search, so a search right after a write finds it.
    pub async fn catch_up(&self, limit: std::time::Duration) {
        let target = self.store.inner().committed.load(Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + limit;
        while self.indexed.load(Ordering::SeqCst) < target {
            let notified = self.progress.notified();
            if self.indexed.load(Ordering::SeqCst) >= target {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::warn!(target, indexed = self.indexed.load(Ordering::SeqCst), "search ran before the index caught up with the stream");
                break;
            }
        }
    }

    /// Indexes the changes; returns the ids of the records to retry.
    pub async fn handle(&self, changes: Vec<Change>) -> Vec<String> {
        let mut by_tenant: BTreeMap<String, Vec<(String, StoredVersion)>> = BTreeMap::new();
        let mut writes: HashSet<String> = HashSet::new();
        for c in changes {
            let Some(image) = c.new_image else { continue };
            if get_s(&image, "sk") != Some(CURRENT) {
                continue;
            }
            let new_version = item::get_n(&image, "version");
            if new_version.is_none() || new_version == c.old_version {
                // A lock taken or released: the resource did not change.
                continue;
            }
            writes.insert(c.id.clone());
            let Some(tenant) = get_s(&image, "pk").and_then(item::split_pk).map(|(t, _, _)| t.to_string()) else { continue };
            match self.store.inner().materialize(&image).await {
                Ok(Some(v)) => by_tenant.entry(tenant).or_default().push((c.id, v)),
                // A lock placeholder: nothing to index yet.
                Ok(None) => {}
                Err(e) => tracing::error!(record = %c.id, error = %e, "stream record skipped: it cannot be decoded"),
            }
        }
        let seen = writes.len() as u64;
        let mut failed = Vec::new();
        for (tenant, list) in by_tenant {
            if let Err(e) = self.ensure(&tenant).await {
                tracing::error!(%tenant, error = %e, "index not available");
                failed.extend(list.into_iter().map(|(id, _)| id));
                continue;
            }
            let (ids, versions): (Vec<String>, Vec<StoredVersion>) = list.into_iter().unzip();
            let applied = self.index.apply(&tenant, &versions).await;
            if self.refresh {
                if let Err(e) = self.index.refresh(&tenant).await {
                    tracing::warn!(%tenant, error = %e, "index refresh failed");
                }
            }
            match applied {
                Ok(results) => {
                    for (id, r) in ids.into_iter().zip(results) {
                        if let Err(e) = r {
                            tracing::warn!(record = %id, error = %e, "index write failed; the record will be retried");
                            failed.push(id);
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(%tenant, error = %e, "bulk index request failed; the records will be retried");
                    failed.extend(ids);
                }
            }
        }
        let done = seen - writes.iter().filter(|w| failed.contains(w)).count() as u64;
        if done > 0 {
            self.indexed.fetch_add(done, Ordering::SeqCst);
            self.progress.notify_waiters();
        }
        failed
    }

    async fn ensure(&self, tenant: &str) -> crate::error::Result<()> {
        if self.ensured.lock().map(|s| s.contains(tenant)).unwrap_or(false) {
            return Ok(());
        }
        self.index.ensure_index(tenant).await?;
        if let Ok(mut s) = self.ensured.lock() {
            s.insert(tenant.to_string());
        }
        Ok(())
    }
}
