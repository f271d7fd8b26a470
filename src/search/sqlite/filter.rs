//! Translation of the search AST (`search::query`) into SQL over the `sp_*` tables.
use rusqlite::types::Value as Sql;

use crate::search::params::{ParamType, Registry, SearchParam};
use crate::search::query::{Clause, Filter, Modifier, Prefix, SearchValue};
use crate::search::extract::normalize;

/// SQL text with its positional arguments.
#[derive(Default)]
pub struct SqlBuf {
    pub text: String,
    pub args: Vec<Sql>,
}


impl SqlBuf {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn arg(&mut self, v: impl Into<Sql>) {
        self.text.push('?');
        self.args.push(v.into());
    }
}

fn table(kind: ParamType) -> &'static str {
    match kind {
        ParamType::String | ParamType::Special => "sp_string",
        ParamType::Token => "sp_token",
        ParamType::Date => "sp_date",
        ParamType::Number => "sp_number",
        ParamType::Quantity => "sp_quantity",
        ParamType::Reference => "sp_reference",
        ParamType::Uri => "sp_uri",
        ParamType::Composite => "sp_token",
    }
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Appends the condition for `filter` on the resource row aliased `alias` (of `resource_current`).
pub fn filter(out: &mut SqlBuf, registry: &Registry, tenant: &str, alias: &str, f: &Filter, depth: usize) {
    match f {
        Filter::Clause(c) => clause(out, registry, alias, c),
        Filter::Chain { reference, target_type, inner } => {
            let t = format!("t{depth}");
            out.push(&format!(
                "EXISTS (SELECT 1 FROM sp_reference r{depth} JOIN resource_current {t} ON {t}.tenant = "
            ));
            out.arg(tenant.to_string());
            out.push(&format!(
                " AND {t}.rtype = r{depth}.target_type AND {t}.id = r{depth}.target_id AND {t}.deleted = 0 \
                 WHERE r{depth}.rid = {alias}.rid AND r{depth}.param = "
            ));
            out.arg(reference.code.clone());
            out.push(&format!(" AND r{depth}.target_type = "));
            out.arg(target_type.clone());
            out.push(" AND ");
            filter(out, registry, tenant, &t, inner, depth + 1);
            out.push(")");
        }
        Filter::Has { source_type, reference, inner } => {
            let s = format!("s{depth}");
            out.push(&format!(
                "EXISTS (SELECT 1 FROM sp_reference h{depth} JOIN resource_current {s} ON {s}.rid = h{depth}.rid AND {s}.deleted = 0 \
                 WHERE h{depth}.rtype = "
            ));
            out.arg(source_type.clone());
            out.push(&format!(" AND h{depth}.param = "));
            out.arg(reference.code.clone());
            out.push(&format!(" AND h{depth}.target_type = {alias}.rtype AND h{depth}.target_id = {alias}.id AND {s}.tenant = {alias}.tenant AND "));
            filter(out, registry, tenant, &s, inner, depth + 1);
            out.push(")");
        }
        Filter::AnyOf(filters) => {
            out.push("(");
            for (i, f) in filters.iter().enumerate() {
                if i > 0 {
                    out.push(" OR ");
                }
                filter(out, registry, tenant, alias, f, depth + 1 + i * 8);
            }
            if filters.is_empty() {
                out.push("0");
            }
            out.push(")");
        }
        Filter::List(id) => {
            out.push(&format!(
                "EXISTS (SELECT 1 FROM sp_reference l JOIN resource_current lc ON lc.rid = l.rid AND lc.deleted = 0 \
                 WHERE lc.tenant = {alias}.tenant AND lc.rtype = 'List' AND lc.id = "
            ));
            out.arg(id.clone());
            out.push(&format!(" AND l.param = 'item' AND l.target_type = {alias}.rtype AND l.target_id = {alias}.id)"));
        }
    }
}

fn clause(out: &mut SqlBuf, registry: &Registry, alias: &str, c: &Clause) {
    let tbl = table(c.param.kind);
    if let [SearchValue::Missing(missing)] = c.values.as_slice() {
        let exists = format!("EXISTS (SELECT 1 FROM {tbl} x WHERE x.rid = {alias}.rid AND x.param = ");
        out.push(if *missing { "NOT " } else { "" });
        out.push(&exists);
        out.arg(param_name(&c.param, None));
        out.push(")");
        return;
    }
    let negate = matches!(c.modifier, Some(Modifier::Not | Modifier::NotIn));
    if c.param.kind == ParamType::Composite {
        composite(out, registry, alias, c);
        return;
    }
    out.push(if negate { "NOT EXISTS (" } else { "EXISTS (" });
    out.push(&format!("SELECT 1 FROM {tbl} x WHERE x.rid = {alias}.rid AND x.param = "));
    match c.modifier {
        Some(Modifier::OfType) => out.arg(format!("{}:of-type", c.param.code)),
        _ => out.arg(param_name(&c.param, None)),
    }
    out.push(" AND (");
    if c.values.is_empty() {
        out.push("0");
    }
    for (i, v) in c.values.iter().enumerate() {
        if i > 0 {
            out.push(" OR ");
        }
        value(out, "x", &c.param, c.modifier.as_ref(), v);
    }
    out.push("))");
}

fn param_name(p: &SearchParam, component: Option<usize>) -> String {
    match component {
        Some(i) => format!("{}#{i}", p.code),
        None => p.code.clone(),
    }
}

/// `code-value-quantity=a$b`: all components matched by one element (same `grp`).
fn composite(out: &mut SqlBuf, registry: &Registry, alias: &str, c: &Clause) {
    let comps: Vec<Option<&std::sync::Arc<SearchParam>>> = c.param.component.iter().map(|k| registry.by_url(&k.definition)).collect();
    out.push("(");
    for (vi, v) in c.values.iter().enumerate() {
        if vi > 0 {
            out.push(" OR ");
        }
        let SearchValue::Composite(parts) = v else {
            out.push("0");
            continue;
        };
        out.push("EXISTS (SELECT 1 FROM ");
        let mut joins = Vec::new();
        for (i, comp) in comps.iter().enumerate() {
            let Some(cp) = comp else { continue };
            joins.push((i, format!("{} c{i}", table(cp.kind))));
        }
        out.push(&joins.iter().map(|(_, j)| j.clone()).collect::<Vec<_>>().join(", "));
        out.push(" WHERE ");
        for (n, (i, _)) in joins.iter().enumerate() {
            let Some(cp) = comps[*i] else { continue };
            if n > 0 {
                out.push(&format!(" AND c{i}.rid = c0.rid AND c{i}.grp = c0.grp AND "));
            }
            out.push(&format!("c{i}.rid = {alias}.rid AND c{i}.param = "));
            out.arg(param_name(&c.param, Some(*i)));
            if let Some(part) = parts.get(*i) {
                out.push(" AND ");
                value(out, &format!("c{i}"), cp, None, part);
            }
        }
        out.push(")");
    }
    out.push(")");
}

/// The condition for one value on table alias `x`.
fn value(out: &mut SqlBuf, x: &str, p: &SearchParam, m: Option<&Modifier>, v: &SearchValue) {
    match v {
        SearchValue::String(s) => match (p.kind, m) {
            (_, Some(Modifier::Text)) => {
                out.push(&format!("{x}.text LIKE "));
                out.arg(format!("{}%", like_escape(&normalize(s))));
                out.push(" ESCAPE '\\'");
            }
            (_, Some(Modifier::Exact)) => {
                out.push(&format!("{x}.exact = "));
                out.arg(s.clone());
            }
            // Full-text parameters match anywhere in the text.
            _ if m == Some(&Modifier::Contains) || matches!(p.code.as_str(), "_text" | "_content") => {
                out.push(&format!("{x}.norm LIKE "));
                out.arg(format!("%{}%", like_escape(&normalize(s))));
                out.push(" ESCAPE '\\'");
            }
            _ => {
                out.push(&format!("{x}.norm LIKE "));
                out.arg(format!("{}%", like_escape(&normalize(s))));
                out.push(" ESCAPE '\\'");
            }
        },
        SearchValue::Token { system: Some(s), code: Some(c) } if matches!(m, Some(Modifier::In | Modifier::NotIn)) => {
            // A `code` element is indexed without its (implicit) system.
            out.push(&format!("({x}.code = "));
            out.arg(c.clone());
            out.push(&format!(" AND ({x}.system = "));
            out.arg(s.clone());
            out.push(&format!(" OR {x}.system IS NULL))"));
        }
        SearchValue::Token { system, code } => {
            let (sys_col, code_col) = if p.kind == ParamType::Reference { ("id_system", "id_value") } else { ("system", "code") };
            let mut parts = Vec::new();
            match system.as_deref() {
                None => {}
                Some("") => parts.push(format!("{x}.{sys_col} IS NULL")),
                Some(s) => parts.push(format!("{x}.{sys_col} = {}", placeholder(out, s))),
            }
            if let Some(c) = code {
                parts.push(format!("{x}.{code_col} = {}", placeholder(out, c)));
            }
            out.push(&format!("({})", if parts.is_empty() { "1".into() } else { parts.join(" AND ") }));
        }
        SearchValue::OfType { system, code, value } => {
            out.push(&format!("({x}.system = "));
            out.arg(system.clone());
            out.push(&format!(" AND {x}.code = "));
            out.arg(code.clone());
            out.push(&format!(" AND {x}.text = "));
            out.arg(value.clone());
            out.push(")");
        }
        SearchValue::Date { prefix, low, high } => range_cond(out, x, *prefix, *low as f64, *high as f64, true),
        SearchValue::Number { prefix, value, low, high } => number_cond(out, x, *prefix, *value, *low, *high),
        SearchValue::Quantity { prefix, value, low, high, system, code } => {
            out.push("(");
            number_cond(out, x, *prefix, *value, *low, *high);
            if let Some(s) = system {
                out.push(&format!(" AND {x}.system = "));
                out.arg(s.clone());
            }
            if let Some(c) = code {
                out.push(&format!(" AND ({x}.code = "));
                out.arg(c.clone());
                out.push(&format!(" OR {x}.unit = "));
                out.arg(c.clone());
                out.push(")");
            }
            out.push(")");
        }
        SearchValue::Reference { resource_type, id, url } => {
            out.push("(");
            match url {
                Some(u) => {
                    out.push(&format!("{x}.url = "));
                    out.arg(u.clone());
                    if let (Some(t), false) = (resource_type, id.is_empty()) {
                        out.push(&format!(" OR ({x}.target_type = "));
                        out.arg(t.clone());
                        out.push(&format!(" AND {x}.target_id = "));
                        out.arg(id.clone());
                        out.push(")");
                    }
                }
                None => {
                    out.push(&format!("{x}.target_id = "));
                    out.arg(id.clone());
                    if let Some(t) = resource_type {
                        out.push(&format!(" AND {x}.target_type = "));
                        out.arg(t.clone());
                    }
                }
            }
            out.push(")");
        }
        SearchValue::Uri(u) => match m {
            Some(Modifier::Below) => {
                out.push(&format!("{x}.value LIKE "));
                out.arg(format!("{}%", like_escape(u)));
                out.push(" ESCAPE '\\'");
            }
            Some(Modifier::Above) => {
                out.push("");
                out.arg(u.clone());
                out.push(&format!(" LIKE {x}.value || '%'"));
            }
            _ => {
                let col = if p.kind == ParamType::Uri { "value" } else { "url" };
                out.push(&format!("{x}.{col} = "));
                out.arg(u.clone());
            }
        },
        SearchValue::Composite(_) | SearchValue::Missing(_) => out.push("0"),
    }
}

fn placeholder(out: &mut SqlBuf, v: &str) -> &'static str {
    out.args.push(Sql::Text(v.to_string()));
    "?"
}

/// Range semantics for dates: the stored range [low, high) against the query range [ql, qh).
fn range_cond(out: &mut SqlBuf, x: &str, prefix: Prefix, ql: f64, qh: f64, integer: bool) {
    let a = |v: f64| if integer { Sql::Integer(v as i64) } else { Sql::Real(v) };
    let (sql, args): (&str, Vec<Sql>) = match prefix {
        Prefix::Eq => ("({x}.low >= ? AND {x}.high <= ?)", vec![a(ql), a(qh)]),
        Prefix::Ne => ("NOT ({x}.low >= ? AND {x}.high <= ?)", vec![a(ql), a(qh)]),
        Prefix::Gt => ("{x}.high > ?", vec![a(qh)]),
        Prefix::Ge => ("{x}.high > ?", vec![a(ql)]),
        Prefix::Lt => ("{x}.low < ?", vec![a(ql)]),
        Prefix::Le => ("{x}.low < ?", vec![a(qh)]),
        Prefix::Sa => ("{x}.low >= ?", vec![a(qh)]),
        Prefix::Eb => ("{x}.high <= ?", vec![a(ql)]),
        Prefix::Ap => {
            let width = (qh - ql).max(0.0);
            let now = crate::fhir::meta::now_micros() as f64;
            let slack = ((now - ql).abs() * 0.1).max(width * 0.1);
            ("({x}.low < ? AND {x}.high > ?)", vec![a(qh + slack), a(ql - slack)])
        }
    };
    out.push(&sql.replace("{x}", x));
    out.args.extend(args);
}

fn number_cond(out: &mut SqlBuf, x: &str, prefix: Prefix, v: f64, ql: f64, qh: f64) {
    let (sql, args): (&str, Vec<f64>) = match prefix {
        Prefix::Eq => ("({x}.value >= ? AND {x}.value < ?)", vec![ql, qh]),
        Prefix::Ne => ("NOT ({x}.value >= ? AND {x}.value < ?)", vec![ql, qh]),
        Prefix::Gt | Prefix::Sa => ("{x}.value > ?", vec![v]),
        Prefix::Ge => ("{x}.value >= ?", vec![v]),
        Prefix::Lt | Prefix::Eb => ("{x}.value < ?", vec![v]),
        Prefix::Le => ("{x}.value <= ?", vec![v]),
        Prefix::Ap => ("({x}.value >= ? AND {x}.value <= ?)", vec![v - (v * 0.1).abs(), v + (v * 0.1).abs()]),
    };
    out.push(&sql.replace("{x}", x));
    out.args.extend(args.into_iter().map(Sql::Real));
}
