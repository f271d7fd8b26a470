//! The OpenSearch `SearchIndex` (AWS mode). One index per tenant, behind the alias
//! `{prefix}-{tenant}`; one document per resource holding the search values the shared
//! extraction produces (nested per parameter type, see `mapping.rs`) and the stored version
//! itself, so a search needs no second round-trip to the resource store. Writes come from the
//! DynamoDB stream (`apply`) with external versioning, so an older version never overwrites a
//! newer one; a deletion is kept as a marker document for the same reason.
//!
//! - `client.rs`   HTTP(S) or SigV4 transport, errors as `FhirError`
//! - `mapping.rs`  index names and the explicit mapping
//! - `document.rs` a version and its search values as a document
//! - `write.rs`    `_bulk` writes, the alias, rebuilds switched atomically
//! - `filter.rs`   the search AST as query DSL (chains, `_has`, `_list` resolved first)
//! - `run.rs`      sorting, `search_after` paging, totals
//! - `cursor.rs`   page cursors
//! - `pit.rs`      points in time: sorted searches page over the index as at their first page
//! - `include.rs`  `_include` / `_revinclude`
mod client;
mod cursor;
mod document;
mod dsl;
mod filter;
mod include;
mod mapping;
mod pit;
mod run;
mod write;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use opensearch::http::Method;
use serde_json::{json, Value};

use crate::error::{FhirError, Result};
use crate::search::params::Registry;
use crate::search::query::SearchQuery;
use crate::search::schema::SchemaCell;
use crate::search::{SearchIndex, SearchPage};

pub use mapping::index_name;

/// Most resources a chain, `_has` or `_list` may select before the search is refused.
pub const DEFAULT_CHAIN_CAP: usize = 10_000;
/// Most resources `_include` / `_revinclude` add to one page.
pub const DEFAULT_INCLUDE_CAP: usize = 10_000;

pub struct OpenSearchIndex {
    client: client::Client,
    prefix: String,
    schema: Arc<SchemaCell>,
    /// Indexes known to exist (created or checked).
    ensured: Mutex<HashSet<String>>,
    chain_cap: usize,
    include_cap: usize,
    /// Seconds a paging point in time outlives its last page.
    pit_keep_alive: u64,
}

impl OpenSearchIndex {
    /// An index at `url` (http or https). With `HEARTH_OPENSEARCH_SIGV4=1` requests are signed
    /// with SigV4 (credentials and region from the AWS environment; service name
    /// `HEARTH_OPENSEARCH_SERVICE`, default `es`).
    pub fn new(url: &str, index_prefix: &str, schema: Arc<SchemaCell>) -> Result<Self> {
        mapping::check_prefix(index_prefix)?;
        let sigv4 = std::env::var("HEARTH_OPENSEARCH_SIGV4").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        Ok(OpenSearchIndex {
            client: client::Client::new(url, sigv4)?,
            prefix: index_prefix.to_string(),
            schema,
            ensured: Mutex::new(HashSet::new()),
            chain_cap: DEFAULT_CHAIN_CAP,
            include_cap: DEFAULT_INCLUDE_CAP,
            pit_keep_alive: pit::DEFAULT_KEEP_ALIVE_SECS,
        })
    }

    /// Changes how long a paging point in time outlives its last page (default 180 s).
    pub fn with_pit_keep_alive(mut self, keep_alive: std::time::Duration) -> Self {
        self.pit_keep_alive = keep_alive.as_secs().max(1);
        self
    }

    /// Changes the most resources a chain, `_has` or `_list` may select.
    pub fn with_chain_cap(mut self, cap: usize) -> Self {
        self.chain_cap = cap.max(1);
        self
    }

    /// The index of `tenant`.
    pub fn index_of(&self, tenant: &str) -> Result<String> {
        index_name(&self.prefix, tenant)
    }

    fn ctx(&self, tenant: &str) -> Result<Ctx<'_>> {
        Ok(Ctx {
            client: &self.client,
            index: self.index_of(tenant)?,
            registry: self.schema.get_for(tenant).registry.clone(),
            chain_cap: self.chain_cap,
            include_cap: self.include_cap,
            keep_alive: self.pit_keep_alive,
            pit: None,
        })
    }
}

#[async_trait]
impl SearchIndex for OpenSearchIndex {
    async fn search(&self, tenant: &str, query: SearchQuery, count: usize) -> Result<SearchPage> {
        let ctx = self.ctx(tenant)?;
        run::search(&ctx, &query, count).await
    }

    /// The index holds no resources of its own: it is rebuilt from the resource store with
    /// `reindex_from` (`hearth reindex` in AWS mode scans DynamoDB and calls it).
    async fn reindex(&self, _tenant: Option<&str>) -> Result<u64> {
        Err(FhirError::MethodNotAllowed(
            "the OpenSearch index is rebuilt from the resource store: a reindex needs the stored versions as its source (run `hearth reindex` with HEARTH_BACKEND=aws)".into(),
        ))
    }
}

/// What one search runs with.
#[derive(Clone)]
pub(crate) struct Ctx<'a> {
    client: &'a client::Client,
    index: String,
    registry: Arc<Registry>,
    chain_cap: usize,
    include_cap: usize,
    /// Seconds a point in time is kept after each use.
    keep_alive: u64,
    /// Searches (and the inner searches of chains) run inside this point in time; None:
    /// on the live index.
    pit: Option<String>,
}

impl Ctx<'_> {
    /// `_search` on the tenant's index (or inside the point in time); `None` when the index
    /// does not exist (no data yet).
    async fn search(&self, body: &Value) -> Result<Option<Value>> {
        if let Some(pit) = &self.pit {
            return self.search_in_pit(pit, body).await.map(Some);
        }
        let reply = self.client.json(Method::Post, &format!("{}/_search", self.index), body).await?;
        if reply.ok() {
            return Ok(Some(reply.body));
        }
        if reply.status == 404 && reply.error_type() == "index_not_found_exception" {
            return Ok(None);
        }
        tracing::debug!(status = reply.status, error = %reply.body, "OpenSearch search failed");
        Err(FhirError::Internal(format!("the search index refused the search: {}", reply.describe())))
    }

    async fn count(&self, query: &Value) -> Result<u64> {
        let reply = self.client.json(Method::Post, &format!("{}/_count", self.index), &json!({"query": query})).await?;
        if reply.status == 404 && reply.error_type() == "index_not_found_exception" {
            return Ok(0);
        }
        if !reply.ok() {
            tracing::debug!(status = reply.status, error = %reply.body, "OpenSearch count failed");
            return Err(FhirError::Internal(format!("the search index refused the count: {}", reply.describe())));
        }
        reply.body.get("count").and_then(Value::as_u64).ok_or_else(|| FhirError::Internal("the search index answered a count without one".into()))
    }

    /// Every hit of `query` in key order, up to `limit`; true when there were more.
    async fn scan(&self, query: Value, source: Value, limit: usize) -> Result<(Vec<Value>, bool)> {
        let page = (limit + 1).min(1000);
        let mut out: Vec<Value> = Vec::new();
        let mut after: Option<Value> = None;
        loop {
            let mut body = json!({"query": query, "sort": [{"key": "asc"}], "size": page, "_source": source, "track_total_hits": false});
            if let Some(a) = &after {
                body["search_after"] = json!([a]);
            }
            let Some(reply) = self.search(&body).await? else { return Ok((out, false)) };
            let hits = reply.pointer("/hits/hits").and_then(Value::as_array).cloned().unwrap_or_default();
            let n = hits.len();
            after = hits.last().and_then(|h| h.get("_id").cloned());
            out.extend(hits);
            if out.len() > limit {
                out.truncate(limit);
                return Ok((out, true));
            }
            if n < page || after.is_none() {
                return Ok((out, false));
            }
        }
    }
}
