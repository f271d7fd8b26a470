//! The caller's access, asked by the service layer about what it is about to execute: every
//! write (as it will be stored, against what is stored now) and every search a write makes
//! to resolve conditional criteria. The policy (`crate::auth`) implements it; a request
//! without authentication has no gate.
use std::sync::Arc;

use super::Fhir;
use crate::error::Result;
use crate::persistence::{run_tx, Expect, Method, StoredVersion, Tx, WriteOp, WriteResult};
use crate::search::query::SearchQuery;

pub trait Gate: Send + Sync {
    /// May `op` be applied when `current` (a live version, or `None`) is what is stored?
    fn write(&self, op: &WriteOp, current: Option<&StoredVersion>) -> Result<()>;
    /// May a write look for resources with these criteria (conditional create, update,
    /// patch, delete and conditional references)? Its result would show what matched.
    fn criteria(&self, query: &SearchQuery) -> Result<()>;
    /// A resource a write looked for is absent or deleted: may the caller learn that? (If
    /// not, the answer must look like any resource out of reach.)
    fn absent(&self, resource_type: &str, id: &str) -> Result<()>;
}

pub type GateRef = Option<Arc<dyn Gate>>;

/// A transaction whose writes and criteria searches pass the gate first.
pub struct GatedTx<'a> {
    pub inner: &'a mut dyn Tx,
    pub gate: &'a dyn Gate,
}

impl GatedTx<'_> {
    fn check(&mut self, op: &WriteOp) -> Result<()> {
        // A create has a new server-assigned id and expects nothing there (the store refuses
        // it otherwise): no read, which a staged store would also have to guard.
        let current = match (op.method, op.expect) {
            (Method::Post, Expect::Absent) => None,
            _ => self.inner.read(&op.resource_type, &op.id)?.filter(|v| !v.is_deleted()),
        };
        self.gate.write(op, current.as_ref())
    }
}

impl Tx for GatedTx<'_> {
    fn read(&mut self, resource_type: &str, id: &str) -> Result<Option<StoredVersion>> {
        let v = self.inner.read(resource_type, id)?;
        if v.as_ref().is_none_or(StoredVersion::is_deleted) {
            self.gate.absent(resource_type, id)?;
        }
        Ok(v)
    }

    fn search_ids(&mut self, query: &SearchQuery, limit: usize) -> Result<Vec<(String, String)>> {
        self.gate.criteria(query)?;
        self.inner.search_ids(query, limit)
    }

    fn write(&mut self, op: WriteOp) -> Result<WriteResult> {
        self.check(&op)?;
        self.inner.write(op)
    }

    fn may_write(&mut self, op: &WriteOp) -> Result<()> {
        self.check(op)
    }

    fn write_many(&mut self, ops: Vec<WriteOp>) -> Result<Vec<Result<WriteResult>>> {
        let mut allowed = Vec::with_capacity(ops.len());
        for op in &ops {
            allowed.push(self.check(op));
        }
        if allowed.iter().all(Result::is_ok) {
            return self.inner.write_many(ops);
        }
        // Only the allowed ones are written; the others carry their refusal.
        let mut out = Vec::with_capacity(ops.len());
        for (op, ok) in ops.into_iter().zip(allowed) {
            out.push(match ok {
                Ok(()) => self.inner.write(op),
                Err(e) => Err(e),
            });
        }
        Ok(out)
    }
}

/// Runs `work` in one store transaction, through the gate when there is one.
pub async fn run<T, F>(fhir: &Fhir, tenant: &str, gate: &GateRef, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
{
    let gate = gate.clone();
    run_tx(fhir.store.as_ref(), tenant, move |tx| match &gate {
        None => work(tx),
        Some(g) => work(&mut GatedTx { inner: tx, gate: g.as_ref() }),
    })
    .await
}

/// Applies single writes: straight to the store without a gate, else in a gated transaction.
pub async fn commit(fhir: &Fhir, tenant: &str, gate: &GateRef, ops: Vec<WriteOp>) -> Result<Vec<WriteResult>> {
    if gate.is_none() {
        return fhir.store.commit(tenant, ops).await;
    }
    run(fhir, tenant, gate, move |tx| {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            out.push(tx.write(op)?);
        }
        Ok(out)
    })
    .await
}
