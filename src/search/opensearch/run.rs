//! Running a search: sort (any parameter, then the unique `key`), keyset paging with
//! `search_after` in an opaque cursor (in both directions, no 10,000-hit window), `_total`
//! through `track_total_hits`, `_summary=count` through `_count`, then the includes.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};

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
    let query = query(ctx, q).await?;
    let summary_count = q.summary == Some(Summary::Count);
    if count == 0 || summary_count {
        let total = if q.total == Total::None && !summary_count { None } else { Some(ctx.count(&query).await?) };
        return Ok(SearchPage { matches: Vec::new(), included: Vec::new(), total, next: None, previous: None });
    }
    let keys = sort_spec(&q.sort);
    let fingerprint = fingerprint(&keys);
    let cursor = q.cursor.as_deref().map(|c| Cursor::parse(c, &fingerprint, keys.len() + 1)).transpose()?;
    let backward = cursor.as_ref().is_some_and(|c| c.backward);
    let size = count.min(MAX_PAGE);
    let with_refs = !q.includes.is_empty() || !q.revincludes.is_empty();
    let mut body = json!({
        "query": query,
        "sort": sort_json(&keys, backward),
        "size": size + 1,
        "_source": source_fields(with_refs),
        "track_total_hits": match q.total { Total::None => json!(false), Total::Estimate => json!(10_000), Total::Accurate => json!(true) },
    });
    if let Some(c) = &cursor {
        body["search_after"] = Value::Array(c.values.clone());
    }
    let reply = ctx.search(&body).await?;
    let (mut hits, total) = match &reply {
        Some(r) => (r.pointer("/hits/hits").and_then(Value::as_array).cloned().unwrap_or_default(), total_of(r, q.total)),
        None => (Vec::new(), (q.total != Total::None).then_some(0)),
    };
    let more = hits.len() > size;
    hits.truncate(size);
    if backward {
        hits.reverse();
    }
    let (has_next, has_previous) = if backward { (true, more) } else { (more, cursor.is_some()) };
    let link = |hit: Option<&Value>, back: bool| -> Option<String> {
        let values = hit?.get("sort")?.as_array()?;
        Some(Cursor { backward: back, values: values.clone() }.encode(&fingerprint))
    };
    let next = if has_next { link(hits.last(), false) } else { None };
    let previous = if has_previous { link(hits.first(), true) } else { None };
    let matches = hits.iter().map(version_of).collect::<Result<Vec<_>>>()?;
    let included = if with_refs { super::include::includes(ctx, q, &hits).await? } else { Vec::new() };
    Ok(SearchPage { matches, included, total, next, previous })
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

/// Identifies the sort of a search, so that a cursor is only used with the sort it came from.
fn fingerprint(keys: &[SortField]) -> String {
    let mut h: u32 = 0x811c9dc5;
    for k in keys {
        let text = format!("{}|{:?}|{};", k.field, k.nested.as_ref().map(|n| &n.1), k.descending);
        for b in text.bytes() {
            h = (h ^ b as u32).wrapping_mul(0x01000193);
        }
    }
    format!("{h:08x}")
}

/// `n<fingerprint>.<values>` (after) or `p<fingerprint>.<values>` (before): the sort values
/// of the last (first) resource of a page, base64url JSON.
pub struct Cursor {
    pub backward: bool,
    pub values: Vec<Value>,
}

impl Cursor {
    pub fn encode(&self, fingerprint: &str) -> String {
        let json = serde_json::to_vec(&self.values).unwrap_or_default();
        format!("{}{fingerprint}.{}", if self.backward { 'p' } else { 'n' }, URL_SAFE_NO_PAD.encode(json))
    }

    pub fn parse(text: &str, fingerprint: &str, len: usize) -> Result<Cursor> {
        let bad = || FhirError::BadRequest(format!("invalid page cursor '{}'", text.chars().take(100).collect::<String>()));
        let (dir, rest) = text.split_at_checked(1).ok_or_else(bad)?;
        let backward = match dir {
            "n" => false,
            "p" => true,
            _ => return Err(bad()),
        };
        let (fp, data) = rest.split_once('.').ok_or_else(bad)?;
        if fp != fingerprint {
            return Err(FhirError::BadRequest("this page cursor belongs to a search with another sort order".into()));
        }
        let bytes = URL_SAFE_NO_PAD.decode(data).map_err(|_| bad())?;
        let values: Vec<Value> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if values.len() != len || !values.iter().all(Value::is_string) {
            return Err(bad());
        }
        Ok(Cursor { backward, values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_checks() {
        let c = Cursor { backward: true, values: vec![json!("a"), json!("Patient/1")] };
        let text = c.encode("0badcafe");
        let back = Cursor::parse(&text, "0badcafe", 2).unwrap();
        assert!(back.backward);
        assert_eq!(back.values, c.values);
        assert!(Cursor::parse(&text, "00000000", 2).is_err());
        assert!(Cursor::parse(&text, "0badcafe", 3).is_err());
        assert!(Cursor::parse("x", "0badcafe", 2).is_err());
        assert!(Cursor::parse("n0badcafe.!!", "0badcafe", 2).is_err());
    }

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
