//! Search-value extraction: the index entries of a resource, computed on every write from the
//! official SearchParameter FHIRPath expressions (see `params.rs` for the registry).
//!
//! Every expression is parsed once, in [`Extractor::new`], per resource type: a union
//! expression shared by many bases (`Patient.name | Practitioner.name`) is cut down to the
//! parts that can match the resource type, so a write evaluates only what applies to it.
//! How a value of each FHIR type becomes an [`IndexValue`] per parameter type lives in
//! `extract/values.rs`; string normalisation in `extract/text.rs`.
use rustc_hash::FxHashMap as HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::fhir::definitions::Definitions;
use crate::search::fhirpath::{self, Expr, Item};
use crate::search::params::{ParamType, Registry, SearchParam};

#[cfg(test)]
mod tests;
mod text;
mod values;

pub use text::normalize;

/// One search value of a resource.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    /// The parameter code, e.g. `name`; for composite components `<code>#<i>`.
    pub param: String,
    /// 0, except composite components: the same number for components of the same element.
    pub group: u32,
    pub value: IndexValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IndexValue {
    /// `norm`: lower-cased, accents removed, whitespace collapsed; `exact`: as is.
    String {
        norm: String,
        exact: String,
    },
    /// `text`: normalised Coding.display / CodeableConcept.text / Identifier.type.text.
    Token {
        system: Option<String>,
        code: Option<String>,
        text: Option<String>,
    },
    /// Half-open microsecond range; open Period ends use `i64::MIN` / `i64::MAX`.
    Date {
        low: i64,
        high: i64,
    },
    /// The number and its implicit precision range (100 -> [99.5, 100.5)).
    Number {
        value: f64,
        low: f64,
        high: f64,
    },
    /// Quantity-like values (Money: currency as code, system `urn:iso:std:iso:4217`); a Range
    /// gives low/high from its ends (`f64::MIN` / `f64::MAX` when open: finite, so JSON-safe).
    Quantity {
        value: f64,
        low: f64,
        high: f64,
        system: Option<String>,
        code: Option<String>,
        unit: Option<String>,
    },
    /// A parsed reference (see `values::parse_reference`); canonical/uri targets as `url` only.
    Reference {
        target_type: Option<String>,
        target_id: Option<String>,
        url: Option<String>,
        identifier: Option<(Option<String>, String)>,
    },
    Uri(String),
}

/// A parameter ready to evaluate on one resource type.
struct Compiled {
    code: String,
    kind: ParamType,
    /// The top-level union parts of the expression (indices into `TypeParams::parts`):
    /// evaluated separately so that parameters sharing a part (`Observation.value as
    /// Quantity`) evaluate it once per resource.
    parts: Vec<usize>,
    /// Composite components: the component's own type, its expression (index into
    /// `Extractor::components`), and whether it is evaluated against the whole resource
    /// (`%resource...`) rather than the element.
    components: Vec<(ParamType, usize, bool)>,
}

/// One union part of some expression of a resource type.
struct Part {
    expr: Expr,
    /// The top-level element the part starts from (`Observation.value as Quantity` ->
    /// `value`): when the resource lacks it the part is empty. `None` when the part does not
    /// start that way, or could yield something from nothing (`x.exists()`).
    guard: Option<String>,
}

#[derive(Default)]
struct TypeParams {
    parts: Vec<Part>,
    params: Vec<Compiled>,
}

/// Extracts index entries; `Send + Sync`, cheap to share behind an `Arc`.
pub struct Extractor {
    registry: Arc<Registry>,
    by_type: HashMap<String, TypeParams>,
    components: Vec<Expr>,
    errors: AtomicU64,
}

/// Codes never indexed from an expression (the lead indexes `_text`/`_content` itself).
const SKIPPED_CODES: [&str; 7] = ["_text", "_content", "_query", "_filter", "_has", "_type", "_list"];

/// Parses expressions once, whatever the number of types and parameters sharing them.
#[derive(Default)]
struct Parser {
    exprs: HashMap<String, Expr>,
    components: Vec<Expr>,
    component_index: HashMap<String, usize>,
}

impl Parser {
    fn parse(&mut self, text: &str) -> Result<Expr, String> {
        if let Some(e) = self.exprs.get(text) {
            return Ok(e.clone());
        }
        let e = fhirpath::parse(text)?;
        self.exprs.insert(text.to_string(), e.clone());
        Ok(e)
    }

    fn component(&mut self, text: &str) -> Result<usize, String> {
        if let Some(&i) = self.component_index.get(text) {
            return Ok(i);
        }
        let e = fhirpath::parse(text)?;
        self.components.push(e);
        self.component_index.insert(text.to_string(), self.components.len() - 1);
        Ok(self.components.len() - 1)
    }
}

/// What one `extract` call has evaluated so far.
struct Memo<'a> {
    parts: Vec<Option<Result<Vec<Item<'a>>, String>>>,
    /// (component expression, element address) -> items.
    components: HashMap<(usize, usize), Result<Vec<Item<'a>>, String>>,
}

impl Extractor {
    pub fn new(registry: Arc<Registry>) -> Extractor {
        let mut parser = Parser::default();
        let mut by_type = HashMap::default();
        for rt in Definitions::r4().resource_types() {
            by_type.insert(rt.clone(), compile_for(&registry, rt, &mut parser));
        }
        Extractor { registry, by_type, components: parser.components, errors: AtomicU64::new(0) }
    }

    /// How many parameter evaluations failed so far (each one skipped).
    pub fn error_count(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// All index entries of a resource (its `resourceType` picks the parameters).
    pub fn extract(&self, resource: &Value) -> Vec<IndexEntry> {
        self.extract_with(resource, true)
    }

    /// `guarded`: skip parts whose starting element is absent (false only in tests, to check
    /// that the shortcut never changes the result).
    fn extract_with(&self, resource: &Value, guarded: bool) -> Vec<IndexEntry> {
        let Some(rt) = resource.get("resourceType").and_then(Value::as_str) else {
            return Vec::new();
        };
        match self.by_type.get(rt) {
            Some(tp) => self.run(tp, &self.components, resource, guarded),
            None => {
                // A type outside the R4 definitions (custom parameters only): compile now.
                let mut parser = Parser::default();
                let tp = compile_for(&self.registry, rt, &mut parser);
                self.run(&tp, &parser.components, resource, guarded)
            }
        }
    }

    fn run(&self, tp: &TypeParams, components: &[Expr], resource: &Value, guarded: bool) -> Vec<IndexEntry> {
        let mut out = Vec::new();
        let mut memo = Memo { parts: (0..tp.parts.len()).map(|_| None).collect(), components: HashMap::default() };
        let obj = resource.as_object().filter(|_| guarded);
        for p in &tp.params {
            let start = out.len();
            if let Err(e) = extract_param(tp, components, p, resource, obj, &mut memo, &mut out) {
                out.truncate(start);
                self.errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(param = %p.code, error = %e, "search value extraction failed");
                continue;
            }
            // Entries of different parameters never compare equal (the code differs).
            dedup_tail(&mut out, start);
        }
        out
    }
}

fn extract_param<'a>(
    tp: &TypeParams,
    components: &[Expr],
    p: &Compiled,
    resource: &'a Value,
    obj: Option<&serde_json::Map<String, Value>>,
    memo: &mut Memo<'a>,
    out: &mut Vec<IndexEntry>,
) -> Result<(), String> {
    let mut items: Vec<Item<'a>> = Vec::new();
    for &pi in &p.parts {
        let slot = &mut memo.parts[pi];
        if slot.is_none() {
            let part = &tp.parts[pi];
            let absent = match (&part.guard, obj) {
                (Some(g), Some(obj)) => !has_element(obj, g),
                _ => false,
            };
            *slot = Some(if absent { Ok(Vec::new()) } else { fhirpath::evaluate(&part.expr, resource) });
        }
        match slot {
            Some(Ok(v)) => items.extend(v.iter().cloned()),
            Some(Err(e)) => return Err(e.clone()),
            None => {}
        }
    }
    if p.kind != ParamType::Composite {
        let mut vals = Vec::new();
        for it in &items {
            values::convert(p.kind, it, &mut vals);
        }
        out.extend(vals.into_iter().map(|value| IndexEntry { param: p.code.clone(), group: 0, value }));
        if p.kind == ParamType::Token {
            of_type_entries(&p.code, &items, out);
        }
        return Ok(());
    }
    let mut group = 0u32;
    let mut seen: Vec<*const Value> = Vec::new();
    for it in &items {
        let Item::Node(node) = it else { continue };
        // A union yields each element once.
        if seen.iter().any(|&x| std::ptr::eq(x, node.value)) {
            continue;
        }
        seen.push(node.value);
        let mut values = Vec::with_capacity(p.components.len());
        for &(kind, ci, on_resource) in &p.components {
            let root: &'a Value = if on_resource { resource } else { node.value };
            let key = (ci, root as *const Value as usize);
            let comp_items = memo.components.entry(key).or_insert_with(|| fhirpath::evaluate(&components[ci], root));
            let comp_items = comp_items.as_ref().map_err(|e| e.clone())?;
            let mut vals = Vec::new();
            for it in comp_items {
                values::convert(kind, it, &mut vals);
            }
            values.push(vals);
        }
        // A composite value matches only through all its components: an element lacking one
        // (an Observation without a value for `code-value-quantity`) can never match.
        if values.iter().any(Vec::is_empty) {
            continue;
        }
        group += 1;
        for (i, vals) in values.into_iter().enumerate() {
            let param = format!("{}#{}", p.code, i);
            out.extend(vals.into_iter().map(|value| IndexEntry { param: param.clone(), group, value }));
        }
    }
    Ok(())
}

/// The compiled parameters of one resource type.
fn compile_for(registry: &Registry, rt: &str, parser: &mut Parser) -> TypeParams {
    let mut tp = TypeParams::default();
    let mut part_index: HashMap<String, usize> = HashMap::default();
    for p in registry.for_type(rt) {
        if p.kind == ParamType::Special || SKIPPED_CODES.contains(&p.code.as_str()) {
            continue;
        }
        let Some(text) = p.expression.as_deref().filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        let Some(text) = restrict_to_type(text, rt) else {
            continue;
        };
        match compile(registry, p, &text, rt, parser, &mut tp.parts, &mut part_index) {
            Ok(c) => tp.params.push(c),
            Err(e) => {
                tracing::debug!(param = %p.url, error = %e, "search parameter expression not parsed")
            }
        }
    }
    tp
}

fn compile(
    registry: &Registry,
    p: &SearchParam,
    text: &str,
    rt: &str,
    parser: &mut Parser,
    parts: &mut Vec<Part>,
    part_index: &mut HashMap<String, usize>,
) -> Result<Compiled, String> {
    let mut components = Vec::new();
    if p.kind == ParamType::Composite {
        for c in &p.component {
            let kind = registry.by_url(&c.definition).map(|d| d.kind).ok_or_else(|| format!("unknown component {}", c.definition))?;
            let on_resource = c.expression.contains("%resource");
            components.push((kind, parser.component(&c.expression)?, on_resource));
        }
        if components.is_empty() {
            return Err("composite without components".into());
        }
    }
    let mut idx = Vec::new();
    for part in split_union(text) {
        let part = part.trim();
        if let Some(&i) = part_index.get(part) {
            idx.push(i);
            continue;
        }
        let expr = parser.parse(part)?;
        parts.push(Part { expr, guard: guard(part, rt) });
        part_index.insert(part.to_string(), parts.len() - 1);
        idx.push(parts.len() - 1);
    }
    Ok(Compiled { code: p.code.clone(), kind: p.kind, parts: idx, components })
}

/// Drops the top-level union parts of `text` that start with another resource type's name;
/// `None` when nothing applies to `rt`.
fn restrict_to_type(text: &str, rt: &str) -> Option<String> {
    let parts = split_union(text);
    let kept: Vec<&str> = parts.iter().copied().filter(|part| applies(part, rt)).collect();
    if kept.is_empty() {
        return None;
    }
    if kept.len() == parts.len() {
        return Some(text.to_string());
    }
    Some(kept.iter().map(|s| s.trim()).collect::<Vec<_>>().join(" | "))
}

fn applies(part: &str, rt: &str) -> bool {
    if part.contains('|') {
        return true; // a nested union: keep it whole
    }
    let head = part.trim_start_matches(|c: char| c == '(' || c.is_whitespace());
    let ident: &str = &head[..head.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(head.len())];
    if ident == rt || ident == "Resource" || ident == "DomainResource" {
        return true;
    }
    !Definitions::r4().is_resource_type(ident)
}

/// The first element name of a union part (`Type.name...`), when the part is certainly
/// empty without it.
fn guard(part: &str, rt: &str) -> Option<String> {
    // Parts that can yield a value from nothing (`x.exists() and ...` -> false).
    const FROM_NOTHING: [&str; 10] = ["exists", "empty", "not()", "count", "iif", " and ", " or ", "%", "all(", "implies"];
    if part.contains('|') || FROM_NOTHING.iter().any(|f| part.contains(f)) {
        return None;
    }
    let head = part.trim_start_matches(|c: char| c == '(' || c.is_whitespace());
    let rest = [rt, "Resource", "DomainResource"].iter().find_map(|t| head.strip_prefix(t).and_then(|r| r.strip_prefix('.')))?;
    let name: &str = &rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return None;
    }
    Some(name.to_string())
}

/// True when the resource has an element `name` (a choice element counts by its prefix).
fn has_element(obj: &serde_json::Map<String, Value>, name: &str) -> bool {
    // One pass over the keys: `name` itself or a choice variant (`valueQuantity`).
    obj.keys().any(|k| k.starts_with(name) && k.as_bytes().get(name.len()).is_none_or(u8::is_ascii_uppercase))
}

/// Splits at `|` outside parentheses, brackets and quotes.
fn split_union(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '`' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, '|') if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    if parts.len() > 1 && has_low_precedence_operator(text) {
        return vec![text];
    }
    parts
}

/// True when `text` has, outside brackets and quotes, an operator binding looser than `|`
/// (comparison, `and`, `or`, `implies`, ...): splitting at `|` would then change its meaning.
fn has_low_precedence_operator(text: &str) -> bool {
    let mut top = String::with_capacity(text.len());
    let (mut depth, mut quote) = (0i32, None::<char>);
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '`' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, c) if depth == 0 => top.push(c),
            _ => {}
        }
    }
    [" and ", " or ", " xor ", " implies ", "=", "~", "<", ">", " in ", " contains "].iter().any(|op| top.contains(op))
}

/// Removes repeated entries among `out[start..]`, keeping the first of each.
fn dedup_tail(out: &mut Vec<IndexEntry>, start: usize) {
    if out.len() < start + 2 {
        return;
    }
    let mut keep = start;
    if out.len() - start <= 16 {
        for i in start..out.len() {
            if !out[start..keep].contains(&out[i]) {
                out.swap(keep, i);
                keep += 1;
            }
        }
    } else {
        let mut seen: HashMap<u64, Vec<usize>> = HashMap::default();
        for i in start..out.len() {
            let h = hash_of(&out[i]);
            let dup = seen.get(&h).is_some_and(|v| v.iter().any(|&j| out[j] == out[i]));
            if !dup {
                out.swap(keep, i);
                seen.entry(h).or_default().push(keep);
                keep += 1;
            }
        }
    }
    out.truncate(keep);
}

/// A hash of an entry (floats by bits; no NaN is ever produced).
fn hash_of(e: &IndexEntry) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    e.param.hash(&mut h);
    e.group.hash(&mut h);
    match &e.value {
        IndexValue::String { norm, exact } => (0u8, norm, exact).hash(&mut h),
        IndexValue::Token { system, code, text } => (1u8, system, code, text).hash(&mut h),
        IndexValue::Date { low, high } => (2u8, low, high).hash(&mut h),
        IndexValue::Number { value, low, high } => (3u8, value.to_bits(), low.to_bits(), high.to_bits()).hash(&mut h),
        IndexValue::Quantity { value, low, high, system, code, unit } => {
            (4u8, value.to_bits(), low.to_bits(), high.to_bits(), system, code, unit).hash(&mut h)
        }
        IndexValue::Reference { target_type, target_id, url, identifier } => (5u8, target_type, target_id, url, identifier).hash(&mut h),
        IndexValue::Uri(u) => (6u8, u).hash(&mut h),
    }
    h.finish()
}

/// For `:of-type`: each Identifier's type codings with its value, under `<code>:of-type`
/// (system and code of the type; `text` holds the identifier value as is).
fn of_type_entries(code: &str, items: &[fhirpath::Item<'_>], out: &mut Vec<IndexEntry>) {
    for it in items {
        let Some(node) = it.node() else { continue };
        if node.type_name != Some("Identifier") {
            continue;
        }
        let Some(value) = node.value.get("value").and_then(Value::as_str) else { continue };
        let codings = node.value.pointer("/type/coding").and_then(Value::as_array);
        for c in codings.into_iter().flatten() {
            let (Some(system), Some(type_code)) = (c.get("system").and_then(Value::as_str), c.get("code").and_then(Value::as_str)) else {
                continue;
            };
            out.push(IndexEntry {
                param: format!("{code}:of-type"),
                group: 0,
                value: IndexValue::Token { system: Some(system.to_string()), code: Some(type_code.to_string()), text: Some(value.to_string()) },
            });
        }
    }
}
