//! One resource version as an OpenSearch document: the search values the shared extraction
//! produced (the same entries the SQLite adapter writes), grouped by family, plus the stored
//! version itself (the body is kept verbatim, not indexed).
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use super::mapping::MAX_COMPONENTS;
use crate::persistence::StoredVersion;
use crate::search::extract::{IndexEntry, IndexValue};

/// Longest keyword kept (Lucene refuses terms over 32766 bytes; 8000 chars is at most 32000).
pub const MAX_KEYWORD_CHARS: usize = 8000;
/// Full text is cut into chunks of this many characters overlapping by `FT_OVERLAP`, so any
/// substring of up to `FT_OVERLAP` characters lies whole inside one chunk.
pub const FT_CHUNK: usize = 4000;
pub const FT_OVERLAP: usize = 1000;
/// Characters of a text kept as its sort key (keeps page cursors short).
pub const SORT_CHARS: usize = 256;
/// Combinations of one composite element's component values kept.
const MAX_COMBINATIONS: usize = 256;

/// `Type/id`: the document `_id` and the `key` field (unique tiebreaker of every sort).
pub fn key(resource_type: &str, id: &str) -> String {
    format!("{resource_type}/{id}")
}

/// Order-preserving text for an integer (dates in microseconds).
pub fn enc_i64(v: i64) -> String {
    format!("{:016x}", (v as u64) ^ (1u64 << 63))
}

/// Order-preserving text for a finite double.
pub fn enc_f64(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v };
    let b = v.to_bits();
    let k = if b >> 63 == 1 { !b } else { b | (1u64 << 63) };
    format!("{k:016x}")
}

/// At most `MAX_KEYWORD_CHARS` characters.
pub fn kw(s: &str) -> &str {
    cut(s, MAX_KEYWORD_CHARS)
}

fn cut(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `_text` and `_content`: matched as substrings, kept in their own family.
pub fn is_full_text(code: &str) -> bool {
    matches!(code, "_text" | "_content")
}

/// Overlapping chunks of `text` (see `FT_CHUNK`).
pub fn chunks(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= FT_CHUNK {
        return vec![text.to_string()];
    }
    let step = FT_CHUNK - FT_OVERLAP;
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + FT_CHUNK).min(chars.len());
        out.push(chars[start..end].iter().collect());
        if end == chars.len() {
            break;
        }
        start += step;
    }
    out
}

fn put(m: &mut Map<String, Value>, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(k.into(), json!(kw(v)));
    }
}

/// The family of a value and its fields.
pub fn value_fields(v: &IndexValue) -> (&'static str, Map<String, Value>) {
    let mut m = Map::new();
    let family = match v {
        IndexValue::String { norm, exact } => {
            m.insert("norm".into(), json!(kw(norm)));
            m.insert("exact".into(), json!(kw(exact)));
            m.insert("s".into(), json!(cut(norm, SORT_CHARS)));
            "str"
        }
        IndexValue::Token { system, code, text } => {
            put(&mut m, "system", system);
            put(&mut m, "code", code);
            put(&mut m, "text", text);
            if let Some(c) = code {
                m.insert("s".into(), json!(cut(c, SORT_CHARS)));
            }
            "tok"
        }
        IndexValue::Date { low, high } => {
            m.insert("low".into(), json!(low));
            m.insert("high".into(), json!(high));
            m.insert("s".into(), json!(enc_i64(*low)));
            m.insert("s2".into(), json!(enc_i64(*high)));
            "date"
        }
        IndexValue::Number { value, low, high } => {
            m.insert("value".into(), json!(value));
            m.insert("low".into(), json!(low));
            m.insert("high".into(), json!(high));
            m.insert("s".into(), json!(enc_f64(*value)));
            "num"
        }
        IndexValue::Quantity { value, low, high, system, code, unit } => {
            m.insert("value".into(), json!(value));
            m.insert("low".into(), json!(low));
            m.insert("high".into(), json!(high));
            put(&mut m, "system", system);
            put(&mut m, "code", code);
            put(&mut m, "unit", unit);
            m.insert("s".into(), json!(enc_f64(*value)));
            "qty"
        }
        IndexValue::Reference { target_type, target_id, url, identifier } => {
            put(&mut m, "type", target_type);
            put(&mut m, "id", target_id);
            put(&mut m, "url", url);
            if let Some((system, value)) = identifier {
                put(&mut m, "id_system", system);
                m.insert("id_value".into(), json!(kw(value)));
            }
            if let (Some(t), Some(i)) = (target_type, target_id) {
                m.insert("key".into(), json!(kw(&key(t, i))));
            }
            "ref"
        }
        IndexValue::Uri(u) => {
            m.insert("value".into(), json!(kw(u)));
            m.insert("s".into(), json!(cut(u, SORT_CHARS)));
            "uri"
        }
    };
    (family, m)
}

/// The document of a live version with its search `entries`.
pub fn document(v: &StoredVersion, body: &str, entries: &[IndexEntry]) -> Value {
    let mut doc = base(v, false);
    doc.insert("body".into(), json!(body));
    let mut families: BTreeMap<&'static str, Vec<Value>> = BTreeMap::new();
    let mut params: BTreeSet<&str> = BTreeSet::new();
    // (composite code, group) -> component index -> values
    let mut composites: BTreeMap<(&str, u32), Vec<Vec<&IndexValue>>> = BTreeMap::new();
    for e in entries {
        params.insert(e.param.as_str());
        if let Some((code, i)) = e.param.rsplit_once('#').and_then(|(c, i)| Some((c, i.parse::<usize>().ok()?))) {
            if i < MAX_COMPONENTS {
                let slots = composites.entry((code, e.group)).or_default();
                if slots.len() <= i {
                    slots.resize_with(i + 1, Vec::new);
                }
                slots[i].push(&e.value);
            }
            continue;
        }
        if let (true, IndexValue::String { norm, .. }) = (is_full_text(&e.param), &e.value) {
            for chunk in chunks(norm) {
                families.entry("ft").or_default().push(json!({"p": e.param, "norm": chunk}));
            }
            continue;
        }
        let (family, mut m) = value_fields(&e.value);
        m.insert("p".into(), json!(e.param));
        families.entry(family).or_default().push(Value::Object(m));
    }
    for ((code, _), slots) in &composites {
        for combo in combinations(slots) {
            let mut m = Map::new();
            m.insert("p".into(), json!(code));
            for (i, v) in combo.into_iter().enumerate() {
                let (family, mut fields) = value_fields(v);
                fields.remove("s");
                fields.remove("s2");
                let mut slot = Map::new();
                slot.insert(family.into(), Value::Object(fields));
                m.insert(format!("c{i}"), Value::Object(slot));
            }
            families.entry("comp").or_default().push(Value::Object(m));
        }
    }
    doc.insert("params".into(), json!(params));
    for (family, values) in families {
        doc.insert(family.into(), Value::Array(values));
    }
    Value::Object(doc)
}

/// A deleted resource: kept as a marker carrying its version, so that an older version
/// arriving late is refused by external versioning (a real delete forgets the version).
pub fn tombstone(v: &StoredVersion) -> Value {
    Value::Object(base(v, true))
}

fn base(v: &StoredVersion, deleted: bool) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("key".into(), json!(key(&v.resource_type, &v.id)));
    doc.insert("rtype".into(), json!(v.resource_type));
    doc.insert("id".into(), json!(v.id));
    doc.insert("version".into(), json!(v.version));
    doc.insert("lu".into(), json!(v.last_updated));
    doc.insert("method".into(), json!(v.method.as_str()));
    doc.insert("created".into(), json!(v.created));
    doc.insert("deleted".into(), json!(deleted));
    doc
}

/// Every choice of one value per component (none when a component has no value).
fn combinations<'a>(slots: &[Vec<&'a IndexValue>]) -> Vec<Vec<&'a IndexValue>> {
    let mut out: Vec<Vec<&IndexValue>> = vec![Vec::new()];
    for values in slots {
        let mut next = Vec::new();
        for prefix in &out {
            for v in values {
                if next.len() >= MAX_COMBINATIONS {
                    break;
                }
                let mut c = prefix.clone();
                c.push(*v);
                next.push(c);
            }
        }
        out = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persistence::Method;

    #[test]
    fn encodings_keep_order() {
        let ints = [i64::MIN, -5, -1, 0, 1, 1_000_000, i64::MAX];
        for w in ints.windows(2) {
            assert!(enc_i64(w[0]) < enc_i64(w[1]), "{w:?}");
        }
        let floats = [f64::MIN, -1e10, -0.5, -1e-300, 0.0, 1e-300, 0.25, 100.0, 9e307, f64::MAX];
        for w in floats.windows(2) {
            assert!(enc_f64(w[0]) < enc_f64(w[1]), "{w:?}");
        }
        assert_eq!(enc_f64(-0.0), enc_f64(0.0));
    }

    #[test]
    fn chunks_overlap_so_short_substrings_are_whole() {
        let text: String = (0..10_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let cs = chunks(&text);
        assert!(cs.len() > 2 && cs.iter().all(|c| c.chars().count() <= FT_CHUNK));
        for start in (0..text.len() - FT_OVERLAP).step_by(337) {
            let needle = &text[start..start + FT_OVERLAP];
            assert!(cs.iter().any(|c| c.contains(needle)), "substring at {start}");
        }
        assert_eq!(chunks("short"), vec!["short".to_string()]);
    }

    #[test]
    fn document_groups_values_and_composites() {
        let v = StoredVersion { resource_type: "Observation".into(), id: "o1".into(), version: 3, last_updated: 7, method: Method::Put, created: false, body: None };
        let tok = |s: &str, c: &str| IndexValue::Token { system: Some(s.into()), code: Some(c.into()), text: None };
        let qty = IndexValue::Quantity { value: 5.0, low: 4.5, high: 5.5, system: None, code: Some("mg".into()), unit: None };
        let entries = vec![
            IndexEntry { param: "code".into(), group: 0, value: tok("http://loinc.org", "1") },
            IndexEntry { param: "code-value-quantity#0".into(), group: 1, value: tok("http://loinc.org", "1") },
            IndexEntry { param: "code-value-quantity#0".into(), group: 1, value: tok("http://x", "2") },
            IndexEntry { param: "code-value-quantity#1".into(), group: 1, value: qty },
            IndexEntry { param: "_content".into(), group: 0, value: IndexValue::String { norm: "hello".into(), exact: String::new() } },
        ];
        let d = document(&v, "{}", &entries);
        assert_eq!(d["tok"].as_array().unwrap().len(), 1);
        assert_eq!(d["comp"].as_array().unwrap().len(), 2, "one per combination");
        assert_eq!(d["comp"][1]["c0"]["tok"]["code"], "2");
        assert_eq!(d["comp"][1]["c1"]["qty"]["code"], "mg");
        assert_eq!(d["ft"][0]["norm"], "hello");
        assert_eq!(d["deleted"], false);
        assert!(d["params"].as_array().unwrap().iter().any(|p| p == "code"));
        assert_eq!(tombstone(&v)["deleted"], true);
    }
}
