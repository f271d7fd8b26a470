//! The index: its name per tenant and its explicit mapping, built from the search values
//! (one nested family per parameter type, as the SQLite `sp_*` tables), never the raw resource.
use serde_json::{json, Map, Value};

use crate::error::{FhirError, Result};

/// Bumped when the document shape changes (kept in the mapping's `_meta`).
pub const MAPPING_VERSION: u32 = 1;

/// Composite components indexed per element (R4 composites have two or three).
pub const MAX_COMPONENTS: usize = 4;

/// The families: nested path and the fields of one value (`p` = parameter code). `s` (and
/// `s2`, the high end of a date) is the value's sort key: text cut to `SORT_CHARS`, numbers
/// and dates as order-preserving text, so every sort value (and cursor) is a short string.
pub const FAMILIES: &[(&str, &[(&str, &str)])] = &[
    ("str", &[("norm", "keyword"), ("exact", "keyword"), ("s", "keyword")]),
    ("tok", &[("system", "keyword"), ("code", "keyword"), ("text", "keyword"), ("s", "keyword")]),
    ("date", &[("low", "long"), ("high", "long"), ("s", "keyword"), ("s2", "keyword")]),
    ("num", &[("value", "double"), ("low", "double"), ("high", "double"), ("s", "keyword")]),
    (
        "qty",
        &[("value", "double"), ("low", "double"), ("high", "double"), ("system", "keyword"), ("code", "keyword"), ("unit", "keyword"), ("s", "keyword")],
    ),
    (
        "ref",
        &[("type", "keyword"), ("id", "keyword"), ("url", "keyword"), ("id_system", "keyword"), ("id_value", "keyword"), ("key", "keyword")],
    ),
    ("uri", &[("value", "keyword"), ("s", "keyword")]),
];

/// A prefix: lower-case letters, digits, `-`, `_`, `.`; not starting with `-`, `_`, `+`, `.`.
pub fn check_prefix(prefix: &str) -> Result<()> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 100
        && prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.'))
        && !prefix.starts_with(['-', '_', '+', '.']);
    if ok {
        Ok(())
    } else {
        Err(FhirError::Internal(format!("invalid OpenSearch index prefix '{prefix}': use lower-case letters, digits, '-', '_' and '.'")))
    }
}

/// `{prefix}-{tenant}`, lower-case: the tenant's alias. Tenant ids are FHIR ids
/// (`[A-Za-z0-9-.]`), so an upper-case letter becomes `_` + the letter: `Acme` and `acme`
/// stay two indexes. The concrete indexes behind it are `{alias}~{n}` (`~` never occurs in
/// an alias, so no tenant's alias can name another tenant's index).
pub fn index_name(prefix: &str, tenant: &str) -> Result<String> {
    if tenant.is_empty() || tenant.len() > 64 || !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return Err(FhirError::BadRequest(format!("invalid tenant id '{}'", tenant.chars().take(80).collect::<String>())));
    }
    let mut name = format!("{prefix}-");
    for c in tenant.chars() {
        if c.is_ascii_uppercase() {
            name.push('_');
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    Ok(name)
}

/// Only sort keys need doc values; other keywords are only matched.
fn props(fields: &[(&str, &str)]) -> Map<String, Value> {
    fields
        .iter()
        .map(|(n, t)| {
            let sorted = matches!(*n, "s" | "s2" | "key");
            let spec = if *t == "keyword" && !sorted { json!({"type": t, "doc_values": false}) } else { json!({"type": t}) };
            (n.to_string(), spec)
        })
        .collect()
}

/// Settings and mappings of a tenant's index, created with the aliases `aliases`.
pub fn index_body(aliases: &[&str]) -> Value {
    let mut properties = Map::new();
    let kw = json!({"type": "keyword"});
    for f in ["key", "rtype", "id", "params"] {
        properties.insert(f.into(), kw.clone());
    }
    properties.insert("version".into(), json!({"type": "long"}));
    properties.insert("lu".into(), json!({"type": "long"}));
    properties.insert("deleted".into(), json!({"type": "boolean"}));
    properties.insert("created".into(), json!({"type": "boolean", "index": false}));
    properties.insert("method".into(), json!({"type": "keyword", "index": false, "doc_values": false}));
    // The resource exactly as stored: returned by searches, never indexed.
    properties.insert("body".into(), json!({"type": "keyword", "index": false, "doc_values": false}));
    let mut value_object = Map::new();
    for (family, fields) in FAMILIES {
        let mut p = props(fields);
        p.insert("p".into(), kw.clone());
        properties.insert(family.to_string(), json!({"type": "nested", "properties": p}));
        value_object.insert(family.to_string(), json!({"type": "object", "properties": props(fields)}));
    }
    // `_text` / `_content`: overlapping chunks matched by substring (no sort, no doc values).
    properties.insert(
        "ft".into(),
        json!({"type": "nested", "properties": {"p": {"type": "keyword"}, "norm": {"type": "keyword", "doc_values": false}}}),
    );
    // Composite parameters: one nested value per combination of one element's components.
    let mut comp = Map::new();
    comp.insert("p".into(), kw.clone());
    for i in 0..MAX_COMPONENTS {
        comp.insert(format!("c{i}"), json!({"type": "object", "properties": value_object.clone()}));
    }
    properties.insert("comp".into(), json!({"type": "nested", "properties": comp}));
    let aliases: Map<String, Value> = aliases.iter().map(|a| (a.to_string(), json!({}))).collect();
    json!({
        "aliases": aliases,
        "settings": {"index": {"mapping": {"nested_objects": {"limit": 100000}, "total_fields": {"limit": 2000}}}},
        "mappings": {"dynamic": "strict", "_meta": {"hearth_mapping": MAPPING_VERSION}, "properties": properties}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_never_collide() {
        assert_eq!(index_name("hearth", "acme").unwrap(), "hearth-acme");
        assert_eq!(index_name("hearth", "Acme").unwrap(), "hearth-_acme");
        assert_eq!(index_name("hearth", "a.B-1").unwrap(), "hearth-a._b-1");
        assert!(index_name("hearth", "a/b").is_err());
        assert!(index_name("hearth", "").is_err());
        assert!(check_prefix("hearth-test").is_ok());
        assert!(check_prefix("Hearth").is_err());
        assert!(check_prefix("_x").is_err());
    }

    #[test]
    fn mapping_is_strict_and_has_every_family() {
        let b = index_body(&["x"]);
        assert!(b["aliases"]["x"].is_object());
        assert_eq!(b["mappings"]["dynamic"], "strict");
        for (f, _) in FAMILIES {
            assert_eq!(b["mappings"]["properties"][f]["type"], "nested", "{f}");
            assert_eq!(b["mappings"]["properties"]["comp"]["properties"]["c1"]["properties"][f]["type"], "object");
        }
        assert_eq!(b["mappings"]["properties"]["body"]["index"], false);
    }
}
