//! FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html): a `Parameters` resource whose
//! `operation` parameters add, insert, delete, replace and move elements at FHIRPath paths.
//! Paths use the subset the spec's examples use: names, `[n]`, `first()`, `last()`,
//! `where(name = 'literal')` (also `!=`), and choice elements by their base name.
use serde_json::{Map, Value};

use crate::error::{FhirError, Result};
use crate::fhir::definitions::Definitions;

fn bad(msg: impl Into<String>) -> FhirError {
    FhirError::BadRequest(msg.into())
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Idx(usize),
}

type Loc = Vec<Step>;

#[derive(Debug)]
enum Seg {
    Name(String),
    Index(usize),
    First,
    Last,
    Where { field: String, equal: bool, literal: String },
}

/// Splits at `sep` outside quotes and parentheses.
fn split_top(text: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut cur) = (0i32, false, String::new());
    for c in text.chars() {
        match c {
            '\'' => quote = !quote,
            '(' | '[' if !quote => depth += 1,
            ')' | ']' if !quote => depth -= 1,
            _ => {}
        }
        if c == sep && depth == 0 && !quote {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn parse_path(path: &str) -> Result<Vec<Seg>> {
    let unsupported = || bad(format!("FHIRPath Patch: path '{}' is not supported", path.chars().take(200).collect::<String>()));
    let mut segs = Vec::new();
    for part in split_top(path.trim(), '.') {
        let part = part.trim();
        if part.is_empty() {
            return Err(unsupported());
        }
        if let Some(inner) = part.strip_prefix("where(").and_then(|p| p.strip_suffix(')')) {
            let (field, equal, literal) = if let Some((f, l)) = inner.split_once("!=") {
                (f, false, l)
            } else if let Some((f, l)) = inner.split_once('=') {
                (f, true, l)
            } else {
                return Err(unsupported());
            };
            let literal = literal.trim();
            let literal = literal.strip_prefix('\'').and_then(|l| l.strip_suffix('\'')).unwrap_or(literal);
            segs.push(Seg::Where { field: field.trim().to_string(), equal, literal: literal.replace("\\'", "'") });
            continue;
        }
        match part {
            "first()" => segs.push(Seg::First),
            "last()" => segs.push(Seg::Last),
            _ => {
                let (name, rest) = match part.find('[') {
                    Some(i) => (&part[..i], Some(&part[i..])),
                    None => (part, None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(unsupported());
                }
                segs.push(Seg::Name(name.to_string()));
                if let Some(rest) = rest {
                    let n = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|n| n.trim().parse().ok()).ok_or_else(unsupported)?;
                    segs.push(Seg::Index(n));
                }
            }
        }
    }
    Ok(segs)
}

fn at<'a>(root: &'a Value, loc: &[Step]) -> Option<&'a Value> {
    let mut cur = root;
    for s in loc {
        cur = match s {
            Step::Key(k) => cur.get(k)?,
            Step::Idx(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

fn at_mut<'a>(root: &'a mut Value, loc: &[Step]) -> Option<&'a mut Value> {
    let mut cur = root;
    for s in loc {
        cur = match s {
            Step::Key(k) => cur.get_mut(k)?,
            Step::Idx(i) => cur.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// The JSON key holding element `name` in `obj` (a choice element by its base name).
fn key_for(obj: &Map<String, Value>, name: &str) -> Option<String> {
    if obj.contains_key(name) {
        return Some(name.to_string());
    }
    obj.keys()
        .find(|k| k.len() > name.len() && k.starts_with(name) && k[name.len()..].starts_with(|c: char| c.is_ascii_uppercase()))
        .cloned()
}

fn primitive_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Resolves a path to locations in the resource.
fn resolve(resource: &Value, path: &str) -> Result<Vec<Loc>> {
    let segs = parse_path(path)?;
    let rtype = resource.get("resourceType").and_then(Value::as_str).unwrap_or("");
    let mut iter = segs.into_iter().peekable();
    match iter.peek() {
        Some(Seg::Name(n)) if n == rtype => {
            iter.next();
        }
        _ => return Err(bad(format!("FHIRPath Patch: path '{}' must start with '{rtype}'", path.chars().take(200).collect::<String>()))),
    }
    let mut cur: Vec<Loc> = vec![Vec::new()];
    for seg in iter {
        cur = match seg {
            Seg::Name(name) => {
                let mut next = Vec::new();
                for loc in &cur {
                    let Some(Value::Object(obj)) = at(resource, loc) else { continue };
                    let Some(key) = key_for(obj, &name) else { continue };
                    let mut base = loc.clone();
                    base.push(Step::Key(key.clone()));
                    match &obj[&key] {
                        Value::Array(a) => {
                            for i in 0..a.len() {
                                let mut l = base.clone();
                                l.push(Step::Idx(i));
                                next.push(l);
                            }
                        }
                        _ => next.push(base),
                    }
                }
                next
            }
            Seg::Index(i) => cur.get(i).cloned().into_iter().collect(),
            Seg::First => cur.first().cloned().into_iter().collect(),
            Seg::Last => cur.last().cloned().into_iter().collect(),
            Seg::Where { field, equal, literal } => cur
                .into_iter()
                .filter(|loc| {
                    let v = at(resource, loc).and_then(|n| n.get(&field)).and_then(primitive_text);
                    (v.as_deref() == Some(literal.as_str())) == equal
                })
                .collect(),
        };
    }
    Ok(cur)
}

/// True when element `name` below the element at `keys` (JSON keys from the root) repeats.
fn is_list(defs: &Definitions, rtype: &str, keys: &[String], name: &str) -> Option<bool> {
    let mut td = defs.type_def(rtype)?;
    let mut path = td.name.clone();
    let mut all: Vec<&str> = keys.iter().map(String::as_str).collect();
    all.push(name);
    for (n, key) in all.iter().enumerate() {
        let children = td.children_of(&path)?;
        let &(ei, ti) = children.keys.get(*key)?;
        let el = td.elements.get(ei)?;
        if n + 1 == all.len() {
            return Some(!el.is_single());
        }
        if let Some(cr) = &el.content_reference {
            path = cr.clone();
        } else if td.has_children(&el.path) {
            path = el.path.clone();
        } else {
            td = defs.type_def(el.types.get(ti)?)?;
            path = td.name.clone();
        }
    }
    None
}

fn part<'a>(op: &'a Value, name: &str) -> Option<&'a Value> {
    op.get("part")?.as_array()?.iter().find(|p| p.get("name").and_then(Value::as_str) == Some(name))
}

fn part_str(op: &Value, name: &str) -> Option<String> {
    let p = part(op, name)?;
    p.as_object()?.iter().find(|(k, _)| k.starts_with("value")).and_then(|(_, v)| primitive_text(v))
}

/// The value of a part: a `value[x]`, or an anonymous type built from nested parts.
fn part_value(p: &Value) -> Option<Value> {
    if let Some((_, v)) = p.as_object()?.iter().find(|(k, _)| k.starts_with("value")) {
        return Some(v.clone());
    }
    let parts = p.get("part")?.as_array()?;
    let mut obj = Map::new();
    for sub in parts {
        let name = sub.get("name")?.as_str()?.to_string();
        let v = part_value(sub)?;
        obj.insert(name, v);
    }
    Some(Value::Object(obj))
}

fn value_of(op: &Value, i: usize) -> Result<Value> {
    part(op, "value").and_then(part_value).ok_or_else(|| bad(format!("FHIRPath Patch operation {i} has no value")))
}

fn one(locs: Vec<Loc>, path: &str, what: &str) -> Result<Loc> {
    match locs.len() {
        1 => Ok(locs.into_iter().next().unwrap_or_default()),
        0 => Err(bad(format!("FHIRPath Patch {what}: no content found at '{path}'"))),
        n => Err(bad(format!("FHIRPath Patch {what}: '{path}' matches {n} elements; exactly one is required"))),
    }
}

fn keys_of(loc: &[Step]) -> Vec<String> {
    loc.iter().filter_map(|s| if let Step::Key(k) = s { Some(k.clone()) } else { None }).collect()
}

/// Removes the element at `loc`, dropping an array that becomes empty.
fn remove_at(resource: &mut Value, loc: &[Step]) {
    let Some((last, parent)) = loc.split_last() else { return };
    match last {
        Step::Key(k) => {
            let empty = match at_mut(resource, parent) {
                Some(Value::Object(o)) => {
                    o.shift_remove(k);
                    o.shift_remove(&format!("_{k}"));
                    o.is_empty()
                }
                _ => false,
            };
            // FHIR JSON has no empty objects: an element left without content goes too.
            if empty && !parent.is_empty() {
                remove_at(resource, parent);
            }
        }
        Step::Idx(i) => {
            let empty = match at_mut(resource, parent) {
                Some(Value::Array(a)) if *i < a.len() => {
                    a.remove(*i);
                    a.is_empty()
                }
                _ => false,
            };
            if empty {
                remove_at(resource, parent);
            }
        }
    }
}

/// The array at `path` (a list element) and its parent object, created empty when absent.
fn list_mut<'a>(resource: &'a mut Value, path: &str, what: &str) -> Result<&'a mut Vec<Value>> {
    let mut segs = split_top(path, '.');
    let name = segs.pop().unwrap_or_default();
    let parent_path = segs.join(".");
    let parent = one(resolve(resource, &parent_path)?, &parent_path, what)?;
    let obj = at_mut(resource, &parent).and_then(Value::as_object_mut).ok_or_else(|| bad(format!("FHIRPath Patch {what}: '{parent_path}' is not an element with children")))?;
    let entry = obj.entry(name.trim().to_string()).or_insert_with(|| Value::Array(Vec::new()));
    entry.as_array_mut().ok_or_else(|| bad(format!("FHIRPath Patch {what}: '{path}' is not a list")))
}

fn int_part(op: &Value, name: &str, i: usize) -> Result<usize> {
    part_str(op, name).and_then(|s| s.parse().ok()).ok_or_else(|| bad(format!("FHIRPath Patch operation {i}: '{name}' must be a non-negative integer")))
}

/// Applies a FHIRPath Patch `Parameters` resource to `resource`.
pub fn apply(defs: &Definitions, resource: &mut Value, patch: &Value) -> Result<()> {
    if patch.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(bad("a FHIRPath Patch body must be a Parameters resource"));
    }
    let rtype = resource.get("resourceType").and_then(Value::as_str).unwrap_or("").to_string();
    let mut work = resource.clone();
    let empty = Vec::new();
    let params = patch.get("parameter").and_then(Value::as_array).unwrap_or(&empty);
    for (i, op) in params.iter().enumerate() {
        if op.get("name").and_then(Value::as_str) != Some("operation") {
            return Err(bad(format!("FHIRPath Patch: parameter {i} is not named 'operation'")));
        }
        let kind = part_str(op, "type").ok_or_else(|| bad(format!("FHIRPath Patch operation {i} has no type")))?;
        let path = part_str(op, "path").ok_or_else(|| bad(format!("FHIRPath Patch operation {i} has no path")))?;
        match kind.as_str() {
            "add" => {
                let name = part_str(op, "name").ok_or_else(|| bad(format!("FHIRPath Patch operation {i} (add) has no name")))?;
                let value = value_of(op, i)?;
                let loc = one(resolve(&work, &path)?, &path, "add")?;
                let list = is_list(defs, &rtype, &keys_of(&loc), &name);
                let obj = at_mut(&mut work, &loc).and_then(Value::as_object_mut).ok_or_else(|| bad(format!("FHIRPath Patch add: '{path}' is not an element with children")))?;
                match (obj.get_mut(&name), list) {
                    (Some(Value::Array(a)), _) => a.push(value),
                    (Some(_), Some(true)) | (Some(_), None) => return Err(bad(format!("FHIRPath Patch add: '{path}.{name}' already has a value"))),
                    (Some(slot), Some(false)) => *slot = value,
                    (None, Some(true)) => {
                        obj.insert(name, Value::Array(vec![value]));
                    }
                    (None, _) => {
                        obj.insert(name, value);
                    }
                }
            }
            "insert" => {
                let index = int_part(op, "index", i)?;
                let value = value_of(op, i)?;
                let list = list_mut(&mut work, &path, "insert")?;
                if index > list.len() {
                    return Err(bad(format!("FHIRPath Patch insert: index {index} is beyond the end of '{path}'")));
                }
                list.insert(index, value);
            }
            "delete" => match resolve(&work, &path)?.len() {
                0 => {}
                1 => {
                    let loc = one(resolve(&work, &path)?, &path, "delete")?;
                    remove_at(&mut work, &loc);
                }
                n => return Err(bad(format!("FHIRPath Patch delete: '{path}' matches {n} elements; exactly one is required"))),
            },
            "replace" => {
                let value = value_of(op, i)?;
                let loc = one(resolve(&work, &path)?, &path, "replace")?;
                if let Some(slot) = at_mut(&mut work, &loc) {
                    *slot = value;
                }
            }
            "move" => {
                let source = int_part(op, "source", i)?;
                let dest = int_part(op, "destination", i)?;
                let list = list_mut(&mut work, &path, "move")?;
                if source >= list.len() || dest >= list.len() {
                    return Err(bad(format!("FHIRPath Patch move: index out of range for '{path}' ({} elements)", list.len())));
                }
                let v = list.remove(source);
                list.insert(dest, v);
            }
            other => return Err(bad(format!("FHIRPath Patch: unknown operation type '{}'", other.chars().take(40).collect::<String>()))),
        }
    }
    *resource = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::apply;
    use crate::fhir::definitions::Definitions;
    use serde_json::json;

    fn op(parts: serde_json::Value) -> serde_json::Value {
        json!({"resourceType": "Parameters", "parameter": [{"name": "operation", "part": parts}]})
    }

    #[test]
    fn add_replace_delete() {
        let defs = Definitions::r4();
        let mut p = json!({"resourceType": "Patient"});
        apply(defs, &mut p, &op(json!([{"name": "type", "valueCode": "add"}, {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "identifier"}, {"name": "value", "valueIdentifier": {"value": "a"}}]))).unwrap();
        assert_eq!(p["identifier"], json!([{"value": "a"}]));
        apply(defs, &mut p, &op(json!([{"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.identifier.where(value = 'a').value"},
            {"name": "value", "valueString": "b"}]))).unwrap();
        assert_eq!(p["identifier"][0]["value"], "b");
        apply(defs, &mut p, &op(json!([{"name": "type", "valueCode": "delete"}, {"name": "path", "valueString": "Patient.identifier[0]"}]))).unwrap();
        assert_eq!(p, json!({"resourceType": "Patient"}));
    }
}
