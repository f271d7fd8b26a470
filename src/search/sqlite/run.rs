//! Running a search on the embedded index: matches (paged), total, and includes.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension};

use super::filter::{filter, positive_rids, SqlBuf};
use super::rows_of;
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
        filter(&mut w, registry, tenant, "c", &q.types, f, 0);
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
/// both directions, through a sentinel.
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
            (
                format!(
                    "COALESCE((SELECT {agg} FROM {tbl} x WHERE {} AND x.pid IN (SELECT pid FROM sp_param WHERE param = '{code}')), {sentinel})",
                    rows_of("x", "c.rid")
                ),
                key.descending,
            )
        })
        .collect()
}

/// Sorted result sets kept in memory between pages: the ordered rids of every match at
/// the first page, so that writes between pages never repeat or skip a resource.
#[derive(Default)]
pub struct Snapshots {
    /// id -> (created, the query's fingerprint, rids).
    map: HashMap<String, (Instant, String, Arc<Vec<i64>>)>,
}

const SNAPSHOT_TTL: Duration = Duration::from_secs(30 * 60);
const SNAPSHOT_MAX: usize = 256;

impl Snapshots {
    fn put(&mut self, rids: Vec<i64>, fingerprint: String) -> String {
        let now = Instant::now();
        self.map.retain(|_, (t, _, _)| now.duration_since(*t) < SNAPSHOT_TTL);
        if self.map.len() >= SNAPSHOT_MAX {
            if let Some(oldest) = self.map.iter().min_by_key(|(_, (t, _, _))| *t).map(|(k, _)| k.clone()) {
                self.map.remove(&oldest);
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        self.map.insert(id.clone(), (now, fingerprint, Arc::new(rids)));
        id
    }

    /// Only for the same query (tenant, filters, access-control confinement included): a
    /// cursor handed to another caller or tenant gives nothing.
    fn get(&self, id: &str, fingerprint: &str) -> Option<Arc<Vec<i64>>> {
        self.map.get(id).filter(|(t, f, _)| t.elapsed() < SNAPSHOT_TTL && f == fingerprint).map(|(_, _, r)| r.clone())
    }
}

/// Cursors: `n<rid>` (rows after rid), `p<rid>` (rows before rid), `s<snapshot>.<offset>`.
enum Cursor {
    After(i64),
    Before(i64),
    Snapshot(String, usize),
}

fn parse_cursor(c: &str) -> Result<Cursor> {
    let bad = || FhirError::BadRequest(format!("invalid page cursor '{c}'"));
    match c.split_at_checked(1) {
        Some(("n", n)) => n.parse().map(Cursor::After).map_err(|_| bad()),
        Some(("p", n)) => n.parse().map(Cursor::Before).map_err(|_| bad()),
        Some(("s", rest)) => {
            let (id, off) = rest.split_once('.').ok_or_else(bad)?;
            Ok(Cursor::Snapshot(id.to_string(), off.parse().map_err(|_| bad())?))
        }
        _ => Err(bad()),
    }
}

const CURRENT_BY_RID: &str = "SELECT c.rid, v.seq, v.rtype, v.id, v.version, v.last_updated, v.method, v.created, v.body \
     FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE c.rid = ? AND c.deleted = 0";

pub fn search(
    conn: &Connection,
    registry: &Registry,
    tenant: &str,
    q: &SearchQuery,
    count: usize,
    snapshots: Option<&Mutex<Snapshots>>,
) -> Result<SearchPage> {
    search_in(conn, registry, tenant, q, count, snapshots, false)
}

/// [`search`], told whether `tenant` is the only tenant with resources in this database
/// (as of the caller's read transaction): the total may then be counted from the index alone.
pub fn search_in(
    conn: &Connection,
    registry: &Registry,
    tenant: &str,
    q: &SearchQuery,
    count: usize,
    snapshots: Option<&Mutex<Snapshots>>,
    sole_tenant: bool,
) -> Result<SearchPage> {
    let summary_count = q.summary == Some(crate::search::query::Summary::Count);
    let cursor = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let rid_set = if sole_tenant && q.sort.is_empty() { index_rids(registry, tenant, q) } else { None };
    let page = if let Some(set) = rid_set {
        let rids = read_rids(conn, &set)?;
        let total = (q.total != Total::None || summary_count).then_some(rids.len() as u64);
        if count == 0 || summary_count {
            return Ok(SearchPage { matches: Vec::new(), included: Vec::new(), total, next: None, previous: None });
        }
        let mut page = page_of(conn, &rids, count, cursor)?;
        page.total = total;
        page
    } else {
        let w = where_clause(registry, tenant, q);
        let count_matches = || -> Result<u64> {
            let sql = format!("SELECT COUNT(*) FROM resource_current c WHERE {}", w.text);
            let n: i64 = conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(w.args.iter()), |r| r.get(0))?;
            Ok(n as u64)
        };
        if count == 0 || summary_count {
            let total = if q.total == Total::None && !summary_count { None } else { Some(count_matches()?) };
            return Ok(SearchPage { matches: Vec::new(), included: Vec::new(), total, next: None, previous: None });
        }
        let mut page = if q.sort.is_empty() { by_rid(conn, &w, count, cursor)? } else { sorted(conn, &w, q, count, cursor, snapshots)? };
        if page.total.is_none() && q.total != Total::None {
            page.total = Some(count_matches()?);
        }
        page
    };
    let rids: Vec<i64> = page.matches.iter().map(|(rid, _)| *rid).collect();
    let matches: Vec<StoredVersion> = page.matches.into_iter().map(|(_, v)| v).collect();
    let included = includes(conn, tenant, q, &matches, &rids)?;
    Ok(SearchPage { matches, included, total: page.total, next: page.next, previous: page.previous })
}

/// The matches as one compound query of rids from the index alone, when every filter is a
/// positive set of rids (the intersection of the sets is the answer). Only exact when the
/// database holds no other tenant's resources.
fn index_rids(registry: &Registry, tenant: &str, q: &SearchQuery) -> Option<SqlBuf> {
    if q.filters.is_empty() {
        return None;
    }
    let mut b = SqlBuf::default();
    for (i, f) in q.filters.iter().enumerate() {
        if i > 0 {
            b.text.push_str(" INTERSECT ");
        }
        if !positive_rids(&mut b, registry, tenant, &q.types, f) {
            return None;
        }
    }
    Some(b)
}

/// Every rid of `set`, ascending, once each.
fn read_rids(conn: &Connection, set: &SqlBuf) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached(&set.text)?;
    let mut rids = stmt.query_map(rusqlite::params_from_iter(set.args.iter()), |r| r.get::<_, i64>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    rids.sort_unstable();
    rids.dedup();
    Ok(rids)
}

/// A page of the default order (rid) over known rids, with the same cursors as [`by_rid`].
fn page_of(conn: &Connection, rids: &[i64], count: usize, cursor: Option<Cursor>) -> Result<RawPage> {
    let (window, more, backward) = match cursor {
        None => (&rids[..rids.len().min(count)], rids.len() > count, false),
        Some(Cursor::After(after)) => {
            let from = rids.partition_point(|r| *r <= after);
            let rest = &rids[from..];
            (&rest[..rest.len().min(count)], rest.len() > count, false)
        }
        Some(Cursor::Before(before)) => {
            let to = rids.partition_point(|r| *r < before);
            (&rids[to.saturating_sub(count)..to], to > count, true)
        }
        Some(Cursor::Snapshot(..)) => return Err(FhirError::BadRequest("this page cursor belongs to a sorted search".into())),
    };
    let mut stmt = conn.prepare_cached(CURRENT_BY_RID)?;
    let mut matches = Vec::with_capacity(window.len());
    for rid in window {
        if let Some(v) = stmt.query_row([rid], |row| version_at(row, 1)).optional()? {
            matches.push((*rid, v));
        }
    }
    Ok(rid_page(matches, more, backward, cursor.is_some()))
}

/// A page in rid order with its `n<rid>`/`p<rid>` cursors: `more` says whether rows lie
/// beyond the page in the direction read (`backward` for a `p` cursor).
fn rid_page(matches: Vec<(i64, StoredVersion)>, more: bool, backward: bool, had_cursor: bool) -> RawPage {
    let first = matches.first().map(|m| m.0);
    let last = matches.last().map(|m| m.0);
    let (has_next, has_previous) = if backward { (true, more) } else { (more, had_cursor) };
    RawPage {
        next: if has_next { last.map(|r| format!("n{r}")) } else { None },
        previous: if has_previous { first.map(|r| format!("p{r}")) } else { None },
        matches,
        total: None,
    }
}

struct RawPage {
    matches: Vec<(i64, StoredVersion)>,
    total: Option<u64>,
    next: Option<String>,
    previous: Option<String>,
}

/// Default order (rid, i.e. first creation): keyset paging in both directions.
fn by_rid(conn: &Connection, w: &SqlBuf, count: usize, cursor: Option<Cursor>) -> Result<RawPage> {
    let mut cond = SqlBuf { text: w.text.clone(), args: w.args.clone() };
    let backward = matches!(cursor, Some(Cursor::Before(_)));
    match cursor {
        Some(Cursor::After(rid)) => {
            cond.text.push_str(" AND c.rid > ?");
            cond.args.push(Sql::Integer(rid));
        }
        Some(Cursor::Before(rid)) => {
            cond.text.push_str(" AND c.rid < ?");
            cond.args.push(Sql::Integer(rid));
        }
        Some(Cursor::Snapshot(..)) => return Err(FhirError::BadRequest("this page cursor belongs to a sorted search".into())),
        None => {}
    }
    let dir = if backward { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT c.rid, {VERSION_COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE {} ORDER BY c.rid {dir} LIMIT ?",
        cond.text
    );
    cond.args.push(Sql::Integer(count as i64 + 1));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(cond.args.iter()))?;
    let mut matches = Vec::new();
    let mut more = false;
    while let Some(row) = rows.next()? {
        if matches.len() == count {
            more = true;
            break;
        }
        matches.push((row.get::<_, i64>(0)?, version_at(row, 1)?));
    }
    if backward {
        matches.reverse();
    }
    Ok(rid_page(matches, more, backward, cursor.is_some()))
}

/// `_sort`: the first page orders every match and keeps the rids; later pages read them.
fn sorted(conn: &Connection, w: &SqlBuf, q: &SearchQuery, count: usize, cursor: Option<Cursor>, snapshots: Option<&Mutex<Snapshots>>) -> Result<RawPage> {
    let fingerprint = format!("{}|{:?}", w.text, w.args);
    let (id, offset, rids) = match cursor {
        Some(Cursor::Snapshot(id, offset)) => {
            let rids = snapshots
                .and_then(|s| s.lock().ok().and_then(|s| s.get(&id, &fingerprint)))
                .ok_or_else(|| FhirError::Gone("this search's pages have expired; run the search again".into()))?;
            (Some(id), offset, rids)
        }
        Some(_) => return Err(FhirError::BadRequest("this page cursor does not belong to a sorted search".into())),
        None => {
            let mut order = String::new();
            for (expr, desc) in sort_keys(q) {
                order.push_str(&format!("{expr} {}, ", if desc { "DESC" } else { "ASC" }));
            }
            order.push_str("c.rid ASC");
            let sql = format!("SELECT c.rid FROM resource_current c WHERE {} ORDER BY {order}", w.text);
            let mut stmt = conn.prepare_cached(&sql)?;
            let rids = stmt.query_map(rusqlite::params_from_iter(w.args.iter()), |r| r.get::<_, i64>(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
            let rids = Arc::new(rids);
            let id = if rids.len() > count { snapshots.and_then(|s| s.lock().ok().map(|mut s| s.put(rids.as_ref().clone(), fingerprint.clone()))) } else { None };
            (id, 0, rids)
        }
    };
    let mut matches = Vec::new();
    for rid in rids.iter().skip(offset).take(count) {
        // A resource deleted since the first page is left out.
        if let Some(v) = conn.prepare_cached(CURRENT_BY_RID)?.query_row([rid], |r| version_at(r, 1)).optional()? {
            matches.push((*rid, v));
        }
    }
    let link = |off: usize| id.as_ref().map(|id| format!("s{id}.{off}"));
    Ok(RawPage {
        matches,
        total: Some(rids.len() as u64),
        next: if offset + count < rids.len() { link(offset + count) } else { None },
        previous: if offset > 0 { link(offset.saturating_sub(count)) } else { None },
    })
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
    let sql = format!(
        "SELECT t.rid FROM sp_reference r JOIN resource_current t ON t.tenant = ?1 AND t.rtype = r.target_type AND t.id = r.target_id \
         WHERE {} AND (?3 IS NULL OR r.pid IN (SELECT pid FROM sp_param WHERE param = ?3)) AND (?4 IS NULL OR r.target_type = ?4) \
         AND t.deleted = 0",
        rows_of("r", "?2")
    );
    let code = inc.param.as_ref().map(|p| p.code.clone());
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params![tenant, rid, code, inc.target_type], |r| r.get::<_, i64>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
}

fn reverse(conn: &Connection, tenant: &str, rtype: &str, id: &str, inc: &Include) -> Result<Vec<i64>> {
    // Driven by the value index: each (type, parameter) that may refer, then the target id.
    let sql = "SELECT s.rid FROM sp_reference r JOIN resource_current s ON s.rid = (r.rowid >> 24) \
               WHERE r.pid IN (SELECT pid FROM sp_param WHERE (?3 = '*' OR rtype = ?3) AND (?4 IS NULL OR param = ?4)) \
               AND r.target_id = ?2 AND r.target_type = ?1 AND s.tenant = ?5 AND s.deleted = 0";
    let code = inc.param.as_ref().map(|p| p.code.clone());
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(rusqlite::params![rtype, id, inc.source_type, code, tenant], |r| r.get::<_, i64>(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<i64>>>()?)
}
