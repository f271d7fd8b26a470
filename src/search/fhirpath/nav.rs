//! Navigation over FHIR JSON with element types from the R4 definitions.
use serde_json::Value;

use super::{defs, Dec, Item, Node, TypeSpec};
use crate::fhir::definitions::{Kind, TypeDef};
use crate::fhir::json::SCAN_MAX;

/// A node for a resource (or any JSON object with a `resourceType`).
pub fn root_node(v: &Value) -> Item<'_> {
    // `resourceType` comes first in nearly every resource.
    let rt = match v.as_object().and_then(|o| o.iter().next()) {
        Some((k, t)) if k == "resourceType" => t.as_str(),
        _ => v.get("resourceType").and_then(Value::as_str),
    };
    let def = rt.and_then(|t| defs().type_def(t)).map(|d| (d, d.name.as_str()));
    Item::Node(Node { value: v, type_name: rt, def, ext: None })
}

/// A node of the named FHIR type (definition looked up by type name).
fn typed<'a>(v: &'a Value, ty: &'static str) -> Node<'a> {
    if ty == "Resource" || ty == "DomainResource" {
        if let Item::Node(n) = root_node(v) {
            if n.type_name.is_some() {
                return n;
            }
        }
    }
    let def = defs().type_def(ty).map(|d| (d, d.name.as_str()));
    Node { value: v, type_name: Some(ty), def, ext: None }
}

static NULL: Value = Value::Null;

/// Member `name` of `obj` and its `_name` sibling (a primitive's id and extensions).
fn member_and_ext<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> (Option<&'a Value>, Option<&'a Value>) {
    if obj.len() > SCAN_MAX {
        return (obj.get(name), underscored(obj, name));
    }
    let (mut v, mut ext) = (None, None);
    for (k, x) in obj {
        if k == name {
            v = Some(x);
        } else if k.strip_prefix('_') == Some(name) {
            ext = Some(x);
        }
    }
    (v, ext)
}

/// The `_name` sibling of member `name`, looked up without building the key on the heap.
fn underscored<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    if obj.len() <= SCAN_MAX {
        return obj.iter().find(|(k, _)| k.strip_prefix('_') == Some(name)).map(|(_, v)| v);
    }
    let mut buf = [0u8; 64];
    let n = name.len() + 1;
    if n > buf.len() {
        return obj.get(&format!("_{name}"));
    }
    buf[0] = b'_';
    buf[1..n].copy_from_slice(name.as_bytes());
    // '_' followed by a str is a str.
    std::str::from_utf8(&buf[..n]).ok().and_then(|k| obj.get(k))
}

/// Pushes the value(s) of one JSON property, paired with the primitive extension content of
/// its `_name` sibling (a value that is only extended appears as a node with a null value).
fn push_values<'a>(v: Option<&'a Value>, ext: Option<&'a Value>, mk: &dyn Fn(&'a Value) -> Node<'a>, out: &mut Vec<Item<'a>>) {
    let with_ext = |x: &'a Value, e: Option<&'a Value>| {
        let mut n = mk(x);
        n.ext = e.filter(|e| e.is_object());
        Item::Node(n)
    };
    match (v, ext) {
        (Some(Value::Array(a)), e) | (None, e @ Some(Value::Array(a))) => {
            let ea = match e {
                Some(Value::Array(ea)) => ea.as_slice(),
                _ => &[],
            };
            let vals = match v {
                Some(Value::Array(va)) => va.as_slice(),
                _ => &[],
            };
            let _ = a;
            for i in 0..vals.len().max(ea.len()) {
                let x = vals.get(i).unwrap_or(&NULL);
                let e = ea.get(i).filter(|e| !e.is_null());
                if !x.is_null() || e.is_some() {
                    out.push(with_ext(x, e));
                }
            }
        }
        (Some(x), e) if !x.is_null() => out.push(with_ext(x, e)),
        (_, Some(e)) if e.is_object() => out.push(with_ext(&NULL, Some(e))),
        _ => {}
    }
}

/// Lower-cases the first letter when that names a primitive type (`DateTime` -> `dateTime`).
fn suffix_type(suffix: &str) -> Option<&'static str> {
    let d = defs();
    let mut c = suffix.chars();
    let first = c.next()?;
    let lower: String = first.to_lowercase().chain(c).collect();
    if let Some(t) = d.type_def(&lower).filter(|t| t.kind == Kind::Primitive) {
        return Some(t.name.as_str());
    }
    d.type_def(suffix).map(|t| t.name.as_str())
}

/// Children of `node` named `name` (choice elements expanded), appended to `out`.
pub fn child<'a>(node: &Node<'a>, name: &str, out: &mut Vec<Item<'a>>) {
    let Value::Object(obj) = node.value else {
        // a primitive: `id` and `extension` live in the `_name` sibling
        if let (Some(ext), "extension" | "id") = (node.ext, name) {
            let ty = if name == "id" { "string" } else { "Extension" };
            push_values(ext.get(name), None, &|x| typed(x, ty), out);
        }
        return;
    };
    if let Some((td, path)) = node.def {
        if let Some(ch) = td.children_of(path) {
            for &ei in &ch.elements {
                let e = &td.elements[ei];
                if e.name != name {
                    continue;
                }
                if e.is_choice {
                    // scan the object's keys (few) rather than the choice's types (up to ~50)
                    for (k, v) in obj {
                        if k.len() <= name.len() || !k.starts_with(name) {
                            continue;
                        }
                        let Some(&(ki, ti)) = ch.keys.get(k.as_str()) else { continue };
                        if let (true, Some(ty)) = (ki == ei, e.types.get(ti)) {
                            push_values(Some(v), underscored(obj, k), &|x| typed(x, ty.as_str()), out);
                        }
                    }
                    return;
                }
                let (v, ext) = member_and_ext(obj, name);
                if v.is_none() && ext.is_none() {
                    return;
                }
                if let Some(cr) = &e.content_reference {
                    let p = cr.trim_start_matches('#');
                    let inner = defs().type_def(p.split('.').next().unwrap_or(p)).unwrap_or(td);
                    let p: &'static str = inner.elements.iter().find(|x| x.path == p).map(|x| x.path.as_str()).unwrap_or(path);
                    push_values(v, ext, &|x| Node { value: x, type_name: Some("BackboneElement"), def: Some((inner, p)), ext: None }, out);
                    return;
                }
                let ty: &'static str = e.types.first().map(|s| s.as_str()).unwrap_or("Element");
                if (ty == "BackboneElement" || ty == "Element") && td.has_children(&e.path) {
                    let p: &'static str = e.path.as_str();
                    push_values(v, ext, &|x| Node { value: x, type_name: Some(ty), def: Some((td, p)), ext: None }, out);
                } else {
                    push_values(v, ext, &|x| typed(x, ty), out);
                }
                return;
            }
        }
    }
    // A JSON key used directly (`valueQuantity`): typed from the expanded choice keys.
    if let Some((td, path)) = node.def {
        let hit = td.children_of(path).and_then(|ch| ch.keys.get(name)).and_then(|&(ei, ti)| td.elements.get(ei)?.types.get(ti));
        if let Some(ty) = hit {
            let (v, ext) = member_and_ext(obj, name);
            push_values(v, ext, &|x| typed(x, ty.as_str()), out);
            return;
        }
    }
    // Unknown element: plain lookup, then choice suffixes.
    let (v, ext) = member_and_ext(obj, name);
    if v.is_some() || ext.is_some() {
        push_values(v, ext, &|x| untyped(x), out);
        return;
    }
    for (k, v) in obj {
        if let Some(suffix) = k.strip_prefix(name) {
            if suffix.starts_with(|c: char| c.is_ascii_uppercase()) {
                if let Some(ty) = suffix_type(suffix) {
                    push_values(Some(v), underscored(obj, k), &|x| typed(x, ty), out);
                }
            }
        }
    }
}

fn untyped(v: &Value) -> Node<'_> {
    match root_node(v) {
        Item::Node(n) if n.type_name.is_some() => n,
        _ => Node { value: v, type_name: None, def: None, ext: None },
    }
}

/// All direct children of a node (in JSON order), typed where possible.
pub fn children<'a>(node: &Node<'a>, out: &mut Vec<Item<'a>>) {
    let Value::Object(obj) = node.value else { return };
    for (k, v) in obj {
        if k.starts_with('_') || k == "resourceType" {
            continue;
        }
        let e = node.def.and_then(|(td, p)| {
            let &(ei, ti) = td.children_of(p)?.keys.get(k.as_str())?;
            td.elements.get(ei).map(|e| (e, ti))
        });
        match e {
            Some((e, ti)) if e.is_choice => {
                if let Some(ty) = e.types.get(ti) {
                    push_values(Some(v), underscored(obj, k), &|x| typed(x, ty.as_str()), out);
                }
            }
            Some(_) => child(node, k, out),
            None => push_values(Some(v), underscored(obj, k), &|x| untyped(x), out),
        }
    }
}

/// Converts a primitive node to its System value; other items are returned unchanged.
pub fn prim<'a>(it: &Item<'a>) -> Item<'a> {
    let Item::Node(n) = it else { return it.clone() };
    let ty = n.type_name.unwrap_or("");
    match n.value {
        Value::Bool(b) => Item::Bool(*b),
        Value::Number(num) => {
            let text = num.to_string();
            let is_int = matches!(ty, "integer" | "positiveInt" | "unsignedInt" | "integer64")
                || (ty.is_empty() && !text.contains(['.', 'e', 'E']));
            match (is_int, text.parse::<i64>()) {
                (true, Ok(i)) => Item::Int(i),
                _ => Dec::parse(&text).map(Item::Decimal).unwrap_or_else(|| it.clone()),
            }
        }
        Value::String(s) => match ty {
            "date" => Item::Date(s.clone()),
            "dateTime" | "instant" => {
                if s.contains('T') { Item::DateTime(s.clone()) } else { Item::Date(s.clone()) }
            }
            "time" => Item::Time(s.clone()),
            _ => Item::Str(s.clone()),
        },
        Value::Object(_) if is_quantity_type(ty) => {
            let value = n.value.get("value").map(|v| v.to_string()).and_then(|t| Dec::parse(&t));
            let unit = n.value.get("code").or_else(|| n.value.get("unit")).and_then(Value::as_str).unwrap_or("1");
            match value {
                Some(value) => Item::Quantity { value, unit: unit.to_string() },
                None => it.clone(),
            }
        }
        _ => it.clone(),
    }
}

pub fn is_quantity_type(ty: &str) -> bool {
    matches!(ty, "Quantity" | "Age" | "Duration" | "Distance" | "Count" | "SimpleQuantity" | "MoneyQuantity")
}

const SYSTEM_TYPES: [&str; 9] = ["Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity", "Any"];

/// True when FHIR type `ty` is `want` or derives from it.
pub fn derives(ty: &str, want: &str) -> bool {
    let mut cur: Option<&TypeDef> = defs().type_def(ty);
    if ty == want {
        return true;
    }
    let mut guard = 0;
    while let Some(t) = cur {
        if t.name == want {
            return true;
        }
        guard += 1;
        if guard > 20 {
            break;
        }
        cur = t.base.as_deref().and_then(|b| defs().type_def(b));
    }
    false
}

/// The `is` test (FHIR primitives by derivation: a `code` is a `string`).
pub fn is_type(it: &Item<'_>, ts: &TypeSpec) -> bool {
    type_test(it, ts, false)
}

/// The `as` / `ofType` test: FHIR primitives must match exactly.
pub fn as_type(it: &Item<'_>, ts: &TypeSpec) -> bool {
    type_test(it, ts, true)
}

fn type_test(it: &Item<'_>, ts: &TypeSpec, exact_primitive: bool) -> bool {
    let ns = ts.namespace.as_deref();
    let name = ts.name.as_str();
    match it {
        Item::Node(n) => {
            if ns == Some("System") {
                return false;
            }
            match n.type_name {
                // primitives match exactly (a `code` is not a `string` here); complex types
                // and resources by derivation (an `Age` is a `Quantity`)
                Some(t) if exact_primitive && defs().type_def(t).is_some_and(|d| d.kind == Kind::Primitive) => t == name,
                Some(t) => derives(t, name) || (name == "Resource" && n.value.get("resourceType").is_some()),
                None => false,
            }
        }
        Item::Resolved { type_name, .. } => {
            ns != Some("System") && (type_name == name || matches!(name, "Resource" | "DomainResource") || derives(type_name, name))
        }
        other => {
            if ns == Some("FHIR") || (ns.is_none() && !SYSTEM_TYPES.contains(&name)) {
                return false;
            }
            let st = super::ops::system_type(other);
            st == name || name == "Any"
        }
    }
}
