//! Small builders for the OpenSearch query DSL (all in filter context: no scoring).
use serde_json::{json, Map, Value};

fn one(k: impl Into<String>, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(k.into(), v);
    Value::Object(m)
}

pub fn term(field: impl Into<String>, v: impl Into<Value>) -> Value {
    one("term", one(field, v.into()))
}

pub fn terms(field: impl Into<String>, vs: Vec<Value>) -> Value {
    if vs.is_empty() {
        return none();
    }
    one("terms", one(field, Value::Array(vs)))
}

pub fn exists(field: impl Into<String>) -> Value {
    json!({"exists": {"field": field.into()}})
}

pub fn range(field: impl Into<String>, op: &str, v: impl Into<Value>) -> Value {
    one("range", one(field, one(op, v.into())))
}

pub fn prefix(field: impl Into<String>, v: &str, case_insensitive: bool) -> Value {
    let mut body = json!({"value": v});
    if case_insensitive {
        body["case_insensitive"] = json!(true);
    }
    one("prefix", one(field, body))
}

/// `*text*`: a substring, with the wildcard syntax escaped.
pub fn contains(field: impl Into<String>, text: &str) -> Value {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('*');
    for c in text.chars() {
        if matches!(c, '*' | '?' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('*');
    one("wildcard", one(field, json!({"value": pattern})))
}

pub fn all() -> Value {
    json!({"match_all": {}})
}

pub fn none() -> Value {
    json!({"match_none": {}})
}

pub fn and(qs: Vec<Value>) -> Value {
    match qs.len() {
        0 => all(),
        1 => qs.into_iter().next().unwrap_or_else(all),
        _ => json!({"bool": {"filter": qs}}),
    }
}

pub fn or(qs: Vec<Value>) -> Value {
    match qs.len() {
        0 => none(),
        1 => qs.into_iter().next().unwrap_or_else(none),
        _ => json!({"bool": {"should": qs, "minimum_should_match": 1}}),
    }
}

pub fn not(q: Value) -> Value {
    json!({"bool": {"must_not": [q]}})
}

pub fn nested(path: &str, q: Value) -> Value {
    json!({"nested": {"path": path, "query": q}})
}

/// Live documents of `types` (all types when empty).
pub fn live(types: &[String]) -> Value {
    let mut qs = vec![term("deleted", false)];
    if !types.is_empty() {
        qs.push(terms("rtype", types.iter().map(|t| json!(t)).collect()));
    }
    and(qs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_is_escaped() {
        assert_eq!(contains("f", "a*b?c\\"), json!({"wildcard": {"f": {"value": "*a\\*b\\?c\\\\*"}}}));
        assert_eq!(or(vec![]), none());
        assert_eq!(and(vec![term("a", 1)]), term("a", 1));
        assert_eq!(terms("x", vec![]), none());
    }
}
