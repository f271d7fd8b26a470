//! The AWS `SearchIndex`: queries go to OpenSearch; a reindex rebuilds every tenant's
//! index from the current items in DynamoDB (`hearth reindex` with HEARTH_BACKEND=aws).
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::persistence::dynamodb::DynamoStore;
use crate::persistence::StoredVersion;
use super::stream::StreamHandler;
use crate::search::opensearch::OpenSearchIndex;
use crate::search::query::SearchQuery;
use crate::search::{SearchIndex, SearchPage};

pub struct AwsSearch {
    index: Arc<OpenSearchIndex>,
    store: Arc<DynamoStore>,
    /// Local AWS mode: searches first wait for the in-process stream consumer.
    barrier: Option<Arc<StreamHandler>>,
}

impl AwsSearch {
    pub fn new(index: Arc<OpenSearchIndex>, store: Arc<DynamoStore>, barrier: Option<Arc<StreamHandler>>) -> AwsSearch {
        AwsSearch { index, store, barrier }
    }
}

#[async_trait]
impl SearchIndex for AwsSearch {
    async fn search(&self, tenant: &str, query: SearchQuery, count: usize) -> Result<SearchPage> {
        if let Some(b) = &self.barrier {
            b.catch_up(std::time::Duration::from_secs(10)).await;
        }
        self.index.search(tenant, query, count).await
    }

    async fn reindex(&self, only: Option<&str>) -> Result<u64> {
        let mut by_tenant: BTreeMap<String, Vec<StoredVersion>> = BTreeMap::new();
        let mut start = None;
        loop {
            let (page, next) = self.store.scan_current(start).await?;
            for (tenant, v) in page {
                if only.is_none_or(|o| o == tenant) {
                    by_tenant.entry(tenant).or_default().push(v);
                }
            }
            match next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        let mut done = 0u64;
        for (tenant, versions) in by_tenant {
            done += versions.len() as u64;
            self.index.reindex_from(&tenant, versions).await?;
        }
        Ok(done)
    }
}
