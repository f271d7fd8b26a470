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

fn sort_table(kind: ParamType) -> (&'static str, &'static str, &'static str) {
    // (table, ascending key, descending key)
    match kind {
        ParamType::Date => ("sp_date", "MIN(x.low)", "MAX(x.high)"),
        ParamType::Number | ParamType::Quantity => (if kind == ParamType::Number { "sp_number" } else { "sp_quantity" }, "MIN(x.value)", "MAX(x.value)"),
        ParamType::Token => ("sp_token", "MIN(x.code)", "MAX(x.code)"),
        ParamType::Reference => ("sp_reference", "MIN(x.target_type || '/' || x.target_id)", "MAX(x.target_type || '/' || x.target_id)"),
        ParamType::Uri => ("sp_uri", "MIN(x.value)", "MAX(x.value)"),
        _ => ("sp_string", "MIN(x.norm)", "MAX(x.norm)"),
    }
}

/// Cursor forms: `k<rid>` (keyset on rid, default order) or `o<offset>` (with `_sort`).
enum Cursor {
    After(i64),
    Offset(usize),
}

fn parse_cursor(c: &str) -> Result<Cursor> {
    let bad = || FhirError::BadRequest(format!("invalid page cursor '{c}'"));
    match c.split_at_checked(1) {
        Some(("k", n)) => n.parse().map(Cursor::After).map_err(|_| bad()),
        Some(("o", n)) => n.parse().map(Cursor::Offset).map_err(|_| bad()),
        _ => Err(bad()),
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
    let cursor = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let mut text = w.text.clone();
    let mut args = w.args.clone();
    let mut order = String::new();
    for key in &q.sort {
        if key.param.code == "_id" {
            order.push_str(if key.descending { "c.id DESC, " } else { "c.id ASC, " });
            continue;
        }
        let (tbl, asc, desc) = sort_table(key.param.kind);
        let (agg, dir) = if key.descending { (desc, "DESC") } else { (asc, "ASC") };
        order.push_str(&format!("(SELECT {agg} FROM {tbl} x WHERE x.rid = c.rid AND x.param = '{}') {dir} NULLS LAST, ", key.param.code.replace('\'', "''")));
    }
    order.push_str("c.rid ASC");
    let mut offset = 0usize;
    match cursor {
        Some(Cursor::After(rid)) => {
            text.push_str(" AND c.rid > ?");
            args.push(Sql::Integer(rid));
        }
        Some(Cursor::Offset(o)) => offset = o,
        None => {}
    }
    let sql = format!(
        "SELECT c.rid, {VERSION_COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE {text} ORDER BY {order} LIMIT ? OFFSET ?"
    );
    args.push(Sql::Integer(count as i64 + 1));
    args.push(Sql::Integer(offset as i64));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    let mut matches = Vec::new();
    let mut rids = Vec::new();
    let mut more = false;
    while let Some(row) = rows.next()? {
        if matches.len() == count {
            more = true;
            break;
        }
        rids.push(row.get::<_, i64>(0)?);
        matches.push(version_at(row, 1)?);
    }
    let next = more.then(|| if q.sort.is_empty() { format!("k{}", rids.last().copied().unwrap_or(0)) } else { format!("o{}", offset + count) });
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
