//! Writing versions: the precondition check, the preparation (stamp, search values, JSON) that
//! needs no database and so runs on any thread, and the inserts on the writer connection.
use std::collections::HashSet;

use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};

use super::{internal, pipeline, version_row, COLUMNS};
use crate::error::{FhirError, Result};
use crate::fhir::meta;
use crate::persistence::{Expect, StoredVersion, Tx, WriteOp, WriteResult};
use crate::search::extract::{Extractor, IndexEntry};
use crate::search::params::Registry;
use crate::search::query::SearchQuery;
use crate::search::sqlite::{Dicts, Stmts};

/// Everything a resource is searched by: its parameters' values and its full text.
pub fn index_entries(x: &Extractor, resource: &serde_json::Value) -> Vec<IndexEntry> {
    let mut entries = x.extract(resource);
    entries.extend(crate::search::fulltext::entries(resource));
    entries
}

/// What the store holds for a resource before a write.
#[derive(Clone, Copy)]
struct Current {
    /// (version, deleted) of the current version.
    row: Option<(i64, bool)>,
    /// Its `resource_current` rowid.
    rid: i64,
}

impl Current {
    fn live(&self) -> bool {
        matches!(self.row, Some((_, false)))
    }
    fn next_version(&self) -> u64 {
        self.row.map(|(v, _)| v as u64).unwrap_or(0) + 1
    }
}

/// Reads the current version of the op's resource and checks the op's expectation.
fn check(conn: &Connection, tenant: &str, op: &WriteOp) -> Result<Current> {
    let found: Option<(i64, bool, i64)> = conn
        .prepare_cached("SELECT version, deleted, rid FROM resource_current WHERE tenant = ?1 AND rtype = ?2 AND id = ?3")?
        .query_row(params![tenant, op.resource_type, op.id], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, r.get(2)?)))
        .optional()?;
    let row = found.map(|(v, d, _)| (v, d));
    let current = Current { row, rid: found.map_or(0, |f| f.2) };
    let what = || format!("{}/{}", op.resource_type, op.id);
    match (op.expect, row) {
        (Expect::Any, _) => {}
        (Expect::Absent, _) if !current.live() => {}
        (Expect::Absent, _) => return Err(FhirError::Conflict(format!("{} already exists", what()))),
        (Expect::Version(v), Some((cur, _))) if cur as u64 == v => {}
        (Expect::Version(v), Some((cur, _))) => {
            return Err(FhirError::PreconditionFailed(format!("{}: version {v} expected but the current version is {cur}", what())))
        }
        (Expect::Version(v), None) => {
            return Err(FhirError::PreconditionFailed(format!("{}: version {v} expected but the resource does not exist", what())))
        }
    }
    Ok(current)
}

/// A version ready to insert.
struct Prepared {
    op: WriteOp,
    current: Current,
    version: u64,
    body: Option<Vec<u8>>,
    entries: Vec<IndexEntry>,
}

/// Stamps id, version and time into the resource, computes its search values and its JSON.
fn prepare(extractor: Option<&Extractor>, mut op: WriteOp, current: Current, micros: i64) -> Result<Prepared> {
    let version = current.next_version();
    let mut entries = Vec::new();
    let body = match op.resource.take() {
        Some(mut resource) => {
            meta::stamp(&mut resource, &op.id, version, micros);
            if let Some(x) = extractor {
                entries = index_entries(x, &resource);
            }
            Some(serde_json::to_vec(&resource).map_err(internal)?)
        }
        None => None,
    };
    Ok(Prepared { op, current, version, body, entries })
}

/// Inserts a prepared version, points the current row at it and replaces its search values.
fn store<'c>(conn: &'c Connection, dicts: &mut Dicts, stmts: &mut Stmts<'c>, tenant: &str, p: Prepared, micros: i64) -> Result<WriteResult> {
    let Prepared { op, current, version, body, entries } = p;
    let created = !current.live() && body.is_some();
    conn.prepare_cached(
        "INSERT INTO resource_version (tenant, rtype, id, version, last_updated, method, created, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![tenant, op.resource_type, op.id, version as i64, micros, op.method.as_str(), created as i64, body])?;
    let seq = conn.last_insert_rowid();
    // The writer holds the only write transaction: the row `check` read is still there.
    let rid = if current.row.is_some() {
        conn.prepare_cached("UPDATE resource_current SET version = ?1, deleted = ?2, seq = ?3 WHERE rid = ?4")?
            .execute(params![version as i64, body.is_none() as i64, seq, current.rid])?;
        current.rid
    } else {
        conn.prepare_cached("INSERT INTO resource_current (tenant, rtype, id, version, deleted, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
            .execute(params![tenant, op.resource_type, op.id, version as i64, body.is_none() as i64, seq])?;
        conn.last_insert_rowid()
    };
    // A resource seen for the first time has no index rows to replace.
    crate::search::sqlite::write(conn, dicts, stmts, rid, &op.resource_type, &entries, current.row.is_some())?;
    Ok(WriteResult {
        created,
        version: Some(StoredVersion {
            resource_type: op.resource_type,
            id: op.id,
            version,
            last_updated: micros,
            method: op.method,
            created,
            body: body.map(Bytes::from),
        }),
    })
}

/// One write, start to end, on the writer connection.
pub fn apply(conn: &Connection, dicts: &mut Dicts, extractor: Option<&Extractor>, tenant: &str, op: WriteOp, micros: i64) -> Result<WriteResult> {
    let current = check(conn, tenant, &op)?;
    if op.resource.is_none() && !current.live() {
        return Ok(WriteResult { version: None, created: false });
    }
    let p = prepare(extractor, op, current, micros)?;
    store(conn, dicts, &mut Stmts::default(), tenant, p, micros)
}

/// Many writes of distinct resources: checked in order, prepared on every core, inserted in
/// order. The outer error is a storage failure (the transaction must roll back).
pub fn apply_many(
    conn: &Connection,
    dicts: &mut Dicts,
    extractor: Option<&Extractor>,
    tenant: &str,
    ops: Vec<WriteOp>,
    micros: i64,
) -> Result<Vec<Result<WriteResult>>> {
    let mut seen = HashSet::new();
    let independent = ops.iter().all(|o| o.resource.is_some() && seen.insert((o.resource_type.as_str(), o.id.as_str())));
    drop(seen);
    if !independent {
        return Ok(ops.into_iter().map(|op| apply(conn, dicts, extractor, tenant, op, micros)).collect());
    }
    let mut results: Vec<Option<Result<WriteResult>>> = (0..ops.len()).map(|_| None).collect();
    let mut ready = Vec::with_capacity(ops.len());
    for (i, op) in ops.into_iter().enumerate() {
        match check(conn, tenant, &op) {
            Ok(current) => ready.push((i, op, current)),
            Err(e @ FhirError::Internal(_)) => return Err(e),
            Err(e) => results[i] = Some(Err(e)),
        }
    }
    let mut stmts = Stmts::default();
    pipeline::run(
        ready,
        |(i, op, current)| (i, prepare(extractor, op, current, micros)),
        |prepared| {
            let (i, p) = prepared.map_err(FhirError::Internal)?;
            results[i] = Some(Ok(store(conn, dicts, &mut stmts, tenant, p?, micros)?));
            Ok::<(), FhirError>(())
        },
    )?;
    Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(FhirError::Internal("a write was not processed".into())))).collect())
}

/// The unit of work of `ResourceStore::transaction` on the writer connection.
pub struct SqliteTx<'a> {
    pub conn: &'a Connection,
    pub dicts: &'a mut Dicts,
    pub extractor: Option<&'a Extractor>,
    pub registry: Option<&'a Registry>,
    pub tenant: &'a str,
    pub micros: i64,
}

impl Tx for SqliteTx<'_> {
    fn read(&mut self, resource_type: &str, id: &str) -> Result<Option<StoredVersion>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE c.tenant = ?1 AND c.rtype = ?2 AND c.id = ?3"
        );
        Ok(self.conn.prepare_cached(&sql)?.query_row(params![self.tenant, resource_type, id], version_row).optional()?)
    }

    fn search_ids(&mut self, query: &SearchQuery, limit: usize) -> Result<Vec<(String, String)>> {
        let registry = self.registry.ok_or_else(|| FhirError::Internal("this store was opened without a search index".into()))?;
        let mut q = query.clone();
        q.total = crate::search::query::Total::None;
        q.includes.clear();
        q.revincludes.clear();
        q.sort.clear();
        let page = crate::search::sqlite::run::search(self.conn, registry, self.tenant, &q, limit, None)?;
        Ok(page.matches.into_iter().map(|v| (v.resource_type, v.id)).collect())
    }

    fn write(&mut self, op: WriteOp) -> Result<WriteResult> {
        apply(self.conn, self.dicts, self.extractor, self.tenant, op, self.micros)
    }

    fn write_many(&mut self, ops: Vec<WriteOp>) -> Result<Vec<Result<WriteResult>>> {
        apply_many(self.conn, self.dicts, self.extractor, self.tenant, ops, self.micros)
    }
}
