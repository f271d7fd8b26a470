//! Function dispatch: existence, filtering, subsetting, combining, types, navigation.
use serde_json::Value;

use super::eval::{eval, one_int, one_str, Env};
use super::nav::{as_type, children, is_type, prim};
use super::ops::{contains_item, distinct, to_bool, R};
use super::parser::{Ast, TypeSpec};
use super::Item;

fn type_arg(a: &Ast) -> Result<TypeSpec, String> {
    match a {
        Ast::Ident(n) => Ok(TypeSpec { namespace: None, name: n.clone() }),
        Ast::Member(ns, n) => match ns.as_ref() {
            Ast::Ident(ns) => Ok(TypeSpec { namespace: Some(ns.clone()), name: n.clone() }),
            _ => Err("bad type specifier".into()),
        },
        _ => Err("expected a type specifier".into()),
    }
}

fn bools<'a>(b: bool) -> R<'a> {
    Ok(vec![Item::Bool(b)])
}

/// Evaluates `arg` as a lambda on each input item, yielding (item, result).
fn each<'a>(input: &[Item<'a>], arg: &Ast, env: &Env<'a>) -> Result<Vec<(Item<'a>, Vec<Item<'a>>)>, String> {
    let mut out = Vec::with_capacity(input.len());
    for (i, it) in input.iter().enumerate() {
        let e = env.with_this(it.clone(), i);
        let r = eval(arg, std::slice::from_ref(it), &e)?;
        out.push((it.clone(), r));
    }
    Ok(out)
}

pub fn call<'a>(name: &str, input: Vec<Item<'a>>, args: &[Ast], env: &Env<'a>) -> R<'a> {
    let arg = |i: usize| -> R<'a> {
        let a = args.get(i).ok_or_else(|| format!("{name}(): missing argument {}", i + 1))?;
        eval(a, std::slice::from_ref(&env.this), env)
    };
    let nargs = |min: usize, max: usize| -> Result<(), String> {
        if args.len() < min || args.len() > max {
            Err(format!("{name}(): wrong number of arguments"))
        } else {
            Ok(())
        }
    };
    match name {
        "empty" => { nargs(0, 0)?; bools(input.is_empty()) }
        "exists" => {
            nargs(0, 1)?;
            match args.first() {
                None => bools(!input.is_empty()),
                Some(a) => {
                    for (_, r) in each(&input, a, env)? {
                        if to_bool(&r)? == Some(true) {
                            return bools(true);
                        }
                    }
                    bools(false)
                }
            }
        }
        "all" => {
            nargs(1, 1)?;
            for (_, r) in each(&input, &args[0], env)? {
                if to_bool(&r)? != Some(true) {
                    return bools(false);
                }
            }
            bools(true)
        }
        "allTrue" | "anyTrue" | "allFalse" | "anyFalse" => {
            let want = name.ends_with("True");
            let mut any = false;
            let mut all = true;
            for it in &input {
                let Item::Bool(v) = prim(it) else { return Err(format!("{name}(): non-boolean item")) };
                let b = v == want;
                any |= b;
                all &= b;
            }
            bools(if name.starts_with("all") { all } else { any })
        }
        "subsetOf" => { let o = arg(0)?; bools(input.iter().all(|x| contains_item(&o, x))) }
        "supersetOf" => { let o = arg(0)?; bools(o.iter().all(|x| contains_item(&input, x))) }
        "count" => Ok(vec![Item::Int(input.len() as i64)]),
        "distinct" => Ok(distinct(input)),
        "isDistinct" => { let n = input.len(); bools(distinct(input).len() == n) }
        "where" => {
            nargs(1, 1)?;
            let mut out = Vec::new();
            for (it, r) in each(&input, &args[0], env)? {
                if to_bool(&r)? == Some(true) {
                    out.push(it);
                }
            }
            Ok(out)
        }
        "select" => { nargs(1, 1)?; Ok(each(&input, &args[0], env)?.into_iter().flat_map(|(_, r)| r).collect()) }
        "repeat" => {
            nargs(1, 1)?;
            let mut out: Vec<Item<'a>> = Vec::new();
            let mut frontier = input;
            let mut rounds = 0;
            while !frontier.is_empty() && rounds < 1000 {
                rounds += 1;
                let mut next = Vec::new();
                for (_, r) in each(&frontier, &args[0], env)? {
                    for x in r {
                        if !contains_item(&out, &x) {
                            out.push(x.clone());
                            next.push(x);
                        }
                    }
                }
                frontier = next;
            }
            Ok(out)
        }
        "aggregate" => {
            nargs(1, 2)?;
            let mut total = if args.len() > 1 { arg(1)? } else { vec![] };
            for (i, it) in input.iter().enumerate() {
                let mut e = env.with_this(it.clone(), i);
                e.total = Some(total);
                total = eval(&args[0], std::slice::from_ref(it), &e)?;
            }
            Ok(total)
        }
        "ofType" => { nargs(1, 1)?; let t = type_arg(&args[0])?; check_type(&t)?; Ok(input.into_iter().filter(|x| as_type(x, &t)).collect()) }
        "is" | "as" => {
            nargs(1, 1)?;
            let t = type_arg(&args[0])?;
            check_type(&t)?;
            if name == "as" {
                if input.len() > 1 {
                    return Err("as(): more than one item".into());
                }
                return Ok(input.into_iter().filter(|x| as_type(x, &t)).collect());
            }
            match input.as_slice() {
                [] => Ok(vec![]),
                [x] => bools(is_type(x, &t)),
                _ => Err("is(): more than one item".into()),
            }
        }
        "type" => Ok(input.iter().map(type_info).collect()),
        "single" => match input.len() {
            0 | 1 => Ok(input),
            _ => Err("single(): more than one item".into()),
        },
        "first" => Ok(input.into_iter().take(1).collect()),
        "last" => Ok(input.into_iter().last().into_iter().collect()),
        "tail" => Ok(input.into_iter().skip(1).collect()),
        "skip" | "take" => {
            let n = one_int(&arg(0)?)?.unwrap_or(0).max(0) as usize;
            Ok(if name == "skip" { input.into_iter().skip(n).collect() } else { input.into_iter().take(n).collect() })
        }
        "intersect" => {
            let o = arg(0)?;
            Ok(distinct(input.into_iter().filter(|x| contains_item(&o, x)).collect()))
        }
        "exclude" => { let o = arg(0)?; Ok(input.into_iter().filter(|x| !contains_item(&o, x)).collect()) }
        "union" => { let mut v = input; v.extend(arg(0)?); Ok(distinct(v)) }
        "combine" => { let mut v = input; v.extend(arg(0)?); Ok(v) }
        "iif" => {
            nargs(2, 3)?;
            if input.len() > 1 {
                return Err("iif(): more than one input item".into());
            }
            let focus = input.first().cloned().unwrap_or_else(|| env.this.clone());
            let e = Env { this: focus.clone(), ..env.clone() };
            let c = eval(&args[0], std::slice::from_ref(&focus), &e)?;
            let cond = match c.as_slice() {
                [] => false,
                [x] => match prim(x) { Item::Bool(b) => b, _ => return Err("iif(): criterion is not boolean".into()) },
                _ => return Err("iif(): criterion is a collection".into()),
            };
            if cond {
                eval(&args[1], std::slice::from_ref(&focus), &e)
            } else if let Some(a) = args.get(2) {
                eval(a, std::slice::from_ref(&focus), &e)
            } else {
                Ok(vec![])
            }
        }
        "not" => match to_bool(&input)? {
            None => Ok(vec![]),
            Some(b) => bools(!b),
        },
        "children" => {
            let mut out = Vec::new();
            for it in &input {
                if let Item::Node(n) = it { children(n, &mut out); }
            }
            Ok(out)
        }
        "descendants" => {
            let mut out = Vec::new();
            let mut frontier = input;
            while !frontier.is_empty() {
                let mut next = Vec::new();
                for it in &frontier {
                    if let Item::Node(n) = it { children(n, &mut next); }
                }
                out.extend(next.iter().cloned());
                frontier = next;
            }
            Ok(out)
        }
        "extension" => {
            let url = one_str(&arg(0)?)?;
            let exts = super::eval::member(&input, "extension");
            Ok(exts.into_iter().filter(|e| matches!(e, Item::Node(n) if n.value.get("url").and_then(Value::as_str) == url.as_deref())).collect())
        }
        "hasExtension" => {
            let url = one_str(&arg(0)?)?;
            let exts = super::eval::member(&input, "extension");
            bools(exts.iter().any(|e| matches!(e, Item::Node(n) if n.value.get("url").and_then(Value::as_str) == url.as_deref())))
        }
        "hasValue" => bools(matches!(input.as_slice(), [Item::Node(n)] if !n.value.is_object() && !n.value.is_array() && !n.value.is_null())),
        "getValue" => Ok(input.into_iter().filter(|x| matches!(x, Item::Node(n) if !n.value.is_object())).map(|x| prim(&x)).collect()),
        "resolve" => Ok(input.iter().filter_map(|it| resolve(it, env)).collect()),
        "sort" => sort(input, args, env),
        "trace" => {
            // trace(name [, projection]) returns its input unchanged; the log goes nowhere
            Ok(input)
        }
        "memberOf" | "conformsTo" | "subsumes" | "subsumedBy" => Err(format!("{name}() needs terminology services (unsupported)")),
        "defineVariable" => Err("defineVariable() is not supported".into()),
        _ => super::funcs_more::call(name, input, args, env, &arg),
    }
}

/// Rejects type names that are neither System nor FHIR types.
pub fn check_type(t: &TypeSpec) -> Result<(), String> {
    let system = ["Boolean", "Integer", "Decimal", "String", "Date", "DateTime", "Time", "Quantity", "Any"];
    let ok = match t.namespace.as_deref() {
        Some("System") => true, // unknown System types simply never match
        Some("FHIR") => super::defs().type_def(&t.name).is_some(),
        None => system.contains(&t.name.as_str()) || super::defs().type_def(&t.name).is_some(),
        Some(_) => false,
    };
    if ok { Ok(()) } else { Err(format!("unknown type {}", t.name)) }
}

fn type_info<'a>(it: &Item<'a>) -> Item<'a> {
    match it {
        Item::Node(n) => Item::TypeInfo { namespace: "FHIR", name: n.type_name.unwrap_or("Element").to_string() },
        Item::Resolved { type_name, .. } => Item::TypeInfo { namespace: "FHIR", name: type_name.clone() },
        other => Item::TypeInfo { namespace: "System", name: super::ops::system_type(other).to_string() },
    }
}

/// A Reference (or a canonical/uri string) resolved to a placeholder of the target type;
/// a local reference (`#id`) resolves to the contained resource itself.
fn resolve<'a>(it: &Item<'a>, env: &Env<'a>) -> Option<Item<'a>> {
    let text = match it {
        Item::Node(n) => match n.value {
            Value::Object(o) => {
                let r = o.get("reference").and_then(Value::as_str);
                match r {
                    Some(r) => r,
                    None => {
                        let t = o.get("type").and_then(Value::as_str)?;
                        return Some(Item::Resolved { type_name: t.to_string(), reference: String::new() });
                    }
                }
            }
            Value::String(s) => s.as_str(),
            _ => return None,
        },
        Item::Str(s) => s.as_str(),
        _ => return None,
    };
    if let (Some(id), Item::Node(root)) = (text.strip_prefix('#'), &env.root) {
        let contained = root.value.get("contained").and_then(Value::as_array)?;
        let found = contained.iter().find(|c| c.get("id").and_then(Value::as_str) == Some(id))?;
        return Some(super::nav::root_node(found));
    }
    let defs = super::defs();
    if let Item::Node(n) = it {
        if let Some(t) = n.value.get("type").and_then(Value::as_str) {
            if defs.is_resource_type(t) {
                return Some(Item::Resolved { type_name: t.to_string(), reference: text.to_string() });
            }
        }
    }
    let path = text.split(['?', '#']).next().unwrap_or(text);
    let segs: Vec<&str> = path.split('/').collect();
    // [.., Type, id] or [.., Type, id, _history, vid]
    let ty = segs.iter().rev().skip(1).find(|s| defs.is_resource_type(s))?;
    Some(Item::Resolved { type_name: ty.to_string(), reference: text.to_string() })
}

/// `sort([key, ...])`; a key written `-expr` sorts descending.
fn sort<'a>(input: Vec<Item<'a>>, args: &[Ast], env: &Env<'a>) -> R<'a> {
    let mut keyed = Vec::with_capacity(input.len());
    for (i, it) in input.into_iter().enumerate() {
        let mut keys = Vec::new();
        if args.is_empty() {
            keys.push((vec![it.clone()], false));
        }
        for a in args {
            let (expr, desc) = match a {
                Ast::Neg(e) => (e.as_ref(), true),
                e => (e, false),
            };
            let e = env.with_this(it.clone(), i);
            keys.push((eval(expr, std::slice::from_ref(&it), &e)?, desc));
        }
        keyed.push((keys, it));
    }
    let mut err = None;
    keyed.sort_by(|(a, _), (b, _)| {
        for ((x, desc), (y, _)) in a.iter().zip(b) {
            // empty keys sort first in either direction
            let o = match (x.first(), y.first()) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, _) => return std::cmp::Ordering::Less,
                (_, None) => return std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => match super::ops::compare(x, y) {
                    Ok(o) => o.unwrap_or(std::cmp::Ordering::Equal),
                    Err(e) => {
                        err = Some(e);
                        std::cmp::Ordering::Equal
                    }
                },
            };
            let o = if *desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    match err {
        Some(e) => Err(e),
        None => Ok(keyed.into_iter().map(|(_, it)| it).collect()),
    }
}
