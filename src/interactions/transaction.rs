//! `batch` and `transaction` Bundles (https://hl7.org/fhir/R4/http.html#transaction).
//!
//! Entries are parsed and validated first (no store work); then all writes run in ONE store
//! transaction in the spec's order: DELETE, POST, PUT/PATCH. Conditional targets
//! (`ifNoneExist`, `PUT Type?...`, conditional references) are resolved by searches inside
//! that transaction, so they see a consistent state. GETs run after the commit.
//! A transaction is all-or-nothing and names the failing entry; a batch records a failure
//! in that entry's response and goes on.
pub mod entry;
mod priority;
pub mod references;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::Fhir;
use crate::error::{FhirError, Result};
use crate::fhir::definitions::Definitions;
use crate::fhir::json::Split;
use crate::fhir::outcome::Issue;
use super::gate::GateRef;
use crate::persistence::{Expect, Method, StoredVersion, Tx, WriteOp};
use crate::search::params::Registry;
use entry::{Entry, Target, Verb};
use references::Resolver;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Transaction,
    Batch,
}

/// Configurable limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    /// Most resources one conditional delete may remove (when multiple deletes are allowed).
    pub max_conditional_deletes: usize,
    pub conditional_delete_multiple: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_entries: 100_000, max_conditional_deletes: 1_000, conditional_delete_multiple: false }
    }
}

/// What one entry produced.
#[derive(Debug, Clone, Default)]
pub struct EntryResponse {
    pub status: u16,
    /// The version written or found (location, etag, lastModified, resource).
    pub version: Option<StoredVersion>,
    /// A resource to return as is (a searchset Bundle for a GET search).
    pub resource: Option<Value>,
    /// Issues of a failed batch entry.
    pub outcome: Option<Vec<Issue>>,
}

impl EntryResponse {
    fn version(status: u16, v: StoredVersion) -> Self {
        EntryResponse { status, version: Some(v), ..Default::default() }
    }

    fn error(e: &FhirError, index: usize) -> Self {
        EntryResponse { status: e.status(), outcome: Some(located(e, index)), ..Default::default() }
    }
}

/// The issues of an error, each located at `Bundle.entry[index]`.
pub fn located(e: &FhirError, index: usize) -> Vec<Issue> {
    e.issues()
        .into_iter()
        .map(|mut i| {
            i.expression = if i.expression.is_empty() { format!("Bundle.entry[{index}]") } else { {
                // `Patient.name[0]` -> `Bundle.entry[3].resource.name[0]`
                let rest = match i.expression.split_once('.') {
                    Some((head, rest)) if head.starts_with(|c: char| c.is_ascii_uppercase()) => rest.to_string(),
                    _ => i.expression.clone(),
                };
                format!("Bundle.entry[{index}].resource.{rest}")
            } };
            i.diagnostics = format!("Bundle.entry[{index}]: {}", i.diagnostics);
            i
        })
        .collect()
}

/// A failed transaction: the error and the entry that caused it.
#[derive(Debug)]
pub struct Failure {
    pub entry: Option<usize>,
    pub error: FhirError,
}

impl Failure {
    pub fn issues(&self) -> Vec<Issue> {
        match self.entry {
            Some(i) => located(&self.error, i),
            None => self.error.issues(),
        }
    }
}

impl From<FhirError> for Failure {
    fn from(error: FhirError) -> Self {
        Failure { entry: None, error }
    }
}

pub struct Outcome {
    pub kind: Kind,
    pub entries: Vec<EntryResponse>,
    /// GET and HEAD entries left to the caller (under a gate: the caller runs them through
    /// its own dispatch and decision, as if they were sent on their own).
    pub deferred: Vec<usize>,
}

fn fail_at(index: usize) -> impl FnOnce(FhirError) -> Failure {
    move |error| Failure { entry: Some(index), error }
}

/// A Bundle's entries: parsed, or still JSON text (byte ranges of `text`), parsed on every core.
pub enum RawEntries {
    Parsed(Vec<Value>),
    Text { text: bytes::Bytes, ranges: Vec<std::ops::Range<usize>> },
}

impl RawEntries {
    fn len(&self) -> usize {
        match self {
            RawEntries::Parsed(v) => v.len(),
            RawEntries::Text { ranges, .. } => ranges.len(),
        }
    }

    /// The first `n` entries, leaving the rest in `self`.
    fn take_front(&mut self, n: usize) -> RawEntries {
        match self {
            RawEntries::Parsed(v) => {
                let tail = v.split_off(n.min(v.len()));
                RawEntries::Parsed(std::mem::replace(v, tail))
            }
            RawEntries::Text { text, ranges } => {
                let tail = ranges.split_off(n.min(ranges.len()));
                RawEntries::Text { text: text.clone(), ranges: std::mem::replace(ranges, tail) }
            }
        }
    }

    /// Each entry as a value; JSON that does not parse fails the whole request.
    fn into_values(self, first: usize) -> Result<Vec<Value>> {
        match self {
            RawEntries::Parsed(v) => Ok(v),
            RawEntries::Text { text, ranges } => ranges
                .into_iter()
                .enumerate()
                .map(|(k, r)| {
                    crate::fhir::json::parse(&text[r])
                        .map_err(|e| FhirError::BadRequest(format!("the body is not valid JSON: entry[{}]: {e}", first + k)))
                })
                .collect(),
        }
    }
}

/// Processes a `batch` or `transaction` Bundle.
pub async fn process(fhir: &Fhir, tenant: &str, bundle: Value, limits: Limits, base_url: &str, gate: &GateRef) -> std::result::Result<Outcome, Failure> {
    let prepared = prepare(fhir, tenant, bundle, limits, base_url).await?;
    execute(fhir, tenant, prepared, limits, gate).await
}

/// A Bundle parsed and validated, before any store work.
pub struct Prepared {
    pub kind: Kind,
    entries: Vec<Entry>,
    responses: Vec<Option<EntryResponse>>,
    started: std::time::Instant,
}

/// A GET or HEAD entry, for a caller that runs it through its own dispatch.
#[derive(Debug, Clone)]
pub struct GetEntry {
    pub index: usize,
    /// Relative to the base, with its query.
    pub url: String,
    pub head: bool,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
}

impl Prepared {
    pub fn gets(&self) -> Vec<GetEntry> {
        self.entries
            .iter()
            .filter_map(|e| match &e.target {
                Target::Read { url, head, .. } => Some(GetEntry {
                    index: e.index,
                    url: url.clone(),
                    head: *head,
                    if_none_match: e.if_none_match.clone(),
                    if_modified_since: e.if_modified_since.clone(),
                }),
                _ => None,
            })
            .collect()
    }
}

/// Parses and validates a Bundle split from its JSON text (entries parsed on every core).
pub async fn prepare_split(fhir: &Fhir, tenant: &str, split: Split, text: bytes::Bytes, limits: Limits, base_url: &str) -> std::result::Result<Prepared, Failure> {
    let head = Value::Object(split.head);
    let raw = match split.elements {
        Some(ranges) => RawEntries::Text { text, ranges },
        None if head.get("entry").is_some() => return Err(FhirError::BadRequest("Bundle.entry must be an array".into()).into()),
        None => RawEntries::Parsed(Vec::new()),
    };
    prepare_parts(fhir, tenant, &head, raw, limits, base_url).await
}

/// Parses and validates a Bundle already parsed as JSON.
pub async fn prepare(fhir: &Fhir, tenant: &str, mut bundle: Value, limits: Limits, base_url: &str) -> std::result::Result<Prepared, Failure> {
    let raw = match bundle.get_mut("entry") {
        None => Vec::new(),
        Some(Value::Array(a)) => std::mem::take(a),
        Some(_) => return Err(FhirError::BadRequest("Bundle.entry must be an array".into()).into()),
    };
    prepare_parts(fhir, tenant, &bundle, RawEntries::Parsed(raw), limits, base_url).await
}

async fn prepare_parts(fhir: &Fhir, tenant: &str, bundle: &Value, raw: RawEntries, limits: Limits, base_url: &str) -> std::result::Result<Prepared, Failure> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(FhirError::BadRequest("POST to the base needs a Bundle of type batch or transaction".into()).into());
    }
    let kind = match bundle.get("type").and_then(Value::as_str) {
        Some("transaction") => Kind::Transaction,
        Some("batch") => Kind::Batch,
        other => {
            return Err(FhirError::BadRequest(format!("Bundle.type must be 'transaction' or 'batch', not {}", other.map(|t| format!("'{t}'")).unwrap_or("missing".into()))).into())
        }
    };
    if raw.len() > limits.max_entries {
        return Err(FhirError::PayloadTooLarge(format!("the Bundle has {} entries; the limit is {} (--max-bundle-entries)", raw.len(), limits.max_entries)).into());
    }
    let registry = fhir.registry_for(tenant);
    let defs = fhir.defs;
    let n = raw.len();
    let mut responses: Vec<Option<EntryResponse>> = vec![None; n];
    let started = std::time::Instant::now();
    // Parse and validate (CPU work, in parallel, outside the store transaction).
    let parsed = parse_all(defs, registry.clone(), raw, base_url.to_string()).await?;
    let mut entries = Vec::with_capacity(n);
    for (i, r) in parsed.into_iter().enumerate() {
        match r {
            Ok(e) => entries.push(e),
            Err(e) if kind == Kind::Batch => responses[i] = Some(EntryResponse::error(&e, i)),
            Err(e) => return Err(fail_at(i)(e)),
        }
    }
    Ok(Prepared { kind, entries, responses, started })
}

/// Runs a prepared Bundle: its writes in one store transaction (through the gate when there
/// is one), then its reads. Under a gate the reads are left to the caller (`deferred`).
pub async fn execute(fhir: &Fhir, tenant: &str, prepared: Prepared, limits: Limits, gate: &GateRef) -> std::result::Result<Outcome, Failure> {
    let Prepared { kind, mut entries, mut responses, started } = prepared;
    let n = responses.len();
    let registry = fhir.registry_for(tenant);
    let defs = fhir.defs;
    // Binary content goes to the blob store before the store transaction.
    for e in entries.iter_mut() {
        let id = match &e.target {
            Target::Id(id) | Target::New(id) => id.clone(),
            _ => entry::new_id(),
        };
        if let Some(r) = e.resource.as_mut() {
            if let Err(err) = super::binary::offload(fhir, tenant, &id, r).await {
                if kind == Kind::Transaction {
                    return Err(fail_at(e.index)(err));
                }
                responses[e.index] = Some(EntryResponse::error(&err, e.index));
            }
        }
    }
    entries.retain(|e| responses[e.index].is_none());
    let (mut writes, mut gets): (Vec<Entry>, Vec<Entry>) = entries.into_iter().partition(|e| e.verb != Verb::Get);
    let deferred: Vec<usize> = if gate.is_some() { std::mem::take(&mut gets).iter().map(|e| e.index).collect() } else { Vec::new() };
    if kind == Kind::Transaction {
        writes = tokio::task::spawn_blocking(move || {
            references::prebind(&mut writes);
            writes
        })
        .await
        .map_err(|e| FhirError::Internal(format!("reference rewriting failed: {e}")))?;
    }
    // In a transaction, reads and type searches run inside it (a failure undoes the writes);
    // vreads, system searches and Binary reads (content in the blob store) run after it.
    let (tx_gets, gets): (Vec<Entry>, Vec<Entry>) = gets.into_iter().partition(|e| kind == Kind::Transaction && in_tx_get(e));
    let validated = started.elapsed();
    let failed_at = Arc::new(Mutex::new(None));
    let slot = failed_at.clone();
    let reg = registry.clone();
    let written = super::gate::run(fhir, tenant, gate, move |tx| {
        let mut run = Run { tx, defs, registry: &reg, kind, limits, failed_at: &slot, resolver: Resolver::default(), planned: Default::default() };
        let mut out = run.writes(writes)?;
        for e in tx_gets {
            let index = e.index;
            let r = run.get(&e);
            if let Some(resp) = run.handle(index, r, &mut out)? {
                out.push((index, resp));
            }
        }
        Ok(out)
    })
    .await;
    tracing::debug!(entries = n, validate_ms = validated.as_millis() as u64, total_ms = started.elapsed().as_millis() as u64, "bundle writes done");
    match written {
        Ok(list) => {
            for (i, r) in list {
                responses[i] = Some(r);
            }
        }
        Err(error) => {
            let entry = failed_at.lock().ok().and_then(|s| *s);
            return Err(Failure { entry, error });
        }
    }
    for e in gets {
        let r = match get(fhir, tenant, &e).await {
            Ok(r) => r,
            Err(err) if kind == Kind::Transaction && err.status() >= 500 => return Err(fail_at(e.index)(err)),
            Err(err) => EntryResponse::error(&err, e.index),
        };
        responses[e.index] = Some(r);
    }
    let mut is_deferred = vec![false; n];
    for &i in &deferred {
        is_deferred[i] = true;
    }
    let entries = responses
        .into_iter()
        .enumerate()
        .map(|(i, r)| match r {
            Some(r) => r,
            None if is_deferred[i] => EntryResponse::default(),
            None => EntryResponse::error(&FhirError::Internal("the entry was not processed".into()), i),
        })
        .collect();
    Ok(Outcome { kind, entries, deferred })
}

/// Parses and validates every entry, spread over the available cores: one thread per core
/// takes chunks of entries until none is left. The threads are its own and run at a lower
/// priority than the store's writer, which another Bundle may be using meanwhile; a Bundle
/// of one chunk is validated on the calling thread.
async fn parse_all(defs: &'static Definitions, registry: Arc<Registry>, raw: RawEntries, base_url: String) -> Result<Vec<Result<Entry>>> {
    const CHUNK: usize = 64;
    let n = raw.len();
    let workers = std::thread::available_parallelism().map(|p| p.get()).unwrap_or(2).clamp(1, 8).min(n.div_ceil(CHUNK));
    let mut chunks = std::collections::VecDeque::new();
    let (mut rest, mut start) = (raw, 0);
    while rest.len() > 0 {
        let part = rest.take_front(CHUNK);
        let first = start;
        start += part.len();
        chunks.push_back((first, part));
    }
    let chunks = Mutex::new(chunks);
    let work = move || -> Result<Vec<(usize, Vec<Result<Entry>>)>> {
        let mut done = Vec::new();
        loop {
            let next = chunks.lock().map_err(|_| FhirError::Internal("validation queue poisoned".into()))?.pop_front();
            let Some((first, part)) = next else { return Ok(done) };
            let parsed = part
                .into_values(first)?
                .into_iter()
                .enumerate()
                .map(|(k, raw)| {
                    let e = entry::parse(defs, &registry, first + k, raw, &base_url)?;
                    if let (Some(r), Verb::Post | Verb::Put) = (&e.resource, e.verb) {
                        check_resource(defs, &e.resource_type, r)?;
                    }
                    Ok(e)
                })
                .collect::<Vec<Result<Entry>>>();
            done.push((first, parsed));
        }
    };
    let parts = tokio::task::spawn_blocking(move || {
        if workers <= 1 {
            // One chunk: no thread of its own is worth starting.
            return work();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| {
                        priority::lower_this_thread();
                        work()
                    })
                })
                .collect();
            let mut parts = Vec::new();
            for h in handles {
                parts.extend(h.join().map_err(|_| FhirError::Internal("validation failed unexpectedly".into()))??);
            }
            Ok::<_, FhirError>(parts)
        })
    })
    .await
    .map_err(|e| FhirError::Internal(format!("validation task failed: {e}")))??;
    let mut parts = parts;
    parts.sort_by_key(|(first, _)| *first);
    let mut out = Vec::with_capacity(n);
    for (_, p) in parts {
        out.extend(p);
    }
    Ok(out)
}

fn check_resource(defs: &Definitions, resource_type: &str, resource: &Value) -> Result<()> {
    match resource.get("resourceType").and_then(Value::as_str) {
        Some(t) if t == resource_type => {}
        Some(t) => return Err(FhirError::BadRequest(format!("the resource's type '{}' does not match request.url's type '{resource_type}'", t.chars().take(80).collect::<String>()))),
        None => return Err(FhirError::BadRequest("the entry's resource has no resourceType".into())),
    }
    let issues = crate::fhir::validate::validate_resource(defs, resource);
    if issues.iter().any(Issue::is_error) {
        return Err(FhirError::Invalid(issues));
    }
    Ok(())
}

/// A planned write: the entry and the id it writes (None: nothing to write).
struct Plan {
    entry: Entry,
    id: Option<String>,
}

struct Run<'a> {
    tx: &'a mut dyn Tx,
    defs: &'static Definitions,
    registry: &'a Registry,
    kind: Kind,
    limits: Limits,
    failed_at: &'a Mutex<Option<usize>>,
    resolver: Resolver,
    /// `(type, ifNoneExist)` of the creates planned so far -> their id.
    planned: std::collections::HashMap<(String, String), String>,
}

impl Run<'_> {
    /// In a transaction an error aborts everything (naming the entry); in a batch it becomes
    /// that entry's response. Storage failures abort a batch too.
    fn handle<T>(&mut self, index: usize, r: Result<T>, out: &mut Vec<(usize, EntryResponse)>) -> Result<Option<T>> {
        handle(self.kind, self.failed_at, index, r, out)
    }

    fn writes(&mut self, entries: Vec<Entry>) -> Result<Vec<(usize, EntryResponse)>> {
        let mut out = Vec::with_capacity(entries.len());
        let (mut deletes, mut posts, mut puts) = (Vec::new(), Vec::new(), Vec::new());
        for e in entries {
            match e.verb {
                Verb::Delete => deletes.push(e),
                Verb::Post => posts.push(e),
                _ => puts.push(e),
            }
        }
        let mut seen: HashSet<(String, String)> = HashSet::new();
        // 1. Deletes.
        for e in deletes {
            let index = e.index;
            let r = self.delete(&e, &mut seen);
            if let Some(resp) = self.handle(index, r, &mut out)? {
                out.push((index, resp));
            }
        }
        // 2. Identities of creates and updates, so references can be rewritten.
        let mut plans = Vec::with_capacity(posts.len() + puts.len());
        for e in posts.into_iter().chain(puts) {
            let index = e.index;
            let r = self.plan(e, &mut seen);
            if let Some((plan, found)) = self.handle(index, r, &mut out)? {
                if let Some(resp) = found {
                    out.push((index, resp));
                }
                plans.push(plan);
            }
        }
        // 3. Writes, in order: creates, then updates and patches. Creates are collected and
        // written together (their preparation spread over the cores); they are flushed before
        // anything that reads the store, so every read and search sees the writes before it.
        let mut pending: Vec<(usize, WriteOp)> = Vec::new();
        for plan in plans {
            let Some(id) = plan.id.clone() else { continue };
            let index = plan.entry.index;
            if plan.entry.verb == Verb::Post {
                let r = self.create_op(plan.entry, id, &mut pending, &mut out);
                if let Some(op) = self.handle(index, r, &mut out)? {
                    pending.push((index, op));
                }
                continue;
            }
            flush(self.tx, self.kind, self.failed_at, &mut pending, &mut out)?;
            let r = self.write(plan.entry, id);
            if let Some(resp) = self.handle(index, r, &mut out)? {
                out.push((index, resp));
            }
        }
        flush(self.tx, self.kind, self.failed_at, &mut pending, &mut out)?;
        Ok(out)
    }

    /// A create with its references rewritten, to be written with the others. A conditional
    /// reference searches the store, so the creates collected so far are written first.
    fn create_op(&mut self, e: Entry, id: String, pending: &mut Vec<(usize, WriteOp)>, out: &mut Vec<(usize, EntryResponse)>) -> Result<WriteOp> {
        let mut resource = e.resource.ok_or_else(|| FhirError::BadRequest("the entry has no resource".into()))?;
        let (tx, kind, failed_at) = (&mut *self.tx, self.kind, self.failed_at);
        let mut search = |q: &crate::search::query::SearchQuery| {
            flush(tx, kind, failed_at, pending, out)?;
            tx.search_ids(q, 2)
        };
        match &e.ref_slots {
            Some(slots) => self.resolver.rewrite_slots(&mut search, self.registry, &mut resource, slots)?,
            None => self.resolver.rewrite(&mut search, self.registry, &mut resource)?,
        }
        if let Some(obj) = resource.as_object_mut() {
            obj.shift_remove("id");
        }
        Ok(WriteOp { resource_type: e.resource_type, id, expect: Expect::Absent, method: Method::Post, resource: Some(resource) })
    }

    /// A read or type search inside the transaction (it sees the transaction's writes).
    fn get(&mut self, e: &Entry) -> Result<EntryResponse> {
        let Target::Read { segments, params, .. } = &e.target else { return Err(FhirError::BadRequest("not a GET".into())) };
        match segments.as_slice() {
            [t, id] => {
                if !self.defs.is_resource_type(t) {
                    return Err(FhirError::NotFound(format!("unknown resource type '{}'", t.chars().take(80).collect::<String>())));
                }
                let v = self.tx.read(t, id)?.ok_or_else(|| FhirError::NotFound(format!("{t}/{} is not known", id.chars().take(80).collect::<String>())))?;
                let Some(body) = &v.body else { return Err(FhirError::Gone(format!("{t}/{id} was deleted"))) };
                if not_modified(e, &v) {
                    return Ok(EntryResponse { status: 304, version: Some(v), ..Default::default() });
                }
                let resource = serde_json::from_slice(body).map_err(|err| FhirError::Internal(format!("stored resource is not JSON: {err}")))?;
                Ok(EntryResponse { status: 200, resource: Some(resource), version: Some(v), outcome: None })
            }
            [t] => {
                if !self.defs.is_resource_type(t) {
                    return Err(FhirError::NotFound(format!("unknown resource type '{}'", t.chars().take(80).collect::<String>())));
                }
                let q = crate::search::query::parse(self.registry, vec![t.clone()], params, false)?;
                let limit = q.count.unwrap_or(50).min(1000);
                let mut entries = Vec::new();
                for (rt, id) in self.tx.search_ids(&q, limit)? {
                    let Some(v) = self.tx.read(&rt, &id)? else { continue };
                    let Some(body) = &v.body else { continue };
                    let resource: Value = serde_json::from_slice(body).map_err(|err| FhirError::Internal(err.to_string()))?;
                    entries.push(json!({"fullUrl": format!("{rt}/{id}"), "resource": resource, "search": {"mode": "match"}}));
                }
                let mut bundle = json!({"resourceType": "Bundle", "type": "searchset", "entry": entries});
                if entries_len(&bundle) < limit {
                    bundle["total"] = json!(entries_len(&bundle));
                }
                Ok(EntryResponse { status: 200, resource: Some(bundle), ..Default::default() })
            }
            _ => Err(FhirError::BadRequest("this GET runs after the transaction".into())),
        }
    }

    fn claim(&self, seen: &mut HashSet<(String, String)>, rtype: &str, id: &str) -> Result<()> {
        if self.kind == Kind::Transaction && !seen.insert((rtype.to_string(), id.to_string())) {
            return Err(FhirError::BadRequest(format!("{rtype}/{id} is the target of more than one entry of the transaction")));
        }
        Ok(())
    }

    fn find(&mut self, e: &Entry, q: &crate::search::query::SearchQuery, limit: usize) -> Result<Vec<String>> {
        let _ = e;
        super::conditional::matches(self.tx, q, limit)
    }

    fn delete(&mut self, e: &Entry, seen: &mut HashSet<(String, String)>) -> Result<EntryResponse> {
        let ids = match &e.target {
            Target::Id(id) => vec![id.clone()],
            Target::Criteria(q) => {
                let multiple = self.limits.conditional_delete_multiple;
                let limit = if multiple { self.limits.max_conditional_deletes + 1 } else { 2 };
                let found = self.find(e, q, limit)?;
                if found.len() > 1 && !multiple {
                    return Err(FhirError::PreconditionFailed(format!("the conditional delete criteria match more than one {}", e.resource_type)));
                }
                if found.len() > self.limits.max_conditional_deletes {
                    return Err(FhirError::PreconditionFailed(format!("the conditional delete criteria match too many {} resources", e.resource_type)));
                }
                found
            }
            _ => return Err(FhirError::BadRequest("a DELETE needs Type/id or Type?criteria".into())),
        };
        let mut last = None;
        for id in ids {
            self.claim(seen, &e.resource_type, &id)?;
            let expect = e.if_match.map(Expect::Version).unwrap_or(Expect::Any);
            let op = WriteOp { resource_type: e.resource_type.clone(), id, expect, method: Method::Delete, resource: None };
            if let Some(v) = self.tx.write(op)?.version {
                last = Some(v);
            }
        }
        Ok(EntryResponse { status: 204, version: last, ..Default::default() })
    }

    /// Decides which id an entry writes; a matched `ifNoneExist` answers without a write.
    fn plan(&mut self, e: Entry, seen: &mut HashSet<(String, String)>) -> Result<(Plan, Option<EntryResponse>)> {
        let rtype = e.resource_type.clone();
        let (id, found) = match (&e.verb, &e.target) {
            (Verb::Post, Target::New(new_id)) => match &e.if_none_exist {
                Some(q) => {
                    // The same criteria as an earlier create of this Bundle: that one matches.
                    let key = (rtype.clone(), e.if_none_exist_text.clone().unwrap_or_default());
                    if let Some(existing) = self.planned.get(&key).cloned() {
                        self.resolver.assign(e.full_url.as_deref(), &rtype, &existing);
                        let resp = EntryResponse { status: 200, ..Default::default() };
                        return Ok((Plan { entry: e, id: None }, Some(resp)));
                    }
                    let m = self.find(&e, q, 2)?;
                    match m.as_slice() {
                        [] => {
                            self.planned.insert(key, new_id.clone());
                            (Some(new_id.clone()), None)
                        }
                        [existing] => {
                            self.planned.insert(key, existing.clone());
                            let v = self.tx.read(&rtype, existing)?.ok_or_else(|| FhirError::Internal("a matching resource vanished".into()))?;
                            self.resolver.assign(e.full_url.as_deref(), &rtype, existing);
                            return Ok((Plan { entry: e, id: None }, Some(EntryResponse::version(200, v))));
                        }
                        _ => return Err(FhirError::PreconditionFailed(format!("ifNoneExist matches more than one {rtype}"))),
                    }
                }
                None => (Some(new_id.clone()), None),
            },
            (Verb::Put | Verb::Patch, Target::Id(id)) => (Some(id.clone()), None),
            (Verb::Put, Target::Criteria(q)) => {
                let m = self.find(&e, q, 2)?;
                let body_id = e.resource.as_ref().and_then(|r| r.get("id")).and_then(Value::as_str).map(str::to_string);
                match m.as_slice() {
                    [] => (Some(body_id.unwrap_or_else(entry::new_id)), None),
                    [existing] => {
                        if body_id.as_deref().is_some_and(|b| b != existing) {
                            return Err(FhirError::BadRequest(format!("the resource's id does not match the {rtype} the criteria found")));
                        }
                        (Some(existing.clone()), None)
                    }
                    _ => return Err(FhirError::PreconditionFailed(format!("the conditional update criteria match more than one {rtype}"))),
                }
            }
            (Verb::Patch, Target::Criteria(q)) => {
                let m = self.find(&e, q, 2)?;
                match m.as_slice() {
                    [] => return Err(FhirError::NotFound(format!("no {rtype} matches the conditional patch criteria"))),
                    [existing] => (Some(existing.clone()), None),
                    _ => return Err(FhirError::PreconditionFailed(format!("the conditional patch criteria match more than one {rtype}"))),
                }
            }
            _ => return Err(FhirError::BadRequest("unsupported entry".into())),
        };
        if let Some(id) = &id {
            self.claim(seen, &rtype, id)?;
            self.resolver.assign(e.full_url.as_deref(), &rtype, id);
        }
        Ok((Plan { entry: e, id }, found))
    }

    fn write(&mut self, e: Entry, id: String) -> Result<EntryResponse> {
        let rtype = e.resource_type.clone();
        if e.verb == Verb::Patch {
            let patch = e.patch.as_ref().ok_or_else(|| FhirError::BadRequest("a PATCH entry needs a patch".into()))?;
            let v = super::patch::patch_in_tx(self.tx, self.defs, &rtype, &id, patch, e.if_match)?;
            return Ok(EntryResponse::version(200, v));
        }
        let mut resource = e.resource.ok_or_else(|| FhirError::BadRequest("the entry has no resource".into()))?;
        let tx = &mut *self.tx;
        let mut search = |q: &crate::search::query::SearchQuery| tx.search_ids(q, 2);
        match &e.ref_slots {
            Some(slots) => self.resolver.rewrite_slots(&mut search, self.registry, &mut resource, slots)?,
            None => self.resolver.rewrite(&mut search, self.registry, &mut resource)?,
        }
        if e.verb == Verb::Post {
            if let Some(obj) = resource.as_object_mut() {
                obj.shift_remove("id");
            }
            let op = WriteOp { resource_type: rtype, id, expect: Expect::Absent, method: Method::Post, resource: Some(resource) };
            let v = self.tx.write(op)?.version.ok_or_else(|| FhirError::Internal("the store returned no version".into()))?;
            return Ok(EntryResponse::version(201, v));
        }
        if let Some(obj) = resource.as_object_mut() {
            obj.insert("id".into(), Value::String(id.clone()));
        }
        let expect = e.if_match.map(Expect::Version).unwrap_or(Expect::Any);
        let current = self.tx.read(&rtype, &id)?;
        let op = WriteOp { resource_type: rtype, id, expect, method: Method::Put, resource: Some(resource) };
        // An update identical to the current version stores nothing new (but is decided like one).
        if let Some(v) = op.resource.as_ref().and_then(|r| super::unchanged(current.as_ref(), r)) {
            if e.if_match.is_none_or(|m| m == v.version) {
                self.tx.may_write(&op)?;
                return Ok(EntryResponse::version(200, v));
            }
        }
        let r = self.tx.write(op)?;
        let v = r.version.ok_or_else(|| FhirError::Internal("the store returned no version".into()))?;
        Ok(EntryResponse::version(if r.created { 201 } else { 200 }, v))
    }
}

/// In a transaction an error aborts everything (naming the entry, the first to fail); in a
/// batch it becomes that entry's response. Storage failures abort a batch too.
fn handle<T>(kind: Kind, failed_at: &Mutex<Option<usize>>, index: usize, r: Result<T>, out: &mut Vec<(usize, EntryResponse)>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if kind == Kind::Batch && !matches!(e, FhirError::Internal(_)) => {
            out.push((index, EntryResponse::error(&e, index)));
            Ok(None)
        }
        Err(e) => {
            if let Ok(mut s) = failed_at.lock() {
                if s.is_none() {
                    *s = Some(index);
                }
            }
            Err(e)
        }
    }
}

/// Writes the collected creates (entry index, op) and records their responses.
fn flush(tx: &mut dyn Tx, kind: Kind, failed_at: &Mutex<Option<usize>>, pending: &mut Vec<(usize, WriteOp)>, out: &mut Vec<(usize, EntryResponse)>) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let (indices, ops): (Vec<usize>, Vec<WriteOp>) = pending.drain(..).unzip();
    let results = tx.write_many(ops)?;
    for (index, r) in indices.into_iter().zip(results) {
        let r = r.and_then(|w| w.version.ok_or_else(|| FhirError::Internal("the store returned no version".into())));
        if let Some(v) = handle(kind, failed_at, index, r, out)? {
            out.push((index, EntryResponse::version(201, v)));
        }
    }
    Ok(())
}

fn entries_len(bundle: &Value) -> usize {
    bundle.get("entry").and_then(Value::as_array).map(Vec::len).unwrap_or(0)
}

fn in_tx_get(e: &Entry) -> bool {
    match &e.target {
        Target::Read { segments, .. } => match segments.as_slice() {
            [t, _] => t != "Binary",
            [t] => t != "Binary",
            _ => false,
        },
        _ => false,
    }
}

/// `ifNoneMatch` / `ifModifiedSince` of a GET entry against the current version.
fn not_modified(e: &Entry, v: &StoredVersion) -> bool {
    let by_etag = e.if_none_match.as_deref().is_some_and(|m| {
        m.split(',').any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == v.version.to_string()
        })
    });
    let by_date = e
        .if_modified_since
        .as_deref()
        .and_then(|d| {
            chrono::DateTime::parse_from_rfc3339(d)
                .ok()
                .map(|d| d.timestamp())
                .or_else(|| httpdate::parse_http_date(d).ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs() as i64))
        })
        .is_some_and(|since| v.last_updated.div_euclid(1_000_000) <= since);
    by_etag || by_date
}

/// A GET entry, run after the writes: read, vread or search.
async fn get(fhir: &Fhir, tenant: &str, e: &Entry) -> Result<EntryResponse> {
    let Target::Read { segments, params, .. } = &e.target else { return Err(FhirError::BadRequest("not a GET".into())) };
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    match s.as_slice() {
        [t, id] => {
            let v = super::read::read(fhir, tenant, t, id).await?;
            let not_modified = not_modified(e, &v);
            if not_modified {
                return Ok(EntryResponse { status: 304, version: Some(v), ..Default::default() });
            }
            read_response(fhir, v).await
        }
        [t, id, "_history", vid] => {
            let v = super::vread::vread(fhir, tenant, t, id, vid).await?;
            read_response(fhir, v).await
        }
        [t] => search(fhir, tenant, vec![t.to_string()], params).await,
        [] => search(fhir, tenant, Vec::new(), params).await,
        _ => Err(FhirError::BadRequest(format!("GET {} is not supported inside a Bundle", segments.join("/")))),
    }
}

/// A read's answer always carries the resource.
async fn read_response(fhir: &Fhir, v: StoredVersion) -> Result<EntryResponse> {
    let v = super::binary::hydrate(fhir, v).await?;
    let resource = match &v.body {
        Some(b) => Some(serde_json::from_slice(b).map_err(|e| FhirError::Internal(format!("stored resource is not JSON: {e}")))?),
        None => None,
    };
    Ok(EntryResponse { status: 200, version: Some(v), resource, outcome: None })
}

async fn search(fhir: &Fhir, tenant: &str, types: Vec<String>, params: &[(String, String)]) -> Result<EntryResponse> {
    let paging = super::search::Paging { default: 50, max: 1000 };
    let (_, page) = super::search::search(fhir, tenant, types, params, false, paging, None).await?;
    let mut entries = Vec::new();
    for (v, mode) in page.matches.into_iter().map(|v| (v, "match")).chain(page.included.into_iter().map(|v| (v, "include"))) {
        let v = super::binary::hydrate(fhir, v).await?;
        let Some(body) = &v.body else { continue };
        let resource: Value = serde_json::from_slice(body).map_err(|e| FhirError::Internal(e.to_string()))?;
        entries.push(json!({"fullUrl": format!("{}/{}", v.resource_type, v.id), "resource": resource, "search": {"mode": mode}}));
    }
    let mut bundle = json!({"resourceType": "Bundle", "type": "searchset", "entry": entries});
    if let Some(total) = page.total {
        bundle["total"] = json!(total);
    }
    Ok(EntryResponse { status: 200, resource: Some(bundle), ..Default::default() })
}
