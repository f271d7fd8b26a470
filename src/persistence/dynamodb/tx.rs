//! Transactions on DynamoDB. A unit of work locks each resource (and identifier guard) it
//! reads or writes: the current item gets `lk = txid` and `lk_exp` by a conditional
//! update, so no other writer interleaves; writes are staged in memory. At the end:
//! - up to 100 actions: one `TransactWriteItems` writes version and current items, updates
//!   guards and releases locks, all or nothing;
//! - more: a transaction record `tx#<id>` (pending) is written, the version items are
//!   staged (tagged `txid`, invisible to readers), then the record is flipped to
//!   `committed` by one conditional write (the commit point), and the current items are
//!   written. Readers that meet a lock of a committed transaction read its staged version,
//!   so the commit is atomic for them.
//! Crash recovery: a lock past `lk_exp` may be taken over. The new owner looks at the old
//! transaction's record: committed, it rolls that resource forward (writes the staged
//! version as current); otherwise it marks the record `aborted` (so it can never commit)
//! and its staged items stay invisible.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update};
use bytes::Bytes;
use serde_json::Value;
use tokio::runtime::Handle;

use super::guard::{self, Criterion, GUARD};
use super::item::{self, get_n, get_s, n, s, Body, Item, CURRENT};
use super::{sdk_error, string_set, Inner};
use crate::error::{FhirError, Result};
use crate::fhir::meta;
use crate::persistence::{Blob, Expect, Method, StoredVersion, Tx, TxWork, WriteOp, WriteResult};
use crate::search::query::SearchQuery;

/// Actions one `TransactWriteItems` takes.
const MAX_ACTIONS: usize = 100;
/// Stay well under its 4 MB request limit.
const MAX_BYTES: usize = 3 * 1024 * 1024;

pub fn run(inner: Arc<Inner>, handle: Handle, tenant: &str, work: TxWork) -> Result<()> {
    let mut tx = DynamoTx::new(inner, handle, tenant);
    let outcome = work(&mut tx).and_then(|_| tx.commit());
    if outcome.is_err() {
        tx.release();
    }
    outcome
}

/// A locked item and what it held when locked.
struct Lock {
    /// The item before the lock (None: it did not exist; the lock made a placeholder).
    prior: Option<Item>,
}

struct Staged {
    version: StoredVersion,
    body: Option<Body>,
    /// The write needs no lock: a POST with a new id (the item must not exist).
    fresh: bool,
    guards_before: BTreeSet<String>,
    guards_after: BTreeSet<String>,
}

pub struct DynamoTx {
    inner: Arc<Inner>,
    handle: Handle,
    tenant: String,
    txid: String,
    micros: i64,
    /// Locked current items and guards, by partition key.
    locks: BTreeMap<String, Lock>,
    /// Writes by partition key (the last write of a resource wins), in first-write order.
    staged: BTreeMap<String, Staged>,
    order: Vec<String>,
    /// Blob keys of oversized bodies written by this transaction (removed on failure).
    blobs: Vec<String>,
}

fn now_secs() -> i64 {
    meta::now_micros() / 1_000_000
}

fn identifier_body(v: &StoredVersion) -> Option<Value> {
    v.body.as_ref().and_then(|b| serde_json::from_slice(b).ok())
}

impl DynamoTx {
    fn new(inner: Arc<Inner>, handle: Handle, tenant: &str) -> DynamoTx {
        DynamoTx {
            inner,
            handle,
            tenant: tenant.to_string(),
            txid: uuid::Uuid::new_v4().simple().to_string(),
            micros: meta::now_micros(),
            locks: BTreeMap::new(),
            staged: BTreeMap::new(),
            order: Vec::new(),
            blobs: Vec::new(),
        }
    }

    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }

    /// Locks `pk`/`sk` (waiting for another live transaction's lock), returning the item
    /// as it was. An expired lock is taken over after recovering its transaction.
    fn lock(&mut self, pk: &str, sk: &str) -> Result<Option<Item>> {
        if let Some(l) = self.locks.get(pk) {
            return Ok(l.prior.clone());
        }
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let inner = self.inner.clone();
            let attempt = self.block(acquire(&inner, &self.txid, pk, sk))?;
            match attempt {
                Some(mut prior) => {
                    if let Some(old) = prior.as_ref().and_then(|p| get_s(p, "lk")).map(String::from) {
                        if old != self.txid {
                            prior = self.recover(pk, sk, &old, prior)?;
                        }
                    }
                    if let Some(p) = prior.as_mut() {
                        p.remove("lk");
                        p.remove("lk_exp");
                    }
                    self.locks.insert(pk.to_string(), Lock { prior: prior.clone() });
                    return Ok(prior);
                }
                None => {
                    // Holding other locks while waiting risks a deadlock with a transaction
                    // that locks in another order: then give up sooner (409, retryable).
                    let limit = if self.locks.is_empty() { self.inner.lock_wait } else { self.inner.lock_wait.min(Duration::from_secs(3)) };
                    if started.elapsed() > limit {
                        return Err(FhirError::Conflict(format!("{} is locked by a concurrent transaction; retry", describe(pk))));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
            }
        }
    }

    /// Locks many items at once, all or none: attempts run in parallel; when another
    /// transaction holds any of them, the ones just taken are released and the whole set is
    /// tried again after a pause (never holding some while waiting for others: no deadlock
    /// between two such sets).
    fn lock_many(&mut self, keys: Vec<(String, &'static str)>) -> Result<()> {
        let mut todo: Vec<(String, &'static str)> = keys.into_iter().filter(|(pk, _)| !self.locks.contains_key(pk)).collect();
        todo.sort();
        todo.dedup();
        if todo.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            let inner = self.inner.clone();
            let txid = self.txid.clone();
            let attempts = self.block(async {
                let jobs: Vec<_> = todo.iter().map(|(pk, sk)| acquire(&inner, &txid, pk, sk)).collect();
                collect_limited(jobs, 16).await
            });
            let mut taken = Vec::new();
            let mut busy = false;
            let mut failure = None;
            for ((pk, sk), outcome) in todo.iter().zip(attempts) {
                match outcome {
                    Ok(Some(prior)) => taken.push((pk.clone(), *sk, prior)),
                    Ok(None) => busy = true,
                    Err(e) => failure = Some(e),
                }
            }
            if !busy && failure.is_none() {
                for (pk, sk, mut prior) in taken {
                    if let Some(old) = prior.as_ref().and_then(|p| get_s(p, "lk")).map(String::from) {
                        if old != self.txid {
                            prior = self.recover(&pk, sk, &old, prior)?;
                        }
                    }
                    if let Some(p) = prior.as_mut() {
                        p.remove("lk");
                        p.remove("lk_exp");
                    }
                    self.locks.insert(pk, Lock { prior });
                }
                return Ok(());
            }
            // Give back what this attempt took. A taken-over expired lock stays ours (its old
            // owner is recovered now): releasing it could lose a committed write.
            let mut release = Vec::new();
            for (pk, sk, mut prior) in taken {
                match prior.as_ref().and_then(|p| get_s(p, "lk")).map(String::from) {
                    Some(old) if old != self.txid => {
                        prior = self.recover(&pk, sk, &old, prior)?;
                        if let Some(p) = prior.as_mut() {
                            p.remove("lk");
                            p.remove("lk_exp");
                        }
                        self.locks.insert(pk.clone(), Lock { prior });
                        todo.retain(|(k, _)| *k != pk);
                    }
                    _ => release.push((pk, sk, prior.is_none())),
                }
            }
            let inner = self.inner.clone();
            let releases: Vec<_> = release.iter().map(|(pk, sk, placeholder)| unlock(&inner, &self.txid, pk, sk, *placeholder)).collect();
            for r in self.block(collect_limited(releases, 16)) {
                r?;
            }
            if let Some(e) = failure {
                return Err(e);
            }
            if started.elapsed() > self.inner.lock_wait {
                return Err(FhirError::Conflict("an identifier or resource is locked by a concurrent transaction; retry".into()));
            }
            // Jitter keeps two competing transactions from retrying in lockstep.
            let jitter = Duration::from_millis(uuid::Uuid::new_v4().as_u128() as u64 % 20);
            std::thread::sleep(pause + jitter);
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// We took over the expired lock of transaction `old` on `pk`. Committed: its staged
    /// version becomes the current item. Otherwise: it is aborted and never commits.
    fn recover(&mut self, pk: &str, sk: &str, old: &str, prior: Option<Item>) -> Result<Option<Item>> {
        let record = format!("tx#{old}");
        let aborted = self.block(
            self.inner
                .client
                .update_item()
                .table_name(&self.inner.table)
                .key("pk", s(&record))
                .key("sk", s("tx"))
                .update_expression("SET #st = :a, expires_at = :e")
                .condition_expression("attribute_not_exists(#st) OR #st = :p")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":a", s("aborted"))
                .expression_attribute_values(":p", s("pending"))
                .expression_attribute_values(":e", n(now_secs() + 86_400))
                .send(),
        );
        match aborted {
            Ok(_) => return Ok(prior),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(sdk_error("recover", e)),
        }
        let status = self.block(self.inner.tx_status(old))?;
        if sk != CURRENT || !matches!(status.as_str(), "committed" | "done") {
            return Ok(prior);
        }
        let next = prior.as_ref().and_then(|p| get_n(p, "version")).unwrap_or(0) as u64 + 1;
        let staged = self.block(self.inner.get(pk, &item::version_sk(next)))?;
        match staged {
            Some(st) if get_s(&st, "txid") == Some(old) => {
                let mut cur: Item = st.into_iter().filter(|(k, _)| !matches!(k.as_str(), "tenant" | "tenant_type" | "last_updated" | "txid")).collect();
                cur.insert("sk".into(), s(CURRENT));
                tracing::warn!(txid = old, "rolled a committed transaction's write forward");
                Ok(Some(cur))
            }
            _ => Ok(prior),
        }
    }

    /// The version this transaction sees for a resource (its own write, else the stored one).
    fn seen(&mut self, rtype: &str, id: &str, lock: bool) -> Result<Option<StoredVersion>> {
        let pk = item::pk(&self.tenant, rtype, id);
        if let Some(st) = self.staged.get(&pk) {
            return Ok(Some(st.version.clone()));
        }
        let prior = if lock { self.lock(&pk, CURRENT)? } else { self.block(self.inner.get(&pk, CURRENT))? };
        match prior {
            Some(it) => {
                let inner = self.inner.clone();
                self.block(inner.materialize(&it))
            }
            None => Ok(None),
        }
    }

    fn guard_ids(&mut self, key: &str) -> Result<BTreeSet<String>> {
        let prior = self.lock(key, GUARD)?;
        let mut ids: BTreeSet<String> = prior
            .as_ref()
            .and_then(|p| p.get("ids"))
            .and_then(|v| v.as_ss().ok())
            .map(|v| v.iter().cloned().collect())
            .unwrap_or_default();
        for (pk, st) in &self.staged {
            let id = item::split_pk(pk).map(|(_, _, id)| id.to_string()).unwrap_or_default();
            if st.guards_before.contains(key) && !st.guards_after.contains(key) {
                ids.remove(&id);
            }
            if st.guards_after.contains(key) {
                ids.insert(id);
            }
        }
        Ok(ids)
    }

    /// Releases every lock after a failure; placeholders made by our locks disappear.
    pub fn release(&mut self) {
        let locks = std::mem::take(&mut self.locks);
        for (pk, lock) in locks {
            let sk = lock_sk(&pk);
            let _ = self.block(unlock(&self.inner, &self.txid, &pk, sk, lock.prior.is_none()));
        }
        for key in std::mem::take(&mut self.blobs) {
            let _ = self.block(self.inner.blobs.delete(&key));
        }
    }

    fn encode_body(&mut self, v: &StoredVersion) -> Result<Option<Body>> {
        let Some(raw) = &v.body else { return Ok(None) };
        if raw.len() <= item::COMPRESS_ABOVE {
            return Ok(Some(Body::Inline(raw.to_vec())));
        }
        let z = item::gzip(raw)?;
        if z.len() <= item::INLINE_LIMIT {
            return Ok(Some(Body::Gzip(z)));
        }
        let key = item::body_blob_key(&self.tenant, &v.resource_type, &v.id, v.version);
        self.block(self.inner.blobs.put(&key, Blob { content_type: "application/gzip".into(), data: Bytes::from(z) }))?;
        self.blobs.push(key.clone());
        Ok(Some(Body::Blob(key)))
    }

    /// Writes everything staged and releases the locks, atomically.
    fn commit(&mut self) -> Result<()> {
        // The identifier guards this transaction changes are locked before anything is
        // written, so a concurrent conditional create cannot decide on a stale guard.
        let guard_keys: Vec<(String, &'static str)> = self.guard_changes().into_keys().map(|k| (k, GUARD)).collect();
        self.lock_many(guard_keys)?;
        let mut actions = Vec::new();
        let mut bytes = 0usize;
        for pk in self.order.clone() {
            let Some(st) = self.staged.get(&pk) else { continue };
            let v = item::version_item(&self.tenant, &st.version, &st.body, None);
            let c = item::current_item(&self.tenant, &st.version, &st.body);
            bytes += approx_size(&v) + approx_size(&c);
            actions.push(self.put_version(v)?);
            actions.push(self.put_current(c, st.fresh)?);
        }
        let guard_changes = self.guard_changes();
        for (key, (add, del)) in &guard_changes {
            actions.push(self.guard_update(key, add, del)?);
        }
        for (pk, lock) in &self.locks {
            let written = self.staged.contains_key(pk) || guard_changes.contains_key(pk);
            if !written {
                let sk = lock_sk(pk);
                actions.push(self.unlock_action(pk, sk, lock.prior.is_none())?);
            }
        }
        if actions.is_empty() {
            return Ok(());
        }
        if actions.len() <= MAX_ACTIONS && bytes <= MAX_BYTES {
            let res = self.block(self.inner.client.transact_write_items().set_transact_items(Some(actions)).send());
            return match res {
                Ok(_) => {
                    self.locks.clear();
                    self.inner.committed.fetch_add(self.staged.len() as u64, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                }
                Err(e) => Err(match e.as_service_error() {
                    Some(se) if se.is_transaction_canceled_exception() => FhirError::Conflict(format!(
                        "the transaction was cancelled by a concurrent change; retry ({})",
                        aws_sdk_dynamodb::error::DisplayErrorContext(&e)
                    )),
                    _ => sdk_error("transaction", e),
                }),
            };
        }
        self.commit_large(guard_changes)
    }

    /// Net identifier-guard changes: guard key -> (ids added, ids removed).
    fn guard_changes(&self) -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
        let mut out: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        for (pk, st) in &self.staged {
            let id = item::split_pk(pk).map(|(_, _, id)| id.to_string()).unwrap_or_default();
            for k in st.guards_after.difference(&st.guards_before) {
                out.entry(k.clone()).or_default().0.insert(id.clone());
            }
            for k in st.guards_before.difference(&st.guards_after) {
                out.entry(k.clone()).or_default().1.insert(id.clone());
            }
        }
        out
    }

    fn put_version(&self, v: Item) -> Result<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.inner.table)
            .set_item(Some(v))
            .condition_expression("attribute_not_exists(pk) OR attribute_exists(txid)")
            .build()
            .map_err(|e| sdk_error("build", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn put_current(&self, c: Item, fresh: bool) -> Result<TransactWriteItem> {
        let mut put = Put::builder().table_name(&self.inner.table).set_item(Some(c));
        put = if fresh {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("lk = :tx").expression_attribute_values(":tx", s(&self.txid))
        };
        Ok(TransactWriteItem::builder().put(put.build().map_err(|e| sdk_error("build", e))?).build())
    }

    fn guard_update(&self, key: &str, add: &BTreeSet<String>, del: &BTreeSet<String>) -> Result<TransactWriteItem> {
        let mut expr = String::from("SET n = if_not_exists(n, :zero) + :one REMOVE lk, lk_exp");
        let mut u = Update::builder()
            .table_name(&self.inner.table)
            .key("pk", s(key))
            .key("sk", s(GUARD))
            .condition_expression("attribute_not_exists(lk) OR lk = :tx OR lk_exp < :now")
            .expression_attribute_values(":tx", s(&self.txid))
            .expression_attribute_values(":now", n(now_secs()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1));
        // One action per item: ADD and DELETE of the same set cannot share an expression,
        // so a guard that gains and loses ids at once keeps the gains (the loss is rare:
        // two resources swapping one identifier inside one transaction).
        if !add.is_empty() {
            expr.push_str(" ADD ids :add");
            u = u.expression_attribute_values(":add", string_set(add.iter().cloned()));
        } else if !del.is_empty() {
            expr.push_str(" DELETE ids :del");
            u = u.expression_attribute_values(":del", string_set(del.iter().cloned()));
        }
        let u = u.update_expression(expr).build().map_err(|e| sdk_error("build", e))?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    fn unlock_action(&self, pk: &str, sk: &str, placeholder: bool) -> Result<TransactWriteItem> {
        if placeholder {
            let d = Delete::builder()
                .table_name(&self.inner.table)
                .key("pk", s(pk))
                .key("sk", s(sk))
                .condition_expression("lk = :tx")
                .expression_attribute_values(":tx", s(&self.txid))
                .build()
                .map_err(|e| sdk_error("build", e))?;
            return Ok(TransactWriteItem::builder().delete(d).build());
        }
        let u = Update::builder()
            .table_name(&self.inner.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("REMOVE lk, lk_exp")
            .condition_expression("lk = :tx")
            .expression_attribute_values(":tx", s(&self.txid))
            .build()
            .map_err(|e| sdk_error("build", e))?;
        Ok(TransactWriteItem::builder().update(u).build())
    }

    /// More than one `TransactWriteItems`: stage, commit point, apply (see the module doc).
    fn commit_large(&mut self, guard_changes: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>) -> Result<()> {
        let record = format!("tx#{}", self.txid);
        let inner = self.inner.clone();
        let table = inner.table.clone();
        // 1. The record, pending: from here a crash leaves an abortable transaction.
        self.block(
            inner
                .client
                .put_item()
                .table_name(&table)
                .item("pk", s(&record))
                .item("sk", s("tx"))
                .item("status", s("pending"))
                .item("tenant", s(&self.tenant))
                .item("started", n(now_secs()))
                .item("writes", n(self.staged.len()))
                .send(),
        )
        .map_err(|e| sdk_error("transaction record", e))?;
        // 2. Stage the versions, tagged with the transaction (invisible until it commits).
        let mut versions = Vec::new();
        for pk in &self.order {
            if let Some(st) = self.staged.get(pk) {
                versions.push(item::version_item(&self.tenant, &st.version, &st.body, Some(&self.txid)));
            }
        }
        self.block(batch_put(&inner, versions))?;
        // Fresh resources get a locked placeholder, so a crash after the commit point leaves
        // a lock that names this transaction (and its record says how to recover).
        let fresh: Vec<String> = self.order.iter().filter(|pk| self.staged.get(*pk).is_some_and(|s| s.fresh)).cloned().collect();
        self.lock_many(fresh.into_iter().map(|pk| (pk, CURRENT)).collect())?;
        // 3. The commit point.
        self.block(
            inner
                .client
                .update_item()
                .table_name(&table)
                .key("pk", s(&record))
                .key("sk", s("tx"))
                .update_expression("SET #st = :c")
                .condition_expression("#st = :p")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":c", s("committed"))
                .expression_attribute_values(":p", s("pending"))
                .send(),
        )
        .map_err(|e| match e.as_service_error() {
            Some(se) if se.is_conditional_check_failed_exception() => FhirError::Conflict("the transaction took too long and was aborted by a concurrent writer; retry".into()),
            _ => sdk_error("commit", e),
        })?;
        // 4. Apply: current items (releasing their locks), guards, read-only locks.
        let mut currents = Vec::new();
        for pk in &self.order {
            if let Some(st) = self.staged.get(pk) {
                currents.push(item::current_item(&self.tenant, &st.version, &st.body));
            }
        }
        let txid = self.txid.clone();
        self.block(async {
            let mut jobs = Vec::new();
            for c in currents {
                jobs.push(put_locked_current(&inner, c, &txid));
            }
            run_limited(jobs, 16).await
        })?;
        let mut rest = Vec::new();
        for (key, (add, del)) in &guard_changes {
            rest.push(self.guard_update(key, add, del)?);
        }
        for (pk, lock) in &self.locks {
            if !self.staged.contains_key(pk) && !guard_changes.contains_key(pk) {
                let sk = lock_sk(pk);
                rest.push(self.unlock_action(pk, sk, lock.prior.is_none())?);
            }
        }
        for chunk in rest.chunks(MAX_ACTIONS) {
            self.block(inner.client.transact_write_items().set_transact_items(Some(chunk.to_vec())).send()).map_err(|e| sdk_error("apply", e))?;
        }
        self.locks.clear();
        self.inner.committed.fetch_add(self.staged.len() as u64, std::sync::atomic::Ordering::SeqCst);
        // 5. Done: the record may expire.
        self.block(
            inner
                .client
                .update_item()
                .table_name(&table)
                .key("pk", s(&record))
                .key("sk", s("tx"))
                .update_expression("SET #st = :d, expires_at = :e")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":d", s("done"))
                .expression_attribute_values(":e", n(now_secs() + 7 * 86_400))
                .send(),
        )
        .map_err(|e| sdk_error("finish", e))?;
        Ok(())
    }
}

/// Releases a lock this transaction holds; a placeholder made by the lock disappears.
async fn unlock(inner: &Inner, txid: &str, pk: &str, sk: &str, placeholder: bool) -> Result<()> {
    let c = &inner.client;
    if placeholder {
        c.delete_item()
            .table_name(&inner.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("lk = :tx")
            .expression_attribute_values(":tx", s(txid))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("unlock", e))
    } else {
        c.update_item()
            .table_name(&inner.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("REMOVE lk, lk_exp")
            .condition_expression("lk = :tx")
            .expression_attribute_values(":tx", s(txid))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error("unlock", e))
    }
}

/// One attempt at a lock: `Some(prior item)` when taken, `None` when another live
/// transaction holds it.
async fn acquire(inner: &Inner, txid: &str, pk: &str, sk: &str) -> Result<Option<Option<Item>>> {
    let exp = now_secs() + inner.lock_ttl.as_secs() as i64;
    let res = inner
        .client
        .update_item()
        .table_name(&inner.table)
        .key("pk", s(pk))
        .key("sk", s(sk))
        .update_expression("SET lk = :tx, lk_exp = :exp")
        .condition_expression("attribute_not_exists(lk) OR lk = :tx OR lk_exp < :now")
        .expression_attribute_values(":tx", s(txid))
        .expression_attribute_values(":exp", n(exp))
        .expression_attribute_values(":now", n(now_secs()))
        .return_values(ReturnValue::AllOld)
        .send()
        .await;
    match res {
        Ok(out) => Ok(Some(out.attributes().cloned().filter(|a| !a.is_empty()))),
        Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => Ok(None),
        Err(e) => Err(sdk_error("lock", e)),
    }
}

async fn collect_limited<F: std::future::Future>(jobs: Vec<F>, width: usize) -> Vec<F::Output> {
    let mut out = Vec::with_capacity(jobs.len());
    let mut jobs = jobs.into_iter();
    loop {
        let batch: Vec<F> = jobs.by_ref().take(width).collect();
        if batch.is_empty() {
            return out;
        }
        out.extend(futures_join(batch).await);
    }
}

async fn put_locked_current(inner: &Inner, c: Item, txid: &str) -> Result<()> {
    inner
        .client
        .put_item()
        .table_name(&inner.table)
        .set_item(Some(c))
        .condition_expression("lk = :tx")
        .expression_attribute_values(":tx", s(txid))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_error("apply", e))
}

async fn run_limited<F: std::future::Future<Output = Result<()>>>(jobs: Vec<F>, width: usize) -> Result<()> {
    let mut jobs = jobs.into_iter();
    loop {
        let batch: Vec<F> = jobs.by_ref().take(width).collect();
        if batch.is_empty() {
            return Ok(());
        }
        for r in futures_join(batch).await {
            r?;
        }
    }
}

async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::with_capacity(fs.len());
    for f in fs {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    // Poll all together: a small join without pulling in a futures crate.
    let mut pending: Vec<Option<std::pin::Pin<Box<F>>>> = set.into_iter().map(Some).collect();
    let mut results: Vec<Option<F::Output>> = (0..pending.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (i, slot) in pending.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        results[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    for r in results.into_iter().flatten() {
        out.push(r);
    }
    out
}

/// `BatchWriteItem` in chunks of 25, retrying unprocessed items.
async fn batch_put(inner: &Inner, items: Vec<Item>) -> Result<()> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let mut jobs = Vec::new();
    for chunk in items.chunks(25) {
        let mut reqs = Vec::new();
        for it in chunk {
            reqs.push(WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(it.clone())).build().map_err(|e| sdk_error("build", e))?).build());
        }
        jobs.push(async move {
            let mut pending = HashMap::from([(inner.table.clone(), reqs)]);
            let mut pause = Duration::from_millis(20);
            for _ in 0..10 {
                let out = inner.client.batch_write_item().set_request_items(Some(pending)).send().await.map_err(|e| sdk_error("stage", e))?;
                match out.unprocessed_items() {
                    Some(rest) if !rest.is_empty() && rest.values().any(|v| !v.is_empty()) => {
                        pending = rest.clone();
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                    _ => return Ok(()),
                }
            }
            Err(FhirError::Internal("DynamoDB kept items unprocessed; the transaction was not committed".into()))
        });
    }
    run_limited(jobs, 8).await
}

fn approx_size(item: &Item) -> usize {
    item.iter()
        .map(|(k, v)| {
            k.len()
                + match v {
                    AttributeValue::B(b) => b.as_ref().len(),
                    AttributeValue::S(s) => s.len(),
                    _ => 16,
                }
        })
        .sum()
}

/// The sort key a lock on `pk` sits on: identifier guards or resources' current items.
fn lock_sk(pk: &str) -> &'static str {
    if pk.contains("#ident#") {
        GUARD
    } else {
        CURRENT
    }
}

fn describe(pk: &str) -> String {
    match item::split_pk(pk) {
        Some((_, t, id)) if !pk.contains("#ident#") => format!("{t}/{id}"),
        _ => "an identifier".into(),
    }
}

impl Tx for DynamoTx {
    fn read(&mut self, resource_type: &str, id: &str) -> Result<Option<StoredVersion>> {
        self.seen(resource_type, id, true)
    }

    fn search_ids(&mut self, query: &SearchQuery, limit: usize) -> Result<Vec<(String, String)>> {
        let (rtype, criteria) = guard::criteria(&self.tenant, query)?;
        let mut result: Option<BTreeSet<String>> = None;
        for c in criteria {
            let mut ids = BTreeSet::new();
            match c {
                Criterion::Identifier(keys) => {
                    for k in keys {
                        ids.extend(self.guard_ids(&k)?);
                    }
                }
                Criterion::Id(list) => {
                    for id in list {
                        if crate::interactions::is_valid_id(&id) && self.seen(&rtype, &id, true)?.is_some_and(|v| !v.is_deleted()) {
                            ids.insert(id);
                        }
                    }
                }
            }
            result = Some(match result {
                None => ids,
                Some(prev) => prev.intersection(&ids).cloned().collect(),
            });
        }
        Ok(result.unwrap_or_default().into_iter().take(limit).map(|id| (rtype.clone(), id)).collect())
    }

    fn write(&mut self, op: WriteOp) -> Result<WriteResult> {
        let pk = item::pk(&self.tenant, &op.resource_type, &op.id);
        let fresh = op.method == Method::Post && op.expect == Expect::Absent && !self.staged.contains_key(&pk);
        let current = if fresh { None } else { self.seen(&op.resource_type, &op.id, true)? };
        let live = current.as_ref().is_some_and(|v| !v.is_deleted());
        let what = format!("{}/{}", op.resource_type, op.id);
        match (op.expect, &current) {
            (Expect::Any, _) => {}
            (Expect::Absent, _) if !live => {}
            (Expect::Absent, _) => return Err(FhirError::Conflict(format!("{what} already exists"))),
            (Expect::Version(v), Some(cur)) if cur.version == v => {}
            (Expect::Version(v), Some(cur)) => {
                return Err(FhirError::PreconditionFailed(format!("{what}: version {v} expected but the current version is {}", cur.version)))
            }
            (Expect::Version(v), None) => return Err(FhirError::PreconditionFailed(format!("{what}: version {v} expected but the resource does not exist"))),
        }
        if op.resource.is_none() && !live {
            return Ok(WriteResult { version: None, created: false });
        }
        let (version, guards_before) = match self.staged.get(&pk) {
            // A second write of the same resource in this transaction replaces the first.
            Some(st) => (st.version.version, st.guards_before.clone()),
            None => (
                current.as_ref().map(|v| v.version).unwrap_or(0) + 1,
                guard::keys(&self.tenant, &op.resource_type, current.as_ref().and_then(identifier_body).as_ref()),
            ),
        };
        let created = !live && op.resource.is_some();
        // Taken after the lock: later than the write we waited for, so never backwards.
        self.micros = self.micros.max(meta::now_micros()).max(current.as_ref().map(|v| v.last_updated + 1).unwrap_or(0));
        let body = match op.resource {
            Some(mut resource) => {
                meta::stamp(&mut resource, &op.id, version, self.micros);
                Some(resource)
            }
            None => None,
        };
        let guards_after = guard::keys(&self.tenant, &op.resource_type, body.as_ref());
        let bytes = match &body {
            Some(b) => Some(Bytes::from(serde_json::to_vec(b).map_err(|e| FhirError::Internal(e.to_string()))?)),
            None => None,
        };
        let stored = StoredVersion { resource_type: op.resource_type, id: op.id, version, last_updated: self.micros, method: op.method, created, body: bytes };
        let encoded = self.encode_body(&stored)?;
        if !self.staged.contains_key(&pk) {
            self.order.push(pk.clone());
        }
        let was_fresh = self.staged.get(&pk).map(|s| s.fresh).unwrap_or(fresh);
        self.staged.insert(pk, Staged { version: stored.clone(), body: encoded, fresh: was_fresh, guards_before, guards_after });
        Ok(WriteResult { version: Some(stored), created })
    }
}
