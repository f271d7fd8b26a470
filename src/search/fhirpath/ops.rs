//! Operators: equality, equivalence, ordering, arithmetic, boolean logic.
use std::cmp::Ordering;

use serde_json::Value;

use super::nav::prim;
use super::parser::Op;
use super::value::{canonical_unit, normalize, Temporal};
use super::{Dec, Item};

pub type R<'a> = Result<Vec<Item<'a>>, String>;

pub fn system_type(it: &Item<'_>) -> &'static str {
    match it {
        Item::Bool(_) => "Boolean",
        Item::Int(_) => "Integer",
        Item::Decimal(_) => "Decimal",
        Item::Str(_) => "String",
        Item::Date(_) => "Date",
        Item::DateTime(_) => "DateTime",
        Item::Time(_) => "Time",
        Item::Quantity { .. } => "Quantity",
        Item::TypeInfo { .. } => "TypeInfo",
        Item::Node(_) | Item::Resolved { .. } => "Any",
    }
}

/// Singleton evaluation in a boolean context: `None` for empty.
pub fn to_bool(c: &[Item<'_>]) -> Result<Option<bool>, String> {
    match c {
        [] => Ok(None),
        [x] => match prim(x) {
            Item::Bool(b) => Ok(Some(b)),
            _ => Ok(Some(true)),
        },
        _ => Err("boolean expression on a collection of more than one item".into()),
    }
}

fn as_dec(it: &Item<'_>) -> Option<Dec> {
    match it {
        Item::Int(i) => Some(Dec::from_int(*i)),
        Item::Decimal(d) => Some(*d),
        _ => None,
    }
}

fn temporal(it: &Item<'_>) -> Option<Temporal> {
    match it {
        Item::Date(s) | Item::DateTime(s) => Temporal::parse_date_time(s),
        Item::Time(s) => Temporal::parse_time(s),
        _ => None,
    }
}

/// Ordering of two single values; `Ok(None)` when it depends on missing precision.
pub fn compare(a: &Item<'_>, b: &Item<'_>) -> Result<Option<Ordering>, String> {
    let (a, b) = (prim(a), prim(b));
    if let (Some(x), Some(y)) = (as_dec(&a), as_dec(&b)) {
        return Ok(Some(x.cmp_num(&y)));
    }
    match (&a, &b) {
        (Item::Str(x), Item::Str(y)) => Ok(Some(x.cmp(y))),
        (Item::Quantity { value: v1, unit: u1 }, Item::Quantity { value: v2, unit: u2 }) => {
            Ok(qty_pair(*v1, u1, *v2, u2).map(|(x, y)| x.cmp_num(&y)))
        }
        (Item::Time(_), Item::Time(_))
        | (Item::Date(_) | Item::DateTime(_), Item::Date(_) | Item::DateTime(_)) => {
            match (temporal(&a), temporal(&b)) {
                (Some(x), Some(y)) => Ok(x.compare(&y)),
                _ => Err("invalid date/time value".into()),
            }
        }
        (Item::Date(s), Item::Str(t)) | (Item::DateTime(s), Item::Str(t)) => {
            // FHIR string compared with a date literal: treat the string as a date-time
            match (Temporal::parse_date_time(s), Temporal::parse_date_time(t)) {
                (Some(x), Some(y)) => Ok(x.compare(&y)),
                _ => Err("cannot compare string with date".into()),
            }
        }
        (Item::Str(_), Item::Date(_) | Item::DateTime(_)) => Ok(compare(&b, &a)?.map(Ordering::reverse)),
        _ => Err(format!("cannot compare {} with {}", system_type(&a), system_type(&b))),
    }
}

fn temporal_type(t: Option<&str>) -> bool {
    matches!(t, Some("date" | "dateTime" | "instant" | "time"))
}

/// `=` on single items: `None` when undetermined.
pub fn equals(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    // fast paths for nodes (union/distinct compare many), without converting to values
    if let (Item::Node(x), Item::Node(y)) = (a, b) {
        if std::ptr::eq(x.value, y.value) {
            return Some(true);
        }
        match (x.value, y.value) {
            (Value::Object(_), _) | (_, Value::Object(_)) => return Some(x.value == y.value),
            (Value::String(s1), Value::String(s2)) if !temporal_type(x.type_name) && !temporal_type(y.type_name) => {
                return Some(s1 == s2)
            }
            _ => {}
        }
    }
    let (a, b) = (prim(a), prim(b));
    if let (Some(x), Some(y)) = (as_dec(&a), as_dec(&b)) {
        return Some(x.cmp_num(&y) == Ordering::Equal);
    }
    match (&a, &b) {
        (Item::Bool(x), Item::Bool(y)) => Some(x == y),
        (Item::Str(x), Item::Str(y)) => Some(x == y),
        (Item::Date(_) | Item::DateTime(_), Item::Date(_) | Item::DateTime(_)) | (Item::Time(_), Item::Time(_)) => {
            compare(&a, &b).ok().flatten().map(|o| o == Ordering::Equal)
        }
        (Item::Date(_) | Item::DateTime(_), Item::Str(_)) | (Item::Str(_), Item::Date(_) | Item::DateTime(_)) => {
            compare(&a, &b).ok().flatten().map(|o| o == Ordering::Equal)
        }
        (Item::Quantity { value: v1, unit: u1 }, Item::Quantity { value: v2, unit: u2 }) => {
            match qty_pair(*v1, u1, *v2, u2) {
                Some((x, y)) => Some(x.cmp_num(&y) == Ordering::Equal),
                // both known, different dimensions: unequal
                None if normalize(*v1, u1).is_some() && normalize(*v2, u2).is_some() => Some(false),
                None => None,
            }
        }
        (Item::Node(x), Item::Node(y)) => Some(x.value == y.value),
        (Item::Resolved { reference: x, .. }, Item::Resolved { reference: y, .. }) => Some(x == y),
        (Item::TypeInfo { namespace: n1, name: x }, Item::TypeInfo { namespace: n2, name: y }) => Some(n1 == n2 && x == y),
        _ => Some(false),
    }
}

/// Both values in the same unit, when comparable.
fn qty_pair(v1: Dec, u1: &str, v2: Dec, u2: &str) -> Option<(Dec, Dec)> {
    if canonical_unit(u1) == canonical_unit(u2) {
        return Some((v1, v2));
    }
    match (normalize(v1, u1), normalize(v2, u2)) {
        (Some((a, b1)), Some((b, b2))) if b1 == b2 => Some((a, b)),
        _ => None,
    }
}

fn norm_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// `~` on single items.
pub fn equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    let (a, b) = (prim(a), prim(b));
    if let (Some(x), Some(y)) = (as_dec(&a), as_dec(&b)) {
        let p = x.s.min(y.s);
        return x.round(p).cmp_num(&y.round(p)) == Ordering::Equal;
    }
    match (&a, &b) {
        (Item::Str(x), Item::Str(y)) => norm_ws(x) == norm_ws(y),
        (Item::Date(_) | Item::DateTime(_) | Item::Time(_), _) => {
            matches!(compare(&a, &b), Ok(Some(Ordering::Equal)))
        }
        (Item::Node(x), Item::Node(y)) => x.value == y.value,
        (Item::Quantity { value: v1, unit: u1 }, Item::Quantity { value: v2, unit: u2 }) => {
            match qty_pair(*v1, u1, *v2, u2) {
                Some((x, y)) => {
                    let p = v1.s.min(v2.s);
                    x.round(p).cmp_num(&y.round(p)) == Ordering::Equal
                }
                None => false,
            }
        }
        _ => equals(&a, &b).unwrap_or(false),
    }
}

pub fn collection_equals(a: &[Item<'_>], b: &[Item<'_>]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut result = Some(true);
    for (x, y) in a.iter().zip(b) {
        match equals(x, y) {
            Some(true) => {}
            Some(false) => return Some(false),
            None => result = None,
        }
    }
    result
}

pub fn collection_equivalent(a: &[Item<'_>], b: &[Item<'_>]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = b.iter().enumerate().find(|(i, y)| !used[*i] && equivalent(x, y));
        match found {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
}

pub fn contains_item(c: &[Item<'_>], x: &Item<'_>) -> bool {
    c.iter().any(|y| equals(x, y) == Some(true))
}

pub fn distinct<'a>(c: Vec<Item<'a>>) -> Vec<Item<'a>> {
    let mut out: Vec<Item<'a>> = Vec::with_capacity(c.len());
    for x in c {
        if !contains_item(&out, &x) {
            out.push(x);
        }
    }
    out
}

fn single<'a, 'b>(c: &'b [Item<'a>], what: &str) -> Result<Option<&'b Item<'a>>, String> {
    match c {
        [] => Ok(None),
        [x] => Ok(Some(x)),
        _ => Err(format!("{what}: operand is a collection of more than one item")),
    }
}

pub fn boolean<'a>(op: Op, a: Option<bool>, b: Option<bool>) -> Vec<Item<'a>> {
    let r = match op {
        Op::And => match (a, b) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Op::Or => match (a, b) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Op::Xor => match (a, b) {
            (Some(x), Some(y)) => Some(x != y),
            _ => None,
        },
        _ => match (a, b) {
            (Some(false), _) | (_, Some(true)) => Some(true),
            (Some(true), Some(false)) => Some(false),
            _ => None,
        },
    };
    r.map(Item::Bool).into_iter().collect()
}

/// Binary operators other than the boolean ones, union and membership.
pub fn binary<'a>(op: Op, l: &[Item<'a>], r: &[Item<'a>]) -> R<'a> {
    let bool1 = |b: Option<bool>| Ok(b.map(Item::Bool).into_iter().collect());
    match op {
        Op::Eq => return bool1(collection_equals(l, r)),
        Op::Ne => return bool1(collection_equals(l, r).map(|b| !b)),
        Op::Equiv => return bool1(Some(collection_equivalent(l, r))),
        Op::NotEquiv => return bool1(Some(!collection_equivalent(l, r))),
        Op::Concat => {
            let s = |c: &[Item<'a>]| -> Result<String, String> {
                Ok(match single(c, "&")? {
                    Some(x) => super::funcs_more::to_string(x).unwrap_or_default(),
                    None => String::new(),
                })
            };
            return Ok(vec![Item::Str(s(l)? + &s(r)?)]);
        }
        _ => {}
    }
    let (Some(a), Some(b)) = (single(l, "operator")?, single(r, "operator")?) else { return Ok(vec![]) };
    match op {
        Op::Lt | Op::Gt | Op::Le | Op::Ge => {
            let Some(o) = compare(a, b)? else { return Ok(vec![]) };
            let res = match op {
                Op::Lt => o == Ordering::Less,
                Op::Gt => o == Ordering::Greater,
                Op::Le => o != Ordering::Greater,
                _ => o != Ordering::Less,
            };
            Ok(vec![Item::Bool(res)])
        }
        _ => Ok(arith(op, &prim(a), &prim(b))?.into_iter().collect()),
    }
}

fn arith<'a>(op: Op, a: &Item<'a>, b: &Item<'a>) -> Result<Option<Item<'a>>, String> {
    if let (Item::Int(x), Item::Int(y)) = (a, b) {
        return Ok(match op {
            Op::Add => x.checked_add(*y).map(Item::Int),
            Op::Sub => x.checked_sub(*y).map(Item::Int),
            Op::Mul => x.checked_mul(*y).map(Item::Int),
            Op::Div => Dec::from_int(*x).divide(Dec::from_int(*y)).map(Item::Decimal),
            Op::IntDiv => x.checked_div(*y).map(Item::Int),
            Op::Mod => x.checked_rem(*y).map(Item::Int),
            _ => None,
        });
    }
    if let (Some(x), Some(y)) = (as_dec(a), as_dec(b)) {
        return Ok(match op {
            Op::Add => x.plus(y).map(Item::Decimal),
            Op::Sub => x.minus(y).map(Item::Decimal),
            Op::Mul => x.times(y).map(Item::Decimal),
            Op::Div => x.divide(y).map(Item::Decimal),
            Op::IntDiv => x.div_trunc(y).and_then(|v| i64::try_from(v).ok()).map(Item::Int),
            Op::Mod => x.modulo(y).map(Item::Decimal),
            _ => None,
        });
    }
    match (op, a, b) {
        (Op::Add, Item::Str(x), Item::Str(y)) => Ok(Some(Item::Str(format!("{x}{y}")))),
        (Op::Add | Op::Sub, Item::Quantity { value: v1, unit: u1 }, Item::Quantity { value: v2, unit: u2 }) => {
            if canonical_unit(u1) != canonical_unit(u2) {
                return Ok(None);
            }
            let v = if op == Op::Add { v1.plus(*v2) } else { v1.minus(*v2) };
            Ok(v.map(|value| Item::Quantity { value, unit: u1.clone() }))
        }
        (Op::Mul | Op::Div, Item::Quantity { value: v1, unit: u1 }, Item::Quantity { value: v2, unit: u2 }) => {
            // simple unit algebra over base units (`cm * m = m2`, `g / m = g/m`, `m / m = 1`)
            let ((a, b1), (b, b2)) = match (normalize(*v1, u1), normalize(*v2, u2)) {
                (Some(x), Some(y)) => (x, y),
                _ => ((*v1, u1.as_str()), (*v2, u2.as_str())),
            };
            let (value, unit) = match (op, b1 == b2) {
                (Op::Mul, true) => (a.times(b), format!("{b1}2")),
                (Op::Mul, false) => (a.times(b), format!("{b1}.{b2}")),
                (_, true) => (a.divide(b), "1".to_string()),
                (_, false) => (a.divide(b), format!("{b1}/{b2}")),
            };
            Ok(value.map(|value| Item::Quantity { value, unit }))
        }
        (Op::Mul | Op::Div, Item::Quantity { value, unit }, n) if as_dec(n).is_some() => {
            let d = as_dec(n).unwrap_or(Dec::from_int(1));
            let v = if op == Op::Mul { value.times(d) } else { value.divide(d) };
            Ok(v.map(|value| Item::Quantity { value, unit: unit.clone() }))
        }
        (Op::Add | Op::Sub, Item::Date(_) | Item::DateTime(_) | Item::Time(_), Item::Quantity { value, unit }) => {
            let v = if op == Op::Sub { value.negate() } else { *value };
            super::funcs_more::date_add(a, v, unit).map(Some)
        }
        _ => Err(format!("operator not applicable to {} and {}", system_type(a), system_type(b))),
    }
}
