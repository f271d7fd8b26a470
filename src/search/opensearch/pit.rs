//! Points in time: a sorted search that needs more than one page pages over the index as it
//! was at its first page (as the SQLite adapter's snapshots), so writes between pages never
//! repeat or skip a match. The PIT id travels in the cursor (no server-side state, so any
//! instance serves the next page); each page extends it by the keep-alive, the last page
//! deletes it, an abandoned one expires.
//!
//! A PIT id names the indexes it covers, and it comes from the client: every search in one
//! is confined to the tenant's own indexes (`{alias}~{n}`) by a filter on `_index`.
use opensearch::http::Method;
use serde_json::{json, Value};

use super::dsl::{and, prefix};
use super::Ctx;
use crate::error::{FhirError, Result};

/// How long a point in time outlives its last page (OpenSearch's `search.max_open_pit_context`,
/// 300 per node by default, bounds how many can be open at once).
pub const DEFAULT_KEEP_ALIVE_SECS: u64 = 180;

fn expired() -> FhirError {
    FhirError::Gone("the paging snapshot of this search has expired; run the search again".into())
}

/// The error types inside an error answer (its own, root causes, shard failures).
fn error_types(body: &Value) -> Vec<&str> {
    let mut found: Vec<Option<&Value>> = vec![body.pointer("/error/type"), body.pointer("/error/caused_by/type")];
    for list in ["/error/root_cause", "/error/failed_shards", "/_shards/failures"] {
        for f in body.pointer(list).and_then(Value::as_array).into_iter().flatten() {
            found.push(f.get("type"));
            found.push(f.pointer("/reason/type"));
        }
    }
    found.into_iter().flatten().filter_map(Value::as_str).collect()
}

fn is_expired(body: &Value) -> bool {
    error_types(body).iter().any(|t| matches!(*t, "search_context_missing_exception" | "index_not_found_exception"))
}

impl Ctx<'_> {
    /// The same context, searching inside `pit`.
    pub fn in_pit(&self, pit: String) -> Self {
        Ctx { pit: Some(pit), ..self.clone() }
    }

    /// Opens a point in time on the tenant's index. `None` when OpenSearch refuses (e.g. too
    /// many open): the search then pages on the live index, as without one.
    pub async fn open_pit(&self) -> Result<Option<String>> {
        let path = format!("{}/_search/point_in_time?keep_alive={}s", self.index, self.keep_alive);
        let reply = self.client.send(Method::Post, &path, None, false).await?;
        let id = reply.body.get("pit_id").and_then(Value::as_str).filter(|_| reply.ok());
        if id.is_none() {
            tracing::warn!(status = reply.status, error = %reply.describe(), "no point in time for paging: this search pages on the live index");
        }
        Ok(id.map(str::to_string))
    }

    /// Deletes a point in time (failures only logged: it expires anyway).
    pub async fn close_pit(&self, pit: &str) {
        match self.client.json(Method::Delete, "_search/point_in_time", &json!({"pit_id": [pit]})).await {
            Ok(r) if r.ok() || r.status == 404 => {}
            Ok(r) => tracing::debug!(status = r.status, error = %r.describe(), "point in time not deleted"),
            Err(e) => tracing::debug!(error = %e, "point in time not deleted"),
        }
    }

    /// `_search` inside `pit`, confined to the tenant's indexes; extends the point in time.
    pub(super) async fn search_in_pit(&self, pit: &str, body: &Value) -> Result<Value> {
        let mut body = body.clone();
        let query = body.get("query").cloned().unwrap_or_else(|| json!({"match_all": {}}));
        body["query"] = and(vec![prefix("_index", &format!("{}~", self.index), false), query]);
        body["pit"] = json!({"id": pit, "keep_alive": format!("{}s", self.keep_alive)});
        let reply = self.client.json(Method::Post, "_search?allow_partial_search_results=false", &body).await?;
        let failed = reply.body.pointer("/_shards/failed").and_then(Value::as_u64).unwrap_or(0);
        if reply.ok() && failed == 0 {
            return Ok(reply.body);
        }
        if is_expired(&reply.body) {
            return Err(expired());
        }
        let reason = reply.body.pointer("/error/reason").and_then(Value::as_str).unwrap_or("");
        if reply.status == 400 && reason.starts_with("invalid id") {
            return Err(FhirError::BadRequest("invalid page cursor: its paging snapshot is not one of this server's".into()));
        }
        tracing::debug!(status = reply.status, error = %reply.body, "OpenSearch search in a point in time failed");
        Err(FhirError::Internal(format!("the search index refused the search: {}", reply.describe())))
    }

    /// The current documents of `hits` (by `_id`, in order) with the stored fields
    /// `source`; resources deleted since (or gone) are left out.
    pub async fn current(&self, hits: &[Value], source: &Value) -> Result<Vec<Value>> {
        let mut source = source.as_array().cloned().unwrap_or_default();
        source.push(json!("deleted"));
        let docs: Vec<Value> = hits.iter().filter_map(|h| h.get("_id")).map(|id| json!({"_id": id, "_source": source})).collect();
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let reply = self.client.json(Method::Post, &format!("{}/_mget", self.index), &json!({"docs": docs})).await?;
        if reply.status == 404 && reply.error_type() == "index_not_found_exception" {
            return Ok(Vec::new());
        }
        if !reply.ok() {
            tracing::debug!(status = reply.status, error = %reply.body, "OpenSearch mget failed");
            return Err(FhirError::Internal(format!("the search index refused to read documents: {}", reply.describe())));
        }
        let found = reply.body.get("docs").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(found
            .into_iter()
            .filter(|d| d.get("found").and_then(Value::as_bool) == Some(true))
            .filter(|d| d.pointer("/_source/deleted").and_then(Value::as_bool) != Some(true))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_point_in_time_is_recognised_in_every_shape() {
        let all_failed = json!({"error": {"type": "search_phase_execution_exception", "root_cause": [{"type": "search_context_missing_exception"}]}, "status": 404});
        assert!(is_expired(&all_failed));
        let partial = json!({"_shards": {"failed": 1, "failures": [{"shard": 0, "reason": {"type": "search_context_missing_exception"}}]}});
        assert!(is_expired(&partial));
        assert!(!is_expired(&json!({"error": {"type": "parsing_exception"}})));
    }
}
