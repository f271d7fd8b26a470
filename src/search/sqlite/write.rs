//! Writing a resource's search values: dictionary ids for repeated strings, one row per value.
// Keys are user data: foldhash with a random seed per map (fast, not predictable).
use foldhash::HashMap;

use rusqlite::{params, CachedStatement, Connection, OptionalExtension};

use super::{is_full_text, RID_SHIFT};
use crate::search::extract::{IndexEntry, IndexValue};

/// Beyond this many cached dictionary strings the cache starts over (between transactions).
const MAX_CACHED: usize = 200_000;

/// The writer's cache of `sp_param` and `sp_dict` ids. Ids added by a transaction that rolls
/// back are forgotten (`rollback`), since SQLite may hand them out again.
#[derive(Default)]
pub struct Dicts {
    /// rtype -> param -> pid
    params: HashMap<Box<str>, HashMap<Box<str>, i64>>,
    values: HashMap<Box<str>, i64>,
    added_params: Vec<(Box<str>, Box<str>)>,
    added_values: Vec<Box<str>>,
}

impl Dicts {
    /// The transaction committed: what it added stays.
    pub fn commit(&mut self) {
        self.added_params.clear();
        self.added_values.clear();
        if self.values.len() > MAX_CACHED {
            self.values.clear();
        }
    }

    /// The transaction rolled back: forget the ids it added.
    pub fn rollback(&mut self) {
        for (t, p) in self.added_params.drain(..) {
            if let Some(m) = self.params.get_mut(&t) {
                m.remove(&p);
            }
        }
        for v in self.added_values.drain(..) {
            self.values.remove(&v);
        }
    }

    fn pid(&mut self, conn: &Connection, rtype: &str, param: &str) -> rusqlite::Result<i64> {
        if let Some(&pid) = self.params.get(rtype).and_then(|m| m.get(param)) {
            return Ok(pid);
        }
        let found: Option<i64> = conn
            .prepare_cached("SELECT pid FROM sp_param WHERE param = ?1 AND rtype = ?2")?
            .query_row(params![param, rtype], |r| r.get(0))
            .optional()?;
        let pid = match found {
            Some(pid) => pid,
            None => {
                let pid = conn
                    .prepare_cached("INSERT INTO sp_param (rtype, param) VALUES (?1, ?2) RETURNING pid")?
                    .query_row(params![rtype, param], |r| r.get(0))?;
                self.added_params.push((rtype.into(), param.into()));
                pid
            }
        };
        self.params.entry(rtype.into()).or_default().insert(param.into(), pid);
        Ok(pid)
    }

    fn value(&mut self, conn: &Connection, value: &str) -> rusqlite::Result<i64> {
        if let Some(&id) = self.values.get(value) {
            return Ok(id);
        }
        let found: Option<i64> =
            conn.prepare_cached("SELECT id FROM sp_dict WHERE value = ?1")?.query_row([value], |r| r.get(0)).optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                let id = conn.prepare_cached("INSERT INTO sp_dict (value) VALUES (?1) RETURNING id")?.query_row([value], |r| r.get(0))?;
                self.added_values.push(value.into());
                id
            }
        };
        self.values.insert(value.into(), id);
        Ok(id)
    }

    fn opt_value(&mut self, conn: &Connection, value: Option<&str>) -> rusqlite::Result<Option<i64>> {
        value.map(|v| self.value(conn, v)).transpose()
    }
}

/// The insert statements of the index tables, each prepared when first needed and kept
/// for the following writes (of one transaction, say).
#[derive(Default)]
pub struct Stmts<'c> {
    string: Option<CachedStatement<'c>>,
    token: Option<CachedStatement<'c>>,
    date: Option<CachedStatement<'c>>,
    number: Option<CachedStatement<'c>>,
    quantity: Option<CachedStatement<'c>>,
    reference: Option<CachedStatement<'c>>,
    uri: Option<CachedStatement<'c>>,
    fulltext: Option<CachedStatement<'c>>,
}

fn stmt<'a, 'c>(slot: &'a mut Option<CachedStatement<'c>>, conn: &'c Connection, sql: &str) -> rusqlite::Result<&'a mut CachedStatement<'c>> {
    if slot.is_none() {
        *slot = Some(conn.prepare_cached(sql)?);
    }
    Ok(slot.as_mut().expect("just set"))
}

/// Replaces the search values of resource `rid` (none for a deletion); `existing` is false
/// for a resource written for the first time, which has nothing to replace.
pub fn write<'c>(
    conn: &'c Connection,
    dicts: &mut Dicts,
    s: &mut Stmts<'c>,
    rid: i64,
    rtype: &str,
    entries: &[IndexEntry],
    existing: bool,
) -> rusqlite::Result<()> {
    if existing {
        super::delete(conn, rid)?;
    }
    if entries.len() >= 1 << RID_SHIFT {
        return Err(rusqlite::Error::ToSqlConversionFailure(format!("{rtype}: {} search values are more than one resource may have", entries.len()).into()));
    }
    let base = rid << RID_SHIFT;
    let mut last: Option<(&str, i64)> = None;
    for (n, e) in entries.iter().enumerate() {
        if e.param == "_id" {
            // Searched through `resource_current` (see `filter::id_rids`).
            continue;
        }
        let pid = match last {
            Some((p, pid)) if p == e.param.as_str() => pid,
            _ => {
                let pid = dicts.pid(conn, rtype, &e.param)?;
                last = Some((e.param.as_str(), pid));
                pid
            }
        };
        let (row, g) = (base | n as i64, e.group as i64);
        match &e.value {
            IndexValue::String { norm, .. } if is_full_text(&e.param) => {
                stmt(&mut s.fulltext, conn, "INSERT INTO sp_fulltext (rowid, pid, norm) VALUES (?1, ?2, ?3)")?.execute(params![row, pid, norm])?
            }
            IndexValue::String { norm, exact } => stmt(&mut s.string, conn, "INSERT INTO sp_string (rowid, pid, grp, norm, exact) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![row, pid, g, norm, exact])?,
            IndexValue::Token { system, code, text } => {
                let sys = dicts.opt_value(conn, system.as_deref())?;
                let text = dicts.opt_value(conn, text.as_deref())?;
                stmt(&mut s.token, conn, "INSERT INTO sp_token (rowid, pid, grp, sys, code, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
                    .execute(params![row, pid, g, sys, code, text])?
            }
            IndexValue::Date { low, high } => stmt(&mut s.date, conn, "INSERT INTO sp_date (rowid, pid, grp, low, high) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![row, pid, g, low, high])?,
            IndexValue::Number { value, low, high } => {
                stmt(&mut s.number, conn, "INSERT INTO sp_number (rowid, pid, grp, value, low, high) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
                    .execute(params![row, pid, g, value, low, high])?
            }
            IndexValue::Quantity { value, low, high, system, code, unit } => {
                let sys = dicts.opt_value(conn, system.as_deref())?;
                stmt(&mut s.quantity, conn, "INSERT INTO sp_quantity (rowid, pid, grp, value, low, high, sys, code, unit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?
                    .execute(params![row, pid, g, value, low, high, sys, code, unit])?
            }
            IndexValue::Reference { target_type, target_id, url, identifier } => {
                let (id_system, id_value) = match identifier {
                    Some((s, v)) => (s.as_deref(), Some(v.as_str())),
                    None => (None, None),
                };
                stmt(
                    &mut s.reference,
                    conn,
                    "INSERT INTO sp_reference (rowid, pid, grp, target_type, target_id, url, id_system, id_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![row, pid, g, target_type, target_id, url, id_system, id_value])?
            }
            IndexValue::Uri(v) => {
                stmt(&mut s.uri, conn, "INSERT INTO sp_uri (rowid, pid, grp, value) VALUES (?1, ?2, ?3, ?4)")?.execute(params![row, pid, g, v])?
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{write, Dicts, Stmts};
    use crate::search::extract::{IndexEntry, IndexValue};

    #[test]
    fn rows_of_every_table_arrive_whatever_their_count() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(super::super::SCHEMA).unwrap();
        let token = |i: usize| IndexEntry {
            param: "code".into(),
            group: 0,
            value: IndexValue::Token { system: Some("http://loinc.org".into()), code: Some(format!("c{i}")), text: (i % 2 == 0).then(|| "shown".into()) },
        };
        let mut entries: Vec<IndexEntry> = (0..23).map(token).collect();
        entries.push(IndexEntry { param: "name".into(), group: 0, value: IndexValue::String { norm: "ann".into(), exact: "Ann".into() } });
        entries.push(IndexEntry { param: "_text".into(), group: 0, value: IndexValue::String { norm: "ann smith".into(), exact: "Ann Smith".into() } });
        entries.push(IndexEntry { param: "date".into(), group: 1, value: IndexValue::Date { low: -5, high: 7 } });
        entries.push(IndexEntry { param: "subject".into(), group: 0, value: IndexValue::Reference { target_type: Some("Patient".into()), target_id: Some("p1".into()), url: None, identifier: None } });
        let mut dicts = Dicts::default();
        write(&conn, &mut dicts, &mut Stmts::default(), 3, "Observation", &entries, false).unwrap();
        let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM sp_token WHERE rowid >> 24 = 3"), 23);
        assert_eq!(count("SELECT COUNT(DISTINCT code) FROM sp_token"), 23);
        assert_eq!(count("SELECT COUNT(*) FROM sp_token t JOIN sp_dict d ON d.id = t.text WHERE d.value = 'shown'"), 12);
        assert_eq!(count("SELECT COUNT(*) FROM sp_string WHERE norm = 'ann' AND exact = 'Ann' AND rowid = (3 << 24) + 23"), 1);
        assert_eq!(count("SELECT COUNT(*) FROM sp_fulltext WHERE norm = 'ann smith'"), 1);
        assert_eq!(count("SELECT COUNT(*) FROM sp_date WHERE low = -5 AND high = 7 AND grp = 1"), 1);
        assert_eq!(count("SELECT COUNT(*) FROM sp_reference WHERE target_type = 'Patient' AND target_id = 'p1' AND url IS NULL"), 1);
        // Replacing the values leaves only the new ones.
        write(&conn, &mut dicts, &mut Stmts::default(), 3, "Observation", &entries[..2], true).unwrap();
        assert_eq!(count("SELECT COUNT(*) FROM sp_token"), 2);
        assert_eq!(count("SELECT COUNT(*) FROM sp_string") + count("SELECT COUNT(*) FROM sp_date"), 0);
    }
}
