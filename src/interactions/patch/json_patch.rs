//! JSON Patch (RFC 6902) over a JSON document: add, remove, replace, move, copy, test.
//! Operations apply in order to a copy; the first failure aborts with a 4xx and no change.
use serde_json::Value;

use crate::error::{FhirError, Result};

fn bad(msg: impl Into<String>) -> FhirError {
    FhirError::BadRequest(msg.into())
}

/// Splits a JSON Pointer into unescaped tokens (`~1` -> `/`, `~0` -> `~`).
fn tokens(pointer: &str) -> Result<Vec<String>> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer.strip_prefix('/').ok_or_else(|| bad(format!("JSON Pointer '{pointer}' must start with '/'")))?;
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

fn index(token: &str, len: usize, allow_end: bool, path: &str) -> Result<usize> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let ok = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    let i: usize = if ok { token.parse().map_err(|_| bad(format!("bad array index in '{path}'")))? } else { return Err(bad(format!("bad array index '{token}' in '{path}'"))) };
    let max = if allow_end { len } else { len.saturating_sub(1) };
    if i > max || (!allow_end && len == 0) {
        return Err(bad(format!("array index {i} is out of bounds at '{path}'")));
    }
    Ok(i)
}

fn get<'a>(doc: &'a Value, path: &str) -> Result<&'a Value> {
    let mut cur = doc;
    for t in tokens(path)? {
        cur = match cur {
            Value::Object(m) => m.get(&t).ok_or_else(|| bad(format!("path '{path}' does not exist")))?,
            Value::Array(a) => &a[index(&t, a.len(), false, path)?],
            _ => return Err(bad(format!("path '{path}' does not exist"))),
        };
    }
    Ok(cur)
}

/// The parent container of `path` and the last token.
fn parent<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String)> {
    let mut toks = tokens(path)?;
    let last = toks.pop().ok_or_else(|| bad("the root cannot be the target of this operation"))?;
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m.get_mut(&t).ok_or_else(|| bad(format!("path '{path}' does not exist: missing objects are not created")))?,
            Value::Array(a) => {
                let i = index(&t, a.len(), false, path)?;
                &mut a[i]
            }
            _ => return Err(bad(format!("path '{path}' does not exist"))),
        };
    }
    Ok((cur, last))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<()> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (p, last) = parent(doc, path)?;
    match p {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            let i = index(&last, a.len(), true, path)?;
            a.insert(i, value);
        }
        _ => return Err(bad(format!("cannot add at '{path}': the parent is not an object or array"))),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value> {
    let (p, last) = parent(doc, path)?;
    match p {
        Value::Object(m) => m.shift_remove(&last).ok_or_else(|| bad(format!("path '{path}' does not exist"))),
        Value::Array(a) => {
            let i = index(&last, a.len(), false, path)?;
            Ok(a.remove(i))
        }
        _ => Err(bad(format!("path '{path}' does not exist"))),
    }
}

/// JSON equality where numbers compare by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.to_string().parse::<f64>().ok() == y.to_string().parse::<f64>().ok(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

fn field<'a>(op: &'a Value, name: &str, i: usize) -> Result<&'a Value> {
    op.get(name).ok_or_else(|| bad(format!("JSON Patch operation {i} has no '{name}'")))
}

fn str_field<'a>(op: &'a Value, name: &str, i: usize) -> Result<&'a str> {
    field(op, name, i)?.as_str().ok_or_else(|| bad(format!("JSON Patch operation {i}: '{name}' must be a string")))
}

/// Applies a JSON Patch document (an array of operations) to `doc`.
pub fn apply(doc: &mut Value, patch: &Value) -> Result<()> {
    let ops = patch.as_array().ok_or_else(|| bad("a JSON Patch document must be a JSON array of operations"))?;
    let mut work = doc.clone();
    for (i, op) in ops.iter().enumerate() {
        let name = str_field(op, "op", i)?;
        let path = str_field(op, "path", i)?;
        match name {
            "add" => add(&mut work, path, field(op, "value", i)?.clone())?,
            "remove" => {
                remove(&mut work, path)?;
            }
            "replace" => {
                let value = field(op, "value", i)?.clone();
                get(&work, path)?;
                if path.is_empty() {
                    work = value;
                } else {
                    remove(&mut work, path)?;
                    add(&mut work, path, value)?;
                }
            }
            "move" => {
                let from = str_field(op, "from", i)?;
                if path.starts_with(from) && path[from.len()..].starts_with('/') {
                    return Err(bad(format!("cannot move '{from}' into its own child '{path}'")));
                }
                let v = remove(&mut work, from)?;
                add(&mut work, path, v)?;
            }
            "copy" => {
                let from = str_field(op, "from", i)?;
                let v = get(&work, from)?.clone();
                add(&mut work, path, v)?;
            }
            "test" => {
                let expected = field(op, "value", i)?;
                if !same(get(&work, path)?, expected) {
                    return Err(FhirError::PreconditionFailed(format!("JSON Patch test at '{path}' failed")));
                }
            }
            other => return Err(bad(format!("unknown JSON Patch operation '{}'", other.chars().take(40).collect::<String>()))),
        }
    }
    *doc = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::apply;
    use serde_json::json;

    #[test]
    fn rfc_examples() {
        let mut d = json!({"foo": ["bar", "baz"]});
        apply(&mut d, &json!([{"op": "add", "path": "/foo/1", "value": "qux"}])).unwrap();
        assert_eq!(d, json!({"foo": ["bar", "qux", "baz"]}));
        let mut d = json!({"q": {"bar": 2}});
        assert!(apply(&mut d, &json!([{"op": "add", "path": "/a/b", "value": 1}])).is_err());
        let mut d = json!({"/": 9, "~1": 10});
        apply(&mut d, &json!([{"op": "test", "path": "/~01", "value": 10}])).unwrap();
        assert!(apply(&mut d, &json!([{"op": "test", "path": "/~01", "value": "10"}])).is_err());
    }
}
