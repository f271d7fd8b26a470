//! The embedded `SearchIndex`: search values in SQLite tables beside the resources, written
//! in the same transaction as each version, so a search right after a write sees it.
//!
//! Layout (index version 4): one table per value family; a value row's rowid is
//! `rid << 24 | n` (the resource and the value's position among its values), so the rows
//! of a resource sit together, a new resource's rows are appended, and a resource's rows
//! are a rowid range (see [`RID_SHIFT`]) without an index of their own. Repeated strings
//! are dictionary-encoded: `pid` names a (resource type, parameter code) pair in `sp_param`;
//! token and quantity systems and token display texts are ids in `sp_dict`. Each table has
//! one value index, led by `pid`; composite components other than the first (rows with
//! `grp > 0` in the non-token tables) are left out of it, since a composite is always
//! found through its first component. `_id` has no rows: `resource_current` answers it.
pub mod filter;
pub mod run;
mod write;

pub use write::{write, Dicts, Stmts};

use rusqlite::Connection;

/// `PRAGMA user_version` of a database whose index has the layout of [`SCHEMA`].
pub const INDEX_VERSION: i64 = 4;

/// A value row's rowid is `rid << RID_SHIFT | n`.
pub const RID_SHIFT: u32 = 24;

/// `x.rowid` is one of resource `rid_expr`'s value rows (a rowid range, for the planner).
pub fn rows_of(x: &str, rid_expr: &str) -> String {
    format!("{x}.rowid BETWEEN ({rid_expr}) * 16777216 AND ({rid_expr}) * 16777216 + 16777215")
}

/// The resource (`rid`) of value row `x`.
pub fn rid_of(x: &str) -> String {
    format!("({x}.rowid >> 24)")
}

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sp_param (pid INTEGER PRIMARY KEY, rtype TEXT NOT NULL, param TEXT NOT NULL, UNIQUE (param, rtype));
CREATE TABLE IF NOT EXISTS sp_dict (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS sp_string (pid INTEGER NOT NULL, grp INTEGER NOT NULL, norm TEXT NOT NULL, exact TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sp_string_value ON sp_string(pid, norm) WHERE grp = 0;
CREATE TABLE IF NOT EXISTS sp_token (pid INTEGER NOT NULL, grp INTEGER NOT NULL, sys INTEGER, code TEXT, text INTEGER);
CREATE INDEX IF NOT EXISTS sp_token_value ON sp_token(pid, code, sys);
CREATE TABLE IF NOT EXISTS sp_date (pid INTEGER NOT NULL, grp INTEGER NOT NULL, low INTEGER NOT NULL, high INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sp_date_value ON sp_date(pid, low, high) WHERE grp = 0;
CREATE TABLE IF NOT EXISTS sp_number (pid INTEGER NOT NULL, grp INTEGER NOT NULL, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sp_number_value ON sp_number(pid, value) WHERE grp = 0;
CREATE TABLE IF NOT EXISTS sp_quantity (pid INTEGER NOT NULL, grp INTEGER NOT NULL, value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL,
    sys INTEGER, code TEXT, unit TEXT);
CREATE INDEX IF NOT EXISTS sp_quantity_value ON sp_quantity(pid, code, value) WHERE grp = 0;
CREATE TABLE IF NOT EXISTS sp_reference (pid INTEGER NOT NULL, grp INTEGER NOT NULL, target_type TEXT, target_id TEXT, url TEXT,
    id_system TEXT, id_value TEXT);
CREATE INDEX IF NOT EXISTS sp_reference_value ON sp_reference(pid, target_id, target_type);
CREATE TABLE IF NOT EXISTS sp_uri (pid INTEGER NOT NULL, grp INTEGER NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sp_uri_value ON sp_uri(pid, value) WHERE grp = 0;
CREATE TABLE IF NOT EXISTS sp_fulltext (pid INTEGER NOT NULL, norm TEXT NOT NULL);
";

/// Whether the table's value index holds only rows with `grp = 0` (not composite
/// components), so a search of a plain parameter says `grp = 0` to use it.
pub fn partial_index(table: &str) -> bool {
    matches!(table, "sp_string" | "sp_date" | "sp_number" | "sp_quantity" | "sp_uri")
}

const TABLES: &[&str] = &["sp_string", "sp_token", "sp_date", "sp_number", "sp_quantity", "sp_reference", "sp_uri", "sp_fulltext"];

/// Tables of every earlier index layout (all dropped on upgrade).
const OLD_TABLES: &[&str] =
    &["sp_string", "sp_token", "sp_date", "sp_number", "sp_quantity", "sp_reference", "sp_uri", "sp_fulltext", "sp_param", "sp_dict"];

/// `_text` and `_content`: matched anywhere in the text, so a value index would not help.
pub fn is_full_text(code: &str) -> bool {
    matches!(code, "_text" | "_content")
}

/// Creates the index tables. A database with an older index layout has its index tables
/// dropped and recreated; returns true then (every resource must be indexed again).
pub fn ensure_schema(conn: &Connection) -> rusqlite::Result<bool> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut rebuilt = false;
    if version < INDEX_VERSION {
        let old: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sp_token')", [], |r| r.get(0))?;
        if old {
            let mut sql = String::from("BEGIN IMMEDIATE;");
            for t in OLD_TABLES {
                sql.push_str(&format!("DROP TABLE IF EXISTS {t};"));
            }
            sql.push_str("COMMIT;");
            conn.execute_batch(&sql)?;
            rebuilt = true;
        }
    }
    conn.execute_batch(SCHEMA)?;
    if version < INDEX_VERSION {
        conn.pragma_update(None, "user_version", INDEX_VERSION)?;
    }
    Ok(rebuilt)
}

/// Removes every search value of resource `rid`.
pub fn delete(tx: &Connection, rid: i64) -> rusqlite::Result<()> {
    let first = rid << RID_SHIFT;
    let last = first | ((1 << RID_SHIFT) - 1);
    for t in TABLES {
        tx.prepare_cached(&format!("DELETE FROM {t} WHERE rowid BETWEEN ?1 AND ?2"))?.execute([first, last])?;
    }
    Ok(())
}
