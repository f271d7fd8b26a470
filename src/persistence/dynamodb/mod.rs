//! `ResourceStore` on DynamoDB. Table design (see README): every version is an item
//! (`pk = tenant#type#id`, `sk = v#<version>`) carrying the GSI keys of type and system
//! history; `sk = current` holds the newest version for one-request reads. Writes run as
//! transactions with item locks (see `tx`): up to 100 actions in one `TransactWriteItems`,
//! larger ones staged behind a transaction record whose commit is one conditional write.
mod guard;
pub mod item;
mod history;
pub mod table;
mod tx;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use self::item::{get_s, s, Item, CURRENT};
use super::{BlobStore, HistoryPage, HistoryQuery, ResourceStore, StoredVersion, TxWork, WriteOp, WriteResult};
use crate::error::{FhirError, Result};

/// Everything the store and its transactions share.
pub struct Inner {
    pub client: Client,
    pub table: String,
    pub blobs: Arc<dyn BlobStore>,
    /// How long a lock protects a transaction that stopped making progress.
    pub lock_ttl: Duration,
    /// How long a writer waits for another transaction's lock before giving up (409).
    pub lock_wait: Duration,
    /// Current-item writes committed by this process (the local-mode search barrier).
    pub committed: std::sync::atomic::AtomicU64,
}

#[derive(Clone)]
pub struct DynamoStore {
    inner: Arc<Inner>,
}

pub fn sdk_error<E: std::error::Error + 'static>(what: &str, e: E) -> FhirError {
    FhirError::Internal(format!("DynamoDB {what}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))
}

impl DynamoStore {
    pub fn new(client: Client, table: &str, blobs: Arc<dyn BlobStore>) -> DynamoStore {
        DynamoStore {
            inner: Arc::new(Inner {
                client,
                table: table.to_string(),
                blobs,
                lock_ttl: Duration::from_secs(30),
                lock_wait: Duration::from_secs(30),
                committed: Default::default(),
            }),
        }
    }

    pub fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// Every tenant's live current versions, a page at a time (for `hearth reindex`).
    pub async fn scan_current(&self, start: Option<Item>) -> Result<(Vec<(String, StoredVersion)>, Option<Item>)> {
        let out = self
            .inner
            .client
            .scan()
            .table_name(&self.inner.table)
            .filter_expression("sk = :c AND attribute_exists(version) AND attribute_not_exists(deleted)")
            .expression_attribute_values(":c", s(CURRENT))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("scan", e))?;
        let mut list = Vec::new();
        for it in out.items() {
            let tenant = get_s(it, "pk").and_then(item::split_pk).map(|(t, _, _)| t.to_string()).unwrap_or_default();
            if let Some(v) = self.inner.materialize(it).await? {
                list.push((tenant, v));
            }
        }
        Ok((list, out.last_evaluated_key().cloned()))
    }
}

impl Inner {
    pub async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get", e))?;
        Ok(out.item().cloned())
    }

    /// Decodes an item, fetching a body kept in the blob store.
    pub async fn materialize(&self, it: &Item) -> Result<Option<StoredVersion>> {
        let Some((mut v, blob_key)) = item::decode(it)? else { return Ok(None) };
        if let Some(key) = blob_key {
            let blob = self.blobs.get(&key).await?.ok_or_else(|| FhirError::Internal(format!("the body of {}/{} is missing from the blob store", v.resource_type, v.id)))?;
            v.body = Some(item::blob_body(&blob.data)?);
        }
        Ok(Some(v))
    }

    /// Status of a transaction record: `pending`, `committed`, `done`, `aborted`; a missing
    /// record means committed long ago (records are removed only after their cleanup).
    pub async fn tx_status(&self, txid: &str) -> Result<String> {
        Ok(match self.get(&format!("tx#{txid}"), "tx").await? {
            Some(rec) => get_s(&rec, "status").unwrap_or("pending").to_string(),
            None => "done".into(),
        })
    }

    /// The version a reader sees: the current item, or the version staged by a committed
    /// transaction still applying its writes (its commit point has passed).
    pub async fn current_view(&self, tenant: &str, rtype: &str, id: &str) -> Result<Option<StoredVersion>> {
        let pk = item::pk(tenant, rtype, id);
        let Some(cur) = self.get(&pk, CURRENT).await? else { return Ok(None) };
        if let Some(owner) = get_s(&cur, "lk") {
            if matches!(self.tx_status(owner).await?.as_str(), "committed" | "done") {
                let next = item::get_n(&cur, "version").unwrap_or(0) as u64 + 1;
                if let Some(staged) = self.get(&pk, &item::version_sk(next)).await? {
                    if get_s(&staged, "txid") == Some(owner) {
                        return self.materialize(&staged).await;
                    }
                }
            }
        }
        self.materialize(&cur).await
    }

    /// Whether a version item is visible: not staged by an unfinished or aborted transaction.
    pub async fn visible(&self, it: &Item, cache: &mut std::collections::HashMap<String, bool>) -> Result<bool> {
        let Some(txid) = get_s(it, "txid") else { return Ok(true) };
        if let Some(v) = cache.get(txid) {
            return Ok(*v);
        }
        let ok = matches!(self.tx_status(txid).await?.as_str(), "committed" | "done");
        cache.insert(txid.to_string(), ok);
        Ok(ok)
    }
}

#[async_trait]
impl ResourceStore for DynamoStore {
    async fn commit(&self, tenant: &str, ops: Vec<WriteOp>) -> Result<Vec<WriteResult>> {
        super::run_tx(self, tenant, move |t| ops.into_iter().map(|op| t.write(op)).collect()).await
    }

    async fn transaction(&self, tenant: &str, work: TxWork) -> Result<()> {
        let inner = self.inner.clone();
        let tenant = tenant.to_string();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || tx::run(inner, handle, &tenant, work))
            .await
            .map_err(|e| FhirError::Internal(format!("transaction task failed: {e}")))?
    }

    async fn read(&self, tenant: &str, resource_type: &str, id: &str) -> Result<Option<StoredVersion>> {
        self.inner.current_view(tenant, resource_type, id).await
    }

    async fn vread(&self, tenant: &str, resource_type: &str, id: &str, version: u64) -> Result<Option<StoredVersion>> {
        let Some(it) = self.inner.get(&item::pk(tenant, resource_type, id), &item::version_sk(version)).await? else { return Ok(None) };
        if !self.inner.visible(&it, &mut Default::default()).await? {
            return Ok(None);
        }
        self.inner.materialize(&it).await
    }

    async fn history(&self, tenant: &str, query: HistoryQuery) -> Result<HistoryPage> {
        history::page(&self.inner, tenant, &query).await
    }

    async fn close(&self) -> Result<()> {
        // Every acknowledged write is already durable in DynamoDB.
        Ok(())
    }

    fn any_conditional_criteria(&self) -> bool {
        false
    }
}

/// `AttributeValue::S` list helper for string sets.
pub(crate) fn string_set(values: impl IntoIterator<Item = String>) -> AttributeValue {
    AttributeValue::Ss(values.into_iter().collect())
}
