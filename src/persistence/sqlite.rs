//! Embedded `ResourceStore`: one SQLite file in WAL mode. Every version is a row of
//! `resource_version` (its rowid `seq` orders the whole store); `resource_current`
//! points at each resource's newest version. One writer connection, a pool of readers.
//! Writes are prepared (stamp, search values, JSON) on every core and inserted by the
//! writer (`sqlite/write.rs`, `sqlite/pipeline.rs`).
mod checkpoint;
mod pipeline;
mod readers;
#[cfg(test)]
mod tests;
mod write;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{HistoryPage, HistoryQuery, HistoryScope, Method, ResourceStore, StoredVersion, TxWork, WriteOp, WriteResult};
use crate::error::{FhirError, Result};
use crate::fhir::meta;
use crate::search::extract::Extractor;
use crate::search::schema::SchemaCell;
use crate::search::query::SearchQuery;
use crate::search::sqlite::Dicts;
use crate::search::{SearchIndex, SearchPage};
use write::{index_entries, SqliteTx};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS resource_version (
    seq INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    rtype TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    method TEXT NOT NULL,
    created INTEGER NOT NULL,
    body BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS resource_version_key ON resource_version(tenant, rtype, id, version);
CREATE INDEX IF NOT EXISTS resource_version_type ON resource_version(tenant, rtype, seq);
CREATE INDEX IF NOT EXISTS resource_version_tenant ON resource_version(tenant, seq);
CREATE TABLE IF NOT EXISTS resource_current (
    rid INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    rtype TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    UNIQUE (tenant, rtype, id)
);
CREATE INDEX IF NOT EXISTS resource_current_type ON resource_current(tenant, rtype, deleted);
";

/// Every tenant that has written to this database (kept by each write's transaction).
const TENANTS: &str = "CREATE TABLE store_tenant (name TEXT PRIMARY KEY) WITHOUT ROWID;
INSERT INTO store_tenant (name) SELECT DISTINCT tenant FROM resource_current;";

struct Writer {
    conn: Connection,
    /// The newest `last_updated` written; new versions get a strictly larger one.
    last_micros: i64,
    /// Dictionary ids of the search index (`sp_param`, `sp_dict`).
    dicts: Dicts,
    checkpoints: checkpoint::Checkpointer,
}

impl Writer {
    /// Runs `f` in one IMMEDIATE transaction at a time strictly after the last one, and
    /// commits what it did, or rolls everything back (dictionary cache included) on error.
    fn in_tx<T>(&mut self, f: impl FnOnce(&Connection, &mut Dicts, i64) -> Result<T>) -> Result<T> {
        let started = std::time::Instant::now();
        let micros = meta::now_micros().max(self.last_micros + 1);
        self.checkpoints.bound(&self.conn);
        let Writer { conn, dicts, .. } = self;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx, dicts, micros).and_then(|v| Ok(tx.commit().map(|_| v)?));
        tracing::debug!(target: "hearth::writer", us = started.elapsed().as_micros() as u64, ok = out.is_ok(), "write transaction");
        match out {
            Ok(v) => {
                self.dicts.commit();
                self.last_micros = micros;
                self.checkpoints.wake();
                Ok(v)
            }
            Err(e) => {
                // Dropping the transaction (if the commit did not consume it) rolled it back.
                self.dicts.rollback();
                Err(e)
            }
        }
    }
}

pub struct SqliteStore {
    /// Search values are written with each version when set.
    schema: Option<Arc<SchemaCell>>,
    snapshots: Arc<Mutex<crate::search::sqlite::run::Snapshots>>,
    writer: Arc<Mutex<Writer>>,
    readers: readers::Readers,
}

/// Page cache of the writer connection, in KiB.
const WRITER_CACHE_KB: i64 = 256 * 1024;

fn open_conn(path: &Path, synchronous: &str) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "cache_size", -64_000)?;
    // Each write touches ~20 distinct statements (versions, current, seven index tables).
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

fn internal<E: std::fmt::Display>(e: E) -> FhirError {
    FhirError::Internal(format!("storage error: {e}"))
}

impl SqliteStore {
    /// Opens (creating if needed) `<dir>/hearth.db`. `synchronous` is `full` or `normal`.
    pub fn open(dir: &Path, synchronous: &str, schema: Option<Arc<SchemaCell>>) -> Result<SqliteStore> {
        std::fs::create_dir_all(dir)?;
        let synchronous = match synchronous.to_ascii_lowercase().as_str() {
            "normal" => "NORMAL",
            "full" => "FULL",
            other => return Err(FhirError::BadRequest(format!("unknown SQLite synchronous mode '{other}' (use full or normal)"))),
        };
        let path = dir.join("hearth.db");
        let conn = open_conn(&path, synchronous)?;
        // The writer's page cache holds the index pages a large transaction changes (it
        // grows only as needed); checkpoints run on their own thread (`checkpoint.rs`).
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KB)?;
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::AUTOCHECKPOINT)?;
        conn.execute_batch(SCHEMA)?;
        let has_tenants: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE name = 'store_tenant')", [], |r| r.get(0))?;
        if !has_tenants {
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {TENANTS} COMMIT;"))?;
        }
        let rebuild = crate::search::sqlite::ensure_schema(&conn)?;
        // Versions are stamped in `seq` order, so the newest row holds the largest stamp.
        let last_micros: i64 =
            conn.query_row("SELECT last_updated FROM resource_version ORDER BY seq DESC LIMIT 1", [], |r| r.get(0)).optional()?.unwrap_or(0);
        let checkpoints = {
            let (db, sync) = (path.clone(), synchronous);
            checkpoint::Checkpointer::start(move || open_conn(&db, sync), path.clone())
        };
        let mut writer = Writer { conn, last_micros, dicts: Dicts::default(), checkpoints };
        if rebuild {
            // A data directory of an earlier version: index every resource again, with the
            // custom SearchParameters it holds.
            let started = std::time::Instant::now();
            let cell = crate::search::schema::SchemaCell::new(crate::search::schema::Schema::build(crate::fhir::definitions::Definitions::r4(), &[]).map_err(FhirError::Internal)?);
            for (tenant, custom) in stored_search_parameters(&writer.conn)? {
                cell.set_for(&tenant, Some(crate::search::schema::Schema::build(crate::fhir::definitions::Definitions::r4(), &custom).map_err(FhirError::Internal)?));
            }
            let n = reindex_all(&mut writer, &|t: &str| cell.get_for(t).extractor.clone(), None)?;
            tracing::info!(resources = n, ms = started.elapsed().as_millis() as u64, "search index rebuilt in the current layout");
        }
        Ok(SqliteStore {
            schema,
            snapshots: Arc::default(),
            writer: Arc::new(Mutex::new(writer)),
            readers: readers::Readers::new(path, synchronous),
        })
    }
}

/// Reads a version from `COLUMNS` starting at column `s` (the `seq` column).
pub fn row_to_version(row: &rusqlite::Row<'_>, s: usize) -> rusqlite::Result<StoredVersion> {
    let body: Option<Vec<u8>> = row.get(s + 7)?;
    let method: String = row.get(s + 5)?;
    Ok(StoredVersion {
        resource_type: row.get(s + 1)?,
        id: row.get(s + 2)?,
        version: row.get::<_, i64>(s + 3)? as u64,
        last_updated: row.get(s + 4)?,
        method: Method::from_str(&method),
        created: row.get::<_, i64>(s + 6)? != 0,
        body: body.map(Bytes::from),
    })
}

fn version_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredVersion> {
    row_to_version(row, 0)
}

const COLUMNS: &str = "v.seq, v.rtype, v.id, v.version, v.last_updated, v.method, v.created, v.body";

#[async_trait]
impl ResourceStore for SqliteStore {
    async fn commit(&self, tenant: &str, ops: Vec<WriteOp>) -> Result<Vec<WriteResult>> {
        let writer = self.writer.clone();
        let schema = self.schema.as_ref().map(|s| s.get_for(tenant));
        let tenant = tenant.to_string();
        tokio::task::spawn_blocking(move || {
            let extractor = schema.as_ref().map(|s| s.extractor.clone());
            let mut w = writer.lock().map_err(internal)?;
            w.in_tx(|conn, dicts, micros| {
                note_tenant(conn, &tenant)?;
                // Any failed write fails the whole commit (and rolls it back).
                write::apply_many(conn, dicts, extractor.as_deref(), &tenant, ops, micros)?.into_iter().collect()
            })
        })
        .await
        .map_err(internal)?
    }

    async fn transaction(&self, tenant: &str, work: TxWork) -> Result<()> {
        let writer = self.writer.clone();
        let schema = self.schema.as_ref().map(|s| s.get_for(tenant));
        let tenant = tenant.to_string();
        tokio::task::spawn_blocking(move || {
            let extractor = schema.as_ref().map(|s| s.extractor.clone());
            let registry = schema.as_ref().map(|s| s.registry.clone());
            let mut w = writer.lock().map_err(internal)?;
            w.in_tx(|conn, dicts, micros| {
                note_tenant(conn, &tenant)?;
                let mut unit = SqliteTx { conn, dicts, extractor: extractor.as_deref(), registry: registry.as_deref(), tenant: &tenant, micros };
                work(&mut unit)
            })
        })
        .await
        .map_err(internal)?
    }

    async fn read(&self, tenant: &str, resource_type: &str, id: &str) -> Result<Option<StoredVersion>> {
        self.readers.inline(|conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM resource_current c JOIN resource_version v ON v.seq = c.seq \
                 WHERE c.tenant = ?1 AND c.rtype = ?2 AND c.id = ?3"
            );
            Ok(conn.prepare_cached(&sql)?.query_row(params![tenant, resource_type, id], version_row).optional()?)
        })
    }

    async fn vread(&self, tenant: &str, resource_type: &str, id: &str, version: u64) -> Result<Option<StoredVersion>> {
        self.readers.inline(|conn| {
            let sql = format!("SELECT {COLUMNS} FROM resource_version v WHERE v.tenant = ?1 AND v.rtype = ?2 AND v.id = ?3 AND v.version = ?4");
            Ok(conn.prepare_cached(&sql)?.query_row(params![tenant, resource_type, id, version as i64], version_row).optional()?)
        })
    }

    async fn history(&self, tenant: &str, query: HistoryQuery) -> Result<HistoryPage> {
        let tenant = tenant.to_string();
        self.readers.blocking(move |conn| history(conn, &tenant, &query)).await
    }

    async fn close(&self) -> Result<()> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let w = writer.lock().map_err(internal)?;
            w.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            Ok(())
        })
        .await
        .map_err(internal)?
    }
}

#[async_trait]
impl SearchIndex for SqliteStore {
    async fn search(&self, tenant: &str, query: SearchQuery, count: usize) -> Result<SearchPage> {
        let registry = self.schema.as_ref().map(|s| s.get_for(tenant).registry.clone()).ok_or_else(|| FhirError::Internal("this store was opened without a search index".into()))?;
        let tenant = tenant.to_string();
        let snapshots = self.snapshots.clone();
        self.readers
            .blocking(move |conn| {
                // One snapshot for the tenant check, the page, the total and the includes.
                let tx = conn.unchecked_transaction()?;
                let sole = sole_tenant(&tx, &tenant)?;
                crate::search::sqlite::run::search_in(&tx, &registry, &tenant, &query, count, Some(&snapshots), sole)
            })
            .await
    }

    async fn reindex(&self, tenant: Option<&str>) -> Result<u64> {
        let cell = self.schema.clone().ok_or_else(|| FhirError::Internal("this store was opened without a search index".into()))?;
        let writer = self.writer.clone();
        let tenant = tenant.map(str::to_string);
        tokio::task::spawn_blocking(move || {
            let mut w = writer.lock().map_err(internal)?;
            reindex_all(&mut w, &|t: &str| cell.get_for(t).extractor.clone(), tenant.as_deref())
        })
        .await
        .map_err(internal)?
    }
}

fn note_tenant(conn: &Connection, tenant: &str) -> Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO store_tenant (name) VALUES (?1)")?.execute([tenant])?;
    Ok(())
}

/// Whether `tenant` is the only one that ever wrote to this database.
fn sole_tenant(conn: &Connection, tenant: &str) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT name FROM store_tenant LIMIT 2")?;
    let names = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names.len() == 1 && names[0] == tenant)
}

/// The current SearchParameter resources (custom search parameters), by tenant.
fn stored_search_parameters(conn: &Connection) -> Result<std::collections::BTreeMap<String, Vec<serde_json::Value>>> {
    let mut stmt = conn.prepare(
        "SELECT c.tenant, v.body FROM resource_current c JOIN resource_version v ON v.seq = c.seq WHERE c.rtype = 'SearchParameter' AND c.deleted = 0",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<Vec<u8>>>(1)?)))?.collect::<rusqlite::Result<Vec<_>>>()?;
    let mut out: std::collections::BTreeMap<String, Vec<serde_json::Value>> = Default::default();
    for (tenant, body) in rows {
        if let Some(v) = body.and_then(|b| serde_json::from_slice(&b).ok()) {
            out.entry(tenant).or_default().push(v);
        }
    }
    Ok(out)
}

/// Replaces the search values of every current resource, in batches of 1,000 resources per
/// transaction (so other writers are not starved); their values are computed on every core.
/// `extractor_of` gives a tenant's extractor; `tenant` limits the rebuild to one tenant.
fn reindex_all(w: &mut Writer, extractor_of: &dyn Fn(&str) -> Arc<Extractor>, tenant: Option<&str>) -> Result<u64> {
    let mut done = 0u64;
    let mut after = 0i64;
    let mut extractors: std::collections::HashMap<String, Arc<Extractor>> = Default::default();
    loop {
        let count = w.in_tx(|conn, dicts, _| {
            let rows: Vec<(i64, String, String, Vec<u8>)> = {
                let mut stmt = conn.prepare_cached(
                    "SELECT c.rid, c.tenant, c.rtype, v.body FROM resource_current c JOIN resource_version v ON v.seq = c.seq \
                     WHERE c.rid > ?1 AND c.deleted = 0 AND (?2 IS NULL OR c.tenant = ?2) ORDER BY c.rid LIMIT 1000",
                )?;
                let rows = stmt.query_map(rusqlite::params![after, tenant], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, Option<Vec<u8>>>(3)?.unwrap_or_default()))
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            let batch: Vec<(i64, String, Vec<u8>, Arc<Extractor>)> = rows
                .into_iter()
                .map(|(rid, t, rtype, body)| {
                    let ex = extractors.entry(t.clone()).or_insert_with(|| extractor_of(&t)).clone();
                    (rid, rtype, body, ex)
                })
                .collect();
            let Some(last) = batch.last() else { return Ok(0) };
            after = last.0;
            let count = batch.len();
            let mut stmts = crate::search::sqlite::Stmts::default();
            pipeline::run(
                batch,
                |(rid, rtype, body, extractor)| (rid, rtype, serde_json::from_slice::<serde_json::Value>(&body).map(|r| index_entries(&extractor, &r))),
                |prepared| {
                    let (rid, rtype, entries) = prepared.map_err(FhirError::Internal)?;
                    let entries = entries.map_err(internal)?;
                    crate::search::sqlite::write(conn, dicts, &mut stmts, rid, &rtype, &entries, true)?;
                    Ok::<(), FhirError>(())
                },
            )?;
            Ok(count)
        })?;
        if count == 0 {
            break;
        }
        done += count as u64;
    }
    Ok(done)
}

fn history(conn: &Connection, tenant: &str, q: &HistoryQuery) -> Result<HistoryPage> {
    let mut filter = String::from("v.tenant = ?");
    let mut args: Vec<rusqlite::types::Value> = vec![tenant.to_string().into()];
    match &q.scope {
        HistoryScope::Instance { resource_type, id } => {
            filter.push_str(" AND v.rtype = ? AND v.id = ?");
            args.push(resource_type.clone().into());
            args.push(id.clone().into());
        }
        HistoryScope::Type { resource_type } => {
            filter.push_str(" AND v.rtype = ?");
            args.push(resource_type.clone().into());
        }
        HistoryScope::System => {}
    }
    if let Some(since) = q.since {
        filter.push_str(" AND v.last_updated >= ?");
        args.push(since.into());
    }
    if let Some((start, end)) = q.at {
        // Current at some time in [start, end): created before `end`, replaced after `start`.
        filter.push_str(
            " AND v.last_updated < ? AND NOT EXISTS (SELECT 1 FROM resource_version n WHERE n.tenant = v.tenant \
             AND n.rtype = v.rtype AND n.id = v.id AND n.version = v.version + 1 AND n.last_updated <= ?)",
        );
        args.push(end.into());
        args.push(start.into());
    }
    let total = match q.scope {
        HistoryScope::Instance { .. } => {
            let sql = format!("SELECT COUNT(*) FROM resource_version v WHERE {filter}");
            let n: i64 = conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?;
            Some(n as u64)
        }
        _ => None,
    };
    if let Some(cursor) = &q.cursor {
        let before: i64 = cursor.parse().map_err(|_| FhirError::BadRequest(format!("invalid history page cursor '{cursor}'")))?;
        filter.push_str(" AND v.seq < ?");
        args.push(before.into());
    }
    let sql = format!("SELECT {COLUMNS} FROM resource_version v WHERE {filter} ORDER BY v.seq DESC LIMIT ?");
    args.push(((q.count + 1) as i64).into());
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    let mut entries = Vec::new();
    let mut last_seq = 0i64;
    let mut more = false;
    while let Some(row) = rows.next()? {
        if entries.len() == q.count {
            more = true;
            break;
        }
        last_seq = row.get(0)?;
        entries.push(version_row(row)?);
    }
    Ok(HistoryPage { entries, next: more.then(|| last_seq.to_string()), total })
}
