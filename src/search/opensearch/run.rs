//! Running a search: sort (any parameter, then the unique `key`), keyset paging with
//! `search_after` in an opaque cursor (in both directions, no 10,000-hit window), `_total`
//! through `track_total_hits`, `_summary=count` through `_count`, then the includes.
//!
//! Paging guarantees, as the SQLite adapter: every resource that matched when the first page
//! was served, and was not deleted since, appears exactly once however the index changes
//! between pages.
//! - Default order (the key `Type/id`, which never changes): keyset paging on the live index.
//! - `_sort` on anything but `_id` (values that updates change): when there is a second
//!   page, the pages come from a point in time opened for the search (`pit.rs`); a page
//!   returns the current version of each resource (deleted ones left out), as SQLite reads
//!   its snapshot's resources afresh. The last page deletes the point in time; an expired
//!   one is a 410.
use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::cursor::{fingerprint, Cursor};
use super::dsl::{and, live};
use super::filter::family;
use super::Ctx;
use crate::error::{FhirError, Result};
use crate::persistence::{Method, StoredVersion};
use crate::search::params::ParamType;
use crate::search::query::{SearchQuery, SortKey, Summary, Total};
use crate::search::SearchPage;

/// Largest page (OpenSearch's `index.max_result_window` bounds `size`; one more is asked).
const MAX_PAGE: usize = 9_999;

/// Sort values of missing parameters, as in SQLite: last in both directions.
const LAST_ASC: &str = "\u{10FFFF}";
const LAST_DESC: &str = "";

/// The stored fields a match needs (plus `ref` when includes are followed).
pub fn source_fields(with_refs: bool) -> Value {
    let mut f = vec!["rtype", "id", "version", "lu", "method", "created", "body"];
    if with_refs {
        f.push("ref");
    }
    json!(f)
}

/// The whole query of a search: live resources of the types, every filter AND-ed.
pub async fn query(ctx: &Ctx<'_>, q: &SearchQuery) -> Result<Value> {
    let mut parts = vec![live(&q.types)];
    for f in &q.filters {
        parts.push(ctx.filter(&q.types, f).await?);
    }
    Ok(and(parts))
}

pub async fn search(ctx: &Ctx<'_>, q: &SearchQuery, count: usize) -> Result<SearchPage> {
    let summary_count = q.summary == Some(Summary::Count);
    if count == 0 || summary_count {
        let query = query(ctx, q).await?;
        let total = if q.total == Total::None && !summary_count { None } else { Some(ctx.count(&query).await?) };
        return Ok(SearchPage { matches: Vec::new(), included: Vec::new(), total, next: None, previous: None });
    }
    let keys = sort_spec(&q.sort);
    let cursor = q.cursor.as_deref().map(|c| Cursor::parse(c, keys.len() + 1)).transpose()?;
    let size = count.min(MAX_PAGE);
    if let Some(pit) = cursor.as_ref().and_then(|c| c.pit.clone()) {
        return in_snapshot(ctx, q, &keys, size, pit, cursor).await;
    }
    let live_fp = live_fingerprint(&keys);
    if let Some(c) = &cursor {
        c.check(&live_fp)?;
    }
    let query = query(ctx, q).await?;
    let got = fetch(ctx, &query, &keys, size, cursor.as_ref(), q.total, source_fields(with_refs(q))).await?;
    if cursor.is_none() && got.more && needs_snapshot(&keys) {
        // A second page will follow: serve the first one again from a point in time, so
        // that every page sees the index as it is now.
        if let Some(pit) = ctx.open_pit().await? {
            return in_snapshot(ctx, q, &keys, size, pit, None).await;
        }
    }
    let backward = cursor.as_ref().is_some_and(|c| c.backward);
    let (has_next, has_previous) = if backward { (true, got.more) } else { (got.more, cursor.is_some()) };
    let next = if has_next { link(got.hits.last(), false, None, &live_fp) } else { None };
    let previous = if has_previous { link(got.hits.first(), true, None, &live_fp) } else { None };
    finish(ctx, q, &got.hits, got.total, next, previous).await
}

/// A page inside the point in time `pit` (`cursor` None: the first page, the point in time
/// just opened). The point in time is deleted when no next page follows.
async fn in_snapshot(ctx: &Ctx<'_>, q: &SearchQuery, keys: &[SortField], size: usize, pit: String, cursor: Option<Cursor>) -> Result<SearchPage> {
    let fresh = cursor.is_none();
    let snap_fp = snapshot_fingerprint(ctx, q, keys);
    if let Some(c) = &cursor {
        c.check(&snap_fp)?;
    }
    let snap = ctx.in_pit(pit.clone());
    let with_refs = with_refs(q);
    // A later page only needs the keys from the point in time: it returns current versions.
    let source = if fresh { source_fields(with_refs) } else { json!(false) };
    let got = match async { fetch(&snap, &query(&snap, q).await?, keys, size, cursor.as_ref(), q.total, source).await }.await {
        Ok(got) => got,
        Err(e) => {
            if fresh {
                ctx.close_pit(&pit).await;
            }
            return Err(e);
        }
    };
    let pit = got.pit.clone().unwrap_or(pit);
    let backward = cursor.as_ref().is_some_and(|c| c.backward);
    let (has_next, has_previous) = if backward { (true, got.more) } else { (got.more, cursor.is_some()) };
    let docs = if fresh { got.hits.clone() } else { ctx.current(&got.hits, &source_fields(with_refs)).await? };
    let next = if has_next { link(got.hits.last(), false, Some(&pit), &snap_fp) } else { None };
    let previous = match (has_previous, has_next) {
        (false, _) => None,
        (true, true) => link(got.hits.first(), true, Some(&pit), &snap_fp),
        // The point in time ends with the last page: the way back is on the live index.
        (true, false) => link(got.hits.first(), true, None, &live_fingerprint(keys)),
    };
    if !has_next {
        ctx.close_pit(&pit).await;
    }
    finish(ctx, q, &docs, got.total, next, previous).await
}

/// One page of hits in order, whether more follow (in the direction of travel), the total.
struct Fetched {
    hits: Vec<Value>,
    more: bool,
    total: Option<u64>,
    /// The point-in-time id the answer carried (OpenSearch may renew it).
    pit: Option<String>,
}

async fn fetch(ctx: &Ctx<'_>, query: &Value, keys: &[SortField], size: usize, after: Option<&Cursor>, total: Total, source: Value) -> Result<Fetched> {
    let backward = after.is_some_and(|c| c.backward);
    let mut body = json!({
        "query": query,
        "sort": sort_json(keys, backward),
        "size": size + 1,
        "_source": source,
        "track_total_hits": match total { Total::None => json!(false), Total::Estimate => json!(10_000), Total::Accurate => json!(true) },
    });
    if let Some(c) = after {
        body["search_after"] = Value::Array(c.values.clone());
    }
    let reply = ctx.search(&body).await?;
    let (mut hits, total) = match &reply {
        Some(r) => (r.pointer("/hits/hits").and_then(Value::as_array).cloned().unwrap_or_default(), total_of(r, total)),
        None => (Vec::new(), (total != Total::None).then_some(0)),
    };
    let more = hits.len() > size;
    hits.truncate(size);
    if backward {
        hits.reverse();
    }
    let pit = reply.as_ref().and_then(|r| r.get("pit_id")).and_then(Value::as_str).map(str::to_string);
    Ok(Fetched { hits, more, total, pit })
}

/// A cursor continuing after (`backward`: before) `hit`.
fn link(hit: Option<&Value>, backward: bool, pit: Option<&str>, fingerprint: &str) -> Option<String> {
    let values = hit?.get("sort")?.as_array()?;
    Some(Cursor { backward, values: values.clone(), pit: pit.map(str::to_string), fingerprint: fingerprint.to_string() }.encode())
}

/// The page: `docs` as matches, then their includes (from the live index, as SQLite).
async fn finish(ctx: &Ctx<'_>, q: &SearchQuery, docs: &[Value], total: Option<u64>, next: Option<String>, previous: Option<String>) -> Result<SearchPage> {
    let matches = docs.iter().map(version_of).collect::<Result<Vec<_>>>()?;
    let included = if with_refs(q) { super::include::includes(ctx, q, docs).await? } else { Vec::new() };
    Ok(SearchPage { matches, included, total, next, previous })
}

fn with_refs(q: &SearchQuery) -> bool {
    !q.includes.is_empty() || !q.revincludes.is_empty()
}

fn total_of(reply: &Value, wanted: Total) -> Option<u64> {
    let t = reply.pointer("/hits/total")?;
    let exact = t.get("relation").and_then(Value::as_str).is_none_or(|r| r == "eq");
    match wanted {
        Total::None => None,
        _ if !exact => None,
        _ => t.get("value").and_then(Value::as_u64),
    }
}

/// A hit's `_source` as the stored version.
pub fn version_of(hit: &Value) -> Result<StoredVersion> {
    let s = &hit["_source"];
    let bad = || FhirError::Internal("the search index returned a document without its stored version".into());
    let text = |k: &str| s.get(k).and_then(Value::as_str).map(str::to_string).ok_or_else(bad);
    Ok(StoredVersion {
        resource_type: text("rtype")?,
        id: text("id")?,
        version: s.get("version").and_then(Value::as_u64).ok_or_else(bad)?,
        last_updated: s.get("lu").and_then(Value::as_i64).ok_or_else(bad)?,
        method: Method::from_str(s.get("method").and_then(Value::as_str).unwrap_or("PUT")),
        created: s.get("created").and_then(Value::as_bool).unwrap_or(false),
        body: Some(Bytes::from(text("body")?.into_bytes())),
    })
}

/// One sort key: a field (nested in its family, filtered on the parameter), its direction,
/// how several values of a resource combine, and the value of a resource without any.
pub struct SortField {
    field: String,
    nested: Option<(&'static str, String)>,
    descending: bool,
}

pub fn sort_spec(keys: &[SortKey]) -> Vec<SortField> {
    keys.iter()
        .map(|k| {
            if k.param.code == "_id" {
                return SortField { field: "id".into(), nested: None, descending: k.descending };
            }
            // As SQLite: MIN of the low ends ascending, MAX of the high ends descending.
            let fam = match k.param.kind {
                ParamType::Special | ParamType::Composite => "str",
                kind => family(kind),
            };
            let sub = match (fam, k.descending) {
                ("ref", _) => "key",
                ("date", true) => "s2",
                _ => "s",
            };
            SortField { field: format!("{fam}.{sub}"), nested: Some((fam, k.param.code.clone())), descending: k.descending }
        })
        .collect()
}

/// The sort clause; `backward` reverses every direction (for the previous page).
fn sort_json(keys: &[SortField], backward: bool) -> Value {
    let order = |desc: bool| if desc != backward { "desc" } else { "asc" };
    let mut out = Vec::new();
    for k in keys {
        let mut spec = Map::new();
        spec.insert("order".into(), json!(order(k.descending)));
        if let Some((path, code)) = &k.nested {
            spec.insert("mode".into(), json!(if k.descending { "max" } else { "min" }));
            spec.insert("nested".into(), json!({"path": path, "filter": {"term": {format!("{path}.p"): code}}}));
            spec.insert("missing".into(), json!(if k.descending { LAST_DESC } else { LAST_ASC }));
        }
        let mut one = Map::new();
        one.insert(k.field.clone(), Value::Object(spec));
        out.push(Value::Object(one));
    }
    out.push(json!({"key": {"order": order(false)}}));
    Value::Array(out)
}

/// The sort as text (field, parameter, direction of each key).
fn sort_text(keys: &[SortField]) -> String {
    keys.iter().map(|k| format!("{}|{:?}|{};", k.field, k.nested.as_ref().map(|n| &n.1), k.descending)).collect()
}

/// Identifies the sort of a search, so that a cursor is only used with the sort it came from.
fn live_fingerprint(keys: &[SortField]) -> String {
    fingerprint([sort_text(keys).as_str()])
}

/// Identifies a search in a point in time: its sort, the tenant's index and the criteria
/// (access-control confinement included), as SQLite keys its snapshots.
fn snapshot_fingerprint(ctx: &Ctx<'_>, q: &SearchQuery, keys: &[SortField]) -> String {
    let criteria = format!("{:?}|{:?}", q.types, q.filters);
    fingerprint([sort_text(keys).as_str(), ctx.index.as_str(), criteria.as_str()])
}

/// Whether the order can change under writes: any sort key but `_id` (default order and
/// `_id` page on keys that never change).
fn needs_snapshot(keys: &[SortField]) -> bool {
    keys.iter().any(|k| k.field != "id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backward_reverses_every_direction_but_not_missing() {
        let reg = crate::search::params::Registry::from_definitions(crate::fhir::definitions::Definitions::r4()).unwrap();
        let p = reg.get("Observation", "date").unwrap().clone();
        let keys = sort_spec(&[SortKey { param: p, descending: true }]);
        let fwd = sort_json(&keys, false);
        let back = sort_json(&keys, true);
        assert_eq!(fwd[0]["date.s2"]["order"], "desc");
        assert_eq!(back[0]["date.s2"]["order"], "asc");
        assert_eq!(back[0]["date.s2"]["missing"], fwd[0]["date.s2"]["missing"]);
        assert_eq!(back[0]["date.s2"]["mode"], "max");
        assert_eq!(back[1]["key"]["order"], "desc");
    }
}
