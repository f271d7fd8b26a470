//! The tree-walking evaluator.
use super::nav::{as_type, child, derives, is_type};
use super::ops::{self, boolean, contains_item, to_bool, R};
use super::parser::{Ast, Lit, Op};
use super::{Dec, Item};

#[derive(Clone)]
pub struct Env<'a> {
    /// `%resource` (also `%rootResource`).
    pub root: Item<'a>,
    /// `%context`: the item evaluation started from.
    pub context: Item<'a>,
    /// `$this` (the root at the top level).
    pub this: Item<'a>,
    pub index: Option<usize>,
    pub total: Option<Vec<Item<'a>>>,
    pub vars: Vec<(String, Vec<Item<'a>>)>,
}

impl<'a> Env<'a> {
    pub fn new(root: Item<'a>) -> Env<'a> {
        Env { this: root.clone(), context: root.clone(), root, index: None, total: None, vars: Vec::new() }
    }

    /// The environment for evaluating a lambda argument on one item.
    pub fn with_this(&self, this: Item<'a>, index: usize) -> Env<'a> {
        Env { this, index: Some(index), ..self.clone() }
    }
}

pub fn lit<'a>(l: &Lit) -> Vec<Item<'a>> {
    vec![match l {
        Lit::Empty => return vec![],
        Lit::Bool(b) => Item::Bool(*b),
        Lit::Int(i) => Item::Int(*i),
        Lit::Decimal(d) => Item::Decimal(*d),
        Lit::Str(s) => Item::Str(s.clone()),
        Lit::Date(s) => Item::Date(s.clone()),
        Lit::DateTime(s) => Item::DateTime(s.clone()),
        Lit::Time(s) => Item::Time(s.clone()),
        Lit::Quantity(v, u) => Item::Quantity { value: *v, unit: u.clone() },
    }]
}

/// Member access (or a type name as the first step) on every item of `focus`.
pub fn member<'a>(focus: &[Item<'a>], name: &str) -> Vec<Item<'a>> {
    let mut out = Vec::new();
    let type_like = name.starts_with(|c: char| c.is_ascii_uppercase());
    for it in focus {
        match it {
            Item::Node(n) => {
                if type_like {
                    if let Some(t) = n.type_name {
                        if n.value.get("resourceType").is_some() && derives(t, name) {
                            out.push(it.clone());
                            continue;
                        }
                    }
                }
                child(n, name, &mut out);
            }
            Item::TypeInfo { namespace, name: n } => match name {
                "namespace" => out.push(Item::Str(namespace.to_string())),
                "name" => out.push(Item::Str(n.clone())),
                _ => {}
            },
            Item::Quantity { value, unit } => match name {
                "value" => out.push(Item::Decimal(*value)),
                "unit" | "code" => out.push(Item::Str(unit.clone())),
                _ => {}
            },
            _ => {}
        }
    }
    out
}

pub fn eval<'a>(ast: &Ast, focus: &[Item<'a>], env: &Env<'a>) -> R<'a> {
    Ok(match ast {
        Ast::Lit(l) => lit(l),
        Ast::Ident(name) => member(focus, name),
        Ast::Member(recv, name) => member(&eval(recv, focus, env)?, name),
        Ast::This => vec![env.this.clone()],
        Ast::Index => env.index.map(|i| Item::Int(i as i64)).into_iter().collect(),
        Ast::Total => env.total.clone().unwrap_or_default(),
        Ast::Var(name) => var(name, env)?,
        Ast::Call(recv, name, args) => {
            let input = match recv {
                Some(r) => eval(r, focus, env)?,
                None => focus.to_vec(),
            };
            super::funcs::call(name, input, args, env)?
        }
        Ast::Indexer(e, idx) => {
            let c = eval(e, focus, env)?;
            let i = eval(idx, std::slice::from_ref(&env.this), env)?;
            match i.as_slice() {
                [] => vec![],
                [Item::Int(i)] => usize::try_from(*i).ok().and_then(|i| c.into_iter().nth(i)).into_iter().collect(),
                _ => return Err("indexer must be a single integer".into()),
            }
        }
        Ast::Neg(e) => {
            let c = eval(e, focus, env)?;
            match c.as_slice() {
                [] => vec![],
                [x] => match super::nav::prim(x) {
                    Item::Int(i) => i.checked_neg().map(Item::Int).into_iter().collect(),
                    Item::Decimal(d) => vec![Item::Decimal(d.negate())],
                    Item::Quantity { value, unit } => vec![Item::Quantity { value: value.negate(), unit }],
                    _ => return Err("unary minus on a non-number".into()),
                },
                _ => return Err("unary minus on a collection".into()),
            }
        }
        Ast::Is(e, ts) => {
            let c = eval(e, focus, env)?;
            match c.as_slice() {
                [] => vec![],
                [x] => vec![Item::Bool(is_type(x, ts))],
                _ => return Err("'is' on a collection of more than one item".into()),
            }
        }
        Ast::As(e, ts) => eval(e, focus, env)?.into_iter().filter(|x| as_type(x, ts)).collect(),
        Ast::Bin(op, l, r) => bin(*op, l, r, focus, env)?,
    })
}

fn bin<'a>(op: Op, l: &Ast, r: &Ast, focus: &[Item<'a>], env: &Env<'a>) -> R<'a> {
    match op {
        Op::And | Op::Or | Op::Implies => {
            let a = to_bool(&eval(l, focus, env)?)?;
            // short-circuit where the right side cannot change the answer
            match (op, a) {
                (Op::And, Some(false)) => return Ok(vec![Item::Bool(false)]),
                (Op::Or, Some(true)) => return Ok(vec![Item::Bool(true)]),
                (Op::Implies, Some(false)) => return Ok(vec![Item::Bool(true)]),
                _ => {}
            }
            let b = to_bool(&eval(r, focus, env)?)?;
            Ok(boolean(op, a, b))
        }
        Op::Xor => {
            let a = to_bool(&eval(l, focus, env)?)?;
            let b = to_bool(&eval(r, focus, env)?)?;
            Ok(boolean(op, a, b))
        }
        Op::Union => {
            let mut a = eval(l, focus, env)?;
            a.extend(eval(r, focus, env)?);
            Ok(ops::distinct(a))
        }
        Op::In | Op::Contains => {
            let a = eval(l, focus, env)?;
            let b = eval(r, focus, env)?;
            let (needle, hay) = if op == Op::In { (a, b) } else { (b, a) };
            match needle.as_slice() {
                [] => Ok(vec![]),
                [x] => Ok(vec![Item::Bool(contains_item(&hay, x))]),
                _ => Err("membership test on a collection of more than one item".into()),
            }
        }
        _ => {
            let a = eval(l, focus, env)?;
            let b = eval(r, focus, env)?;
            ops::binary(op, &a, &b)
        }
    }
}

fn var<'a>(name: &str, env: &Env<'a>) -> R<'a> {
    if let Some((_, v)) = env.vars.iter().rev().find(|(n, _)| n == name) {
        return Ok(v.clone());
    }
    Ok(match name {
        "resource" | "rootResource" => vec![env.root.clone()],
        "context" => vec![env.context.clone()],
        "ucum" => vec![Item::Str("http://unitsofmeasure.org".into())],
        "sct" => vec![Item::Str("http://snomed.info/sct".into())],
        "loinc" => vec![Item::Str("http://loinc.org".into())],
        _ => return Err(format!("unsupported environment variable %{name}")),
    })
}

pub fn one_int(c: &[Item<'_>]) -> Result<Option<i64>, String> {
    match c {
        [] => Ok(None),
        [x] => match super::nav::prim(x) {
            Item::Int(i) => Ok(Some(i)),
            Item::Decimal(d) if d.is_integer() => Ok(i64::try_from(d.trunc()).ok()),
            _ => Err("expected an integer".into()),
        },
        _ => Err("expected a single integer".into()),
    }
}

pub fn one_str(c: &[Item<'_>]) -> Result<Option<String>, String> {
    match c {
        [] => Ok(None),
        [x] => match super::nav::prim(x) {
            Item::Str(s) => Ok(Some(s)),
            _ => Err("expected a string".into()),
        },
        _ => Err("expected a single string".into()),
    }
}

pub fn dec_of(it: &Item<'_>) -> Option<Dec> {
    match super::nav::prim(it) {
        Item::Int(i) => Some(Dec::from_int(i)),
        Item::Decimal(d) => Some(d),
        _ => None,
    }
}
