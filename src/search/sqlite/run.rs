//! Running a search on the embedded index: matches (paged), total, and includes.
use std::collections::HashSet;

use rusqlite::types::Value as Sql;
use rusqlite::Connection;

use super::filter::{filter, SqlBuf};
use crate::error::{FhirError, Result};
use crate::persistence::sqlite::row_to_version;
use crate::persistence::StoredVersion;
use crate::search::params::{ParamType, Registry};
use crate::search::query::{Include, SearchQuery, Total};
use crate::search::SearchPage;

const VERSION_COLUMNS: &str = "v.seq, v.rtype, v.id, v.version, v.last_updated, v.method, v.created, v.body";

/// `c.tenant = ? AND c.deleted = 0 AND c.rtype IN (...) AND <filters>` on alias `c`.
fn where_clause(registry: &Registry, tenant: &str, q: &SearchQuery) -> SqlBuf {
    let mut w = SqlBuf::default();
    w.text.push_str("c.tenant = ?");
    w.args.push(Sql::Text(tenant.to_string()));
    w.text.push_str(" AND c.deleted = 0");
    if !q.types.is_empty() {
        w.text.push_str(" AND c.rtype IN (");
        w.text.push_str(&vec!["?"; q.types.len()].join(", "));
        w.text.push(')');
        w.args.extend(q.types.iter().map(|t| Sql::Text(t.clone())));
    }
    for f in &q.filters {
        w.text.push_str(" AND ");
        filter(&mut w, registry, tenant, "c", f, 0);
    }
    w
}

/// (table, aggregate for ascending, aggregate for descending, is the key text?)
fn sort_table(kind: ParamType) -> (&'static str, &'static str, &'static str, bool) {
    match kind {
        ParamType::Date => ("sp_date", "MIN(x.low)", "MAX(x.high)", false),
        ParamType::Number => ("sp_number", "MIN(x.value)", "MAX(x.value)", false),
        ParamType::Quantity => ("sp_quantity", "MIN(x.value)", "MAX(x.value)", false),
        ParamType::Token => ("sp_token", "MIN(x.code)", "MAX(x.code)", true),
        ParamType::Reference => ("sp_reference", "MIN(x.target_type || '/' || x.target_id)", "MAX(x.target_type || '/' || x.target_id)", true),
        ParamType::Uri => ("sp_uri", "MIN(x.value)", "MAX(x.value)", true),
        _ => ("sp_string", "MIN(x.norm)", "MAX(x.norm)", true),
    }
}

/// The sort keys as SQL expressions with their direction. Missing values sort last in
/// both directions, through a sentinel, so that keyset comparisons never meet NULL.
fn sort_keys(q: &SearchQuery) -> Vec<(String, bool)> {
    q.sort
        .iter()
        .map(|key| {
            if key.param.code == "_id" {
                return ("c.id".to_string(), key.descending);
            }
            let (tbl, asc, desc, text) = sort_table(key.param.kind);
            let agg = if key.descending { desc } else { asc };
            let sentinel = match (text, key.descending) {
                (true, false) => "char(1114111)",
                (true, true) => "''",
                (false, false) => "9e307",
                (false, true) => "-9e307",
            };
            let code = key.param.code.replace('\'', "''");
            (format!("COALESCE((SELECT {agg} FROM {tbl} x WHERE x.rid = c.rid AND x.param = '{code}'), {sentinel})"), key.descending)
        })
        .collect()
}

/// A page cursor: the sort keys and rid of the last row shown (keyset paging, so that
/// writes between pages never make a row appear twice or be skipped).
fn parse_cursor(c: &str, keys: usize) -> Result<(Vec<Sql>, i64)> {
    let bad = || FhirError::BadRequest(format!("invalid page cursor '{c}'"));
    let parts: Vec<serde_json::Value> = serde_json::from_str(c).map_err(|_| bad())?;
    let (rid, vals) = parts.split_last().ok_or_else(bad)?;
    if vals.len() != keys {
        return Err(bad());
    }
    let rid = rid.as_i64().ok_or_else(bad)?;
    let vals = vals
        .iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(Sql::Text(s.clone())),
            serde_json::Value::Number(n) if n.is_i64() => Ok(Sql::Integer(n.as_i64().unwrap_or(0))),
            serde_json::Value::Number(n) => n.as_f64().map(Sql::Real).ok_or_else(bad),
            _ => Err(bad()),
        })
        .collect::<Result<Vec<Sql>>>()?;
    Ok((vals, rid))
}

fn cursor_text(keys: &[Sql], rid: i64) -> String {
    let mut parts: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| match k {
            Sql::Integer(i) => serde_json::json!(i),
            Sql::Real(f) => serde_json::json!(f),
            Sql::Text(t) => serde_json::json!(t),
            _ => serde_json::Value::Null,
        })
        .collect();
    parts.push(serde_json::json!(rid));
    serde_json::Value::Array(parts).to_string()
}

/// `(k1 > v1) OR (k1 = v1 AND (... OR (c.rid > r)))`, with `<` for descending keys.
fn after(keys: &[(String, bool)], vals: &[Sql], rid: i64, out: &mut SqlBuf) {
    match (keys.split_first(), vals.split_first()) {
        (Some(((expr, desc), rest_k)), Some((v, rest_v))) => {
            let op = if *desc { "<" } else { ">" };
            out.text.push_str(&format!("({expr} {op} ?"));
            out.args.push(v.clone());
            out.text.push_str(&format!(" OR ({expr} = ?"));
            out.args.push(v.clone());
            out.text.push_str(" AND ");
            after(rest_k, rest_v, rid, out);
            out.text.push_str("))");
        }
        _ => {
            out.text.push_str("c.rid > ?");
            out.args.push(Sql::Integer(rid));
        }
    }
}

pub fn search(conn: &Connection, registry: &Registry, tenant: &str, q: &SearchQuery, count: usize) -> Result<SearchPage> {
    let w = where_clause(registry, tenant, q);
    let total = match q.total {
        Total::None if q.summary != Some(crate::search::query::Summary::Count) => None,
        _ => {
            let sql = format!("SELECT COUNT(*) FROM resource_current c WHERE {}", w.text);
            let n: i64 = conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(w.args.iter()), |r| r.get(0))?;
            Some(n as u64)
        }
    };
    if count == 0 || q.summary == Some(crate::search::query::Summary::Count) {
        return Ok(SearchPage { matches: Vec::new(), included: Vec::new(), total, next: None });
    }
    let keys = sort_keys(q);
    let mut cond = SqlBuf { text: w.text.clone(), args: w.args.clone() };
    if let Some(c) = q.cursor.as_deref() {
        let (vals, rid) = parse_cursor(c, keys.len())?;
        cond.text.push_str(" AND ");
        after(&keys, &vals, rid, &mut cond);
    }
    let mut select = String::from("c.rid");
    let mut order = String::new();
    for (expr, desc) in &keys {
        select.push_str(&format!(", {expr}"));
        order.push_str(&format!("{expr} {}, ", if *desc { "DESC" } else { "ASC" }));
    }
    order.push_str("c.rid ASC");
    let sql = format!(
        "SELECT {select}, {VERSION_COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE {} ORDER BY {order} LIMIT ?",
        cond.text
    );
    cond.args.push(Sql::Integer(count as i64 + 1));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(cond.args.iter()))?;
    let mut matches = Vec::new();
    let mut rids = Vec::new();
    let mut last_keys = Vec::new();
    let mut more = false;
    while let Some(row) = rows.next()? {
        if matches.len() == count {
            more = true;
            break;
        }
        rids.push(row.get::<_, i64>(0)?);
        last_keys = (0..keys.len()).map(|i| row.get::<_, Sql>(i + 1)).collect::<rusqlite::Result<Vec<Sql>>>()?;
        matches.push(version_at(row, keys.len() + 1)?);
    }
    let next = more.then(|| cursor_text(&last_keys, rids.last().copied().unwrap_or(0)));
    let included = includes(conn, tenant, q, &matches, &rids)?;
    Ok(SearchPage { matches, included, total, next })
}

fn version_at(row: &rusqlite::Row<'_>, start: usize) -> rusqlite::Result<StoredVersion> {
    row_to_version(row, start)
}

/// `_include` and `_revinclude` (with `:iterate` up to a fixed depth), without duplicates.
fn includes(conn: &Connection, tenant: &str, q: &SearchQuery, matches: &[StoredVersion], rids: &[i64]) -> Result<Vec<StoredVersion>> {
    if q.includes.is_empty() && q.revincludes.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen: HashSet<i64> = rids.iter().copied().collect();
    let mut frontier: Vec<(i64, String, String)> =
        rids.iter().zip(matches).map(|(rid, v)| (*rid, v.resource_type.clone(), v.id.clone())).collect();
    let mut out = Vec::new();
    for round in 0..4 {
        let mut found: Vec<i64> = Vec::new();
        for inc in &q.includes {
            if round > 0 && !inc.iterate {
                continue;
            }
            for (rid, rtype, _) in &frontier {
                if inc.source_type != "*" && &inc.source_type != rtype {
                    continue;
                }
                found.extend(forward(conn, tenant, *rid, inc)?);
            }
        }
        for inc in &q.revincludes {
            if round > 0 && !inc.iterate {
                continue;
            }
            for (_, rtype, id) in &frontier {
                found.extend(reverse(conn, tenant, rtype, id, inc)?);
            }
        }
        let new: Vec<i64> = found.into_iter().filter(|r| seen.insert(*r)).collect();
        if new.is_empty() {
            break;
        }
        frontier.clear();
        for rid in new {
            let sql = format!("SELECT c.rid, {VERSION_COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE c.rid = ? AND c.deleted = 0");
            let v = conn.prepare_cached(&sql)?.query_row([rid], |r| version_at(r, 1));
            if let Ok(v) = v {
                frontier.push((rid, v.resource_type.clone(), v.id.clone()));
                out.push(v);
            }
        }
    }
    Ok(out)
}

fn forward(conn: &Connection, tenant: &str, rid: i64, inc: &Include) -> Result<Vec<i64>> {
    let sql = "SELECT t.rid FROM sp_reference r JOIN resource_current t ON t.tenant = ?1 AND t.rtype = r.target_type AND t.id = r.target_id \
               WHERE r.rid = ?2 AND (?3 IS NULL OR r.param = ?3) AND (?4 IS NULL OR r.target_type = ?4) AND t.deleted = 0";
    let code = inc.param.as_ref().map(|p| p.code.clone());
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(rusqlite::params![tenant, rid, code, inc.target_type], |r| r.get::<_, i64>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
}

fn reverse(conn: &Connection, tenant: &str, rtype: &str, id: &str, inc: &Include) -> Result<Vec<i64>> {
    let sql = "SELECT s.rid FROM sp_reference r JOIN resource_current s ON s.rid = r.rid \
               WHERE r.target_type = ?1 AND r.target_id = ?2 AND (?3 = '*' OR r.rtype = ?3) AND (?4 IS NULL OR r.param = ?4) \
               AND s.tenant = ?5 AND s.deleted = 0";
    let code = inc.param.as_ref().map(|p| p.code.clone());
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(rusqlite::params![rtype, id, inc.source_type, code, tenant], |r| r.get::<_, i64>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
}
