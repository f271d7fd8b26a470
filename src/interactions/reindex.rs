//! `$reindex`: put stored SearchParameter resources in force and rebuild every resource's
//! search values with them.
use serde_json::Value;

use super::Fhir;
use crate::error::{FhirError, Result};
use crate::fhir::definitions::Definitions;
use crate::search::query::{self, SearchQuery, Total};
use crate::search::schema::{Schema, SchemaCell};
use crate::search::SearchIndex;

/// Builds the schema from the official parameters plus every stored SearchParameter.
pub async fn load_schema(index: &dyn SearchIndex, defs: &Definitions, cell: &SchemaCell) -> Result<usize> {
    let registry = cell.get().registry.clone();
    let mut q: SearchQuery = query::parse(&registry, vec!["SearchParameter".into()], &[], true)?;
    q.total = Total::None;
    let mut custom: Vec<Value> = Vec::new();
    loop {
        let page = index.search(crate::TENANT, q.clone(), 500).await?;
        for v in &page.matches {
            if let Some(body) = &v.body {
                custom.push(serde_json::from_slice(body).map_err(|e| FhirError::Internal(e.to_string()))?);
            }
        }
        match page.next {
            Some(next) => q.cursor = Some(next),
            None => break,
        }
    }
    let n = custom.len();
    if n > 0 {
        cell.set(Schema::build(defs, &custom).map_err(FhirError::Internal)?);
    }
    Ok(n)
}

/// Returns (custom parameters in force, resources reindexed).
pub async fn reindex(fhir: &Fhir) -> Result<(usize, u64)> {
    let custom = load_schema(fhir.search.as_ref(), fhir.defs, &fhir.schema).await?;
    let count = fhir.search.reindex().await?;
    Ok((custom, count))
}
