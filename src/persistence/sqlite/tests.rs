//! The embedded store's own guarantees: an index of an earlier layout is rebuilt on open, and
//! dictionary ids of a rolled-back transaction are never reused for another string.
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::{json, Value};

use super::SqliteStore;
use crate::error::FhirError;
use crate::fhir::definitions::Definitions;
use crate::persistence::{Expect, Method, ResourceStore, WriteOp};
use crate::search::query;
use crate::search::schema::{Schema, SchemaCell};
use crate::search::SearchIndex;
use crate::TENANT;

fn schema() -> Arc<SchemaCell> {
    Arc::new(SchemaCell::new(Schema::build(Definitions::r4(), &[]).expect("schema")))
}

fn put(resource: Value) -> WriteOp {
    let rtype = resource["resourceType"].as_str().expect("type").to_string();
    let id = resource["id"].as_str().expect("id").to_string();
    WriteOp { resource_type: rtype, id, expect: Expect::Any, method: Method::Put, resource: Some(resource) }
}

async fn ids(store: &SqliteStore, cell: &SchemaCell, rtype: &str, param: &str, value: &str) -> Vec<String> {
    let registry = cell.get().registry.clone();
    let q = query::parse(&registry, vec![rtype.into()], &[(param.into(), value.into())], true).expect("query");
    let page = store.search(TENANT, q, 100).await.expect("search");
    let mut ids: Vec<String> = page.matches.into_iter().map(|v| v.id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn an_index_of_an_earlier_layout_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().expect("dir");
    let cell = schema();
    {
        let store = SqliteStore::open(dir.path(), "normal", Some(cell.clone())).expect("open");
        let p = json!({"resourceType": "Patient", "id": "p1", "name": [{"family": "Smith"}], "gender": "female"});
        store.commit(TENANT, vec![put(p)]).await.expect("write");
        store.close().await.expect("close");
    }
    // The first layout: value tables with `rid` and `rtype` columns, no user_version.
    let conn = Connection::open(dir.path().join("hearth.db")).expect("db");
    conn.execute_batch(
        "DROP TABLE sp_token; DROP TABLE sp_string; DROP TABLE sp_param; DROP TABLE sp_dict;
         CREATE TABLE sp_token (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL, system TEXT, code TEXT, text TEXT);
         CREATE TABLE sp_string (rid INTEGER NOT NULL, rtype TEXT NOT NULL, param TEXT NOT NULL, grp INTEGER NOT NULL, norm TEXT NOT NULL, exact TEXT NOT NULL);
         PRAGMA user_version = 0;",
    )
    .expect("old layout");
    drop(conn);
    let store = SqliteStore::open(dir.path(), "normal", Some(cell.clone())).expect("reopen");
    assert_eq!(ids(&store, &cell, "Patient", "name", "smith").await, vec!["p1"]);
    assert_eq!(ids(&store, &cell, "Patient", "gender", "female").await, vec!["p1"]);
    let conn = Connection::open(dir.path().join("hearth.db")).expect("db");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    assert_eq!(version, crate::search::sqlite::INDEX_VERSION);
}

#[tokio::test]
async fn dictionary_ids_of_a_rolled_back_transaction_are_forgotten() {
    let dir = tempfile::tempdir().expect("dir");
    let cell = schema();
    let store = SqliteStore::open(dir.path(), "normal", Some(cell.clone())).expect("open");
    let obs = |id: &str, system: &str| {
        json!({"resourceType": "Observation", "id": id, "status": "final", "code": {"coding": [{"system": system, "code": "c"}]}})
    };
    // Writes a new system, then fails: everything it did is undone.
    let first = obs("o1", "http://a.example");
    let r = store
        .transaction(
            TENANT,
            Box::new(move |tx| {
                tx.write(put(first))?;
                Err(FhirError::BadRequest("undo".into()))
            }),
        )
        .await;
    assert!(r.is_err());
    store.commit(TENANT, vec![put(obs("o2", "http://b.example"))]).await.expect("o2");
    store.commit(TENANT, vec![put(obs("o3", "http://a.example"))]).await.expect("o3");
    assert_eq!(ids(&store, &cell, "Observation", "code", "http://a.example|c").await, vec!["o3"]);
    assert_eq!(ids(&store, &cell, "Observation", "code", "http://b.example|c").await, vec!["o2"]);
}

#[tokio::test]
async fn many_writes_in_one_call_match_one_by_one_writes() {
    let dir = tempfile::tempdir().expect("dir");
    let cell = schema();
    let store = SqliteStore::open(dir.path(), "normal", Some(cell.clone())).expect("open");
    let ops: Vec<WriteOp> = (0..300)
        .map(|i| put(json!({"resourceType": "Patient", "id": format!("p{i:03}"), "name": [{"family": format!("F{}", i % 7)}], "birthDate": "1980"})))
        .collect();
    let results = store.commit(TENANT, ops).await.expect("commit");
    assert_eq!(results.len(), 300);
    for (i, r) in results.iter().enumerate() {
        let v = r.version.as_ref().expect("version");
        assert_eq!(v.id, format!("p{i:03}"));
        assert!(r.created);
    }
    let got = ids(&store, &cell, "Patient", "name", "f3").await;
    let want: Vec<String> = (0..300).filter(|i| i % 7 == 3).map(|i| format!("p{i:03}")).collect();
    assert_eq!(got, want);
    // A create expecting absence of an existing resource fails alone (in a unit of work).
    let again = put(json!({"resourceType": "Patient", "id": "p001", "gender": "male"}));
    let fresh = put(json!({"resourceType": "Patient", "id": "q1", "gender": "male"}));
    let out = crate::persistence::run_tx(&store, TENANT, move |tx| {
        let mut again = again;
        again.expect = Expect::Absent;
        Ok(tx.write_many(vec![again, fresh])?.into_iter().map(|r| r.is_ok()).collect::<Vec<bool>>())
    })
    .await
    .expect("tx");
    assert_eq!(out, vec![false, true]);
}
