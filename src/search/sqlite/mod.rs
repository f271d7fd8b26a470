//! The embedded `SearchIndex`: search values in SQLite tables beside the resources, written
//! in the same transaction as each version, so a search right after a write sees it.
pub mod filter;
pub mod run;

use rusqlite::{params, Transaction};

use crate::search::extract::{IndexEntry, IndexValue};

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sp_string (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL,
    norm TEXT NOT NULL, exact TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sp_string_value ON sp_string(rtype, param, norm);
CREATE INDEX IF NOT EXISTS sp_string_rid ON sp_string(rid);
CREATE TABLE IF NOT EXISTS sp_token (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL,
    system TEXT, code TEXT, text TEXT);
CREATE INDEX IF NOT EXISTS sp_token_value ON sp_token(rtype, param, code, system);
CREATE INDEX IF NOT EXISTS sp_token_rid ON sp_token(rid, param);
CREATE TABLE IF NOT EXISTS sp_date (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL,
    low INTEGER NOT NULL, high INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sp_date_value ON sp_date(rtype, param, low, high);
CREATE INDEX IF NOT EXISTS sp_date_rid ON sp_date(rid, param);
CREATE TABLE IF NOT EXISTS sp_number (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL,
    value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL);
CREATE INDEX IF NOT EXISTS sp_number_value ON sp_number(rtype, param, value);
CREATE INDEX IF NOT EXISTS sp_number_rid ON sp_number(rid, param);
CREATE TABLE IF NOT EXISTS sp_quantity (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL,
    value REAL NOT NULL, low REAL NOT NULL, high REAL NOT NULL, system TEXT, code TEXT, unit TEXT);
CREATE INDEX IF NOT EXISTS sp_quantity_value ON sp_quantity(rtype, param, code, value);
CREATE INDEX IF NOT EXISTS sp_quantity_rid ON sp_quantity(rid, param);
CREATE TABLE IF NOT EXISTS sp_reference (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL,
    target_type TEXT, target_id TEXT, url TEXT, id_system TEXT, id_value TEXT);
CREATE INDEX IF NOT EXISTS sp_reference_value ON sp_reference(rtype, param, target_id, target_type);
CREATE INDEX IF NOT EXISTS sp_reference_target ON sp_reference(target_type, target_id, rtype, param);
CREATE INDEX IF NOT EXISTS sp_reference_rid ON sp_reference(rid, param);
CREATE TABLE IF NOT EXISTS sp_fulltext (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL,
    norm TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sp_fulltext_rid ON sp_fulltext(rid);
CREATE TABLE IF NOT EXISTS sp_uri (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL,
    value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sp_uri_value ON sp_uri(rtype, param, value);
CREATE INDEX IF NOT EXISTS sp_uri_rid ON sp_uri(rid);
";

const TABLES: &[&str] = &["sp_string", "sp_token", "sp_date", "sp_number", "sp_quantity", "sp_reference", "sp_uri", "sp_fulltext"];

/// `_text` and `_content`: matched anywhere in the text, so a value index would not help.
pub fn is_full_text(code: &str) -> bool {
    matches!(code, "_text" | "_content")
}

/// Replaces the search values of resource `rid` (none for a deletion); `existing` is false
/// for a resource written for the first time, which has nothing to replace.
pub fn write(tx: &Transaction<'_>, rid: i64, rtype: &str, entries: &[IndexEntry], existing: bool) -> rusqlite::Result<()> {
    if existing {
        for t in TABLES {
            tx.prepare_cached(&format!("DELETE FROM {t} WHERE rid = ?1"))?.execute([rid])?;
        }
    }
    for e in entries {
        let (p, g) = (e.param.as_str(), e.group as i64);
        match &e.value {
            IndexValue::String { norm, .. } if is_full_text(p) => {
                tx.prepare_cached("INSERT INTO sp_fulltext VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![rid, rtype, p, g, norm])?
            }
            IndexValue::String { norm, exact } => {
                tx.prepare_cached("INSERT INTO sp_string VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![rid, rtype, p, g, norm, exact])?
            }
            IndexValue::Token { system, code, text } => tx
                .prepare_cached("INSERT INTO sp_token VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                .execute(params![rid, rtype, p, g, system, code, text])?,
            IndexValue::Date { low, high } => {
                tx.prepare_cached("INSERT INTO sp_date VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?.execute(params![rid, rtype, p, g, low, high])?
            }
            IndexValue::Number { value, low, high } => tx
                .prepare_cached("INSERT INTO sp_number VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                .execute(params![rid, rtype, p, g, value, low, high])?,
            IndexValue::Quantity { value, low, high, system, code, unit } => tx
                .prepare_cached("INSERT INTO sp_quantity VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?
                .execute(params![rid, rtype, p, g, value, low, high, system, code, unit])?,
            IndexValue::Reference { target_type, target_id, url, identifier } => {
                let (id_system, id_value) = match identifier {
                    Some((s, v)) => (s.clone(), Some(v.clone())),
                    None => (None, None),
                };
                tx.prepare_cached("INSERT INTO sp_reference VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?
                    .execute(params![rid, rtype, p, g, target_type, target_id, url, id_system, id_value])?
            }
            IndexValue::Uri(v) => tx.prepare_cached("INSERT INTO sp_uri VALUES (?1, ?2, ?3, ?4, ?5)")?.execute(params![rid, rtype, p, g, v])?,
        };
    }
    Ok(())
}
