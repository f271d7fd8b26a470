//! Translation of the search AST (`search::query`) into SQL over the `sp_*` tables.
use rusqlite::types::Value as Sql;

use crate::search::params::{ParamType, Registry, SearchParam};
use crate::search::query::{Clause, Filter, Modifier, Prefix, SearchValue};
use crate::search::extract::normalize;
use super::{partial_index, rid_of, rows_of};

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

/// `_text` and `_content` live in their own table, without a value index.
fn is_full_text(p: &SearchParam) -> bool {
    super::is_full_text(&p.code)
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

/// `x.pid` names parameter `code` of one of the searched types (any type when `types` is
/// empty), through the `sp_param` dictionary.
fn pid_cond(out: &mut SqlBuf, x: &str, types: &[String], code: &str) {
    match types {
        [t] => {
            out.push(&format!("{x}.pid = (SELECT pid FROM sp_param WHERE param = "));
            out.arg(code.to_string());
            out.push(" AND rtype = ");
            out.arg(t.clone());
            out.push(")");
        }
        _ => {
            out.push(&format!("{x}.pid IN (SELECT pid FROM sp_param WHERE param = "));
            out.arg(code.to_string());
            if !types.is_empty() {
                out.push(" AND ");
                in_types(out, "rtype", types);
            }
            out.push(")");
        }
    }
}

/// `x.target_type IN (?, ...)` for the searched types (`1` when all types are searched).
fn target_types_cond(out: &mut SqlBuf, x: &str, types: &[String]) {
    in_types(out, &format!("{x}.target_type"), types);
}

/// `col IN (?, ...)` for the searched types (`1` when all types are searched).
fn in_types(out: &mut SqlBuf, col: &str, types: &[String]) {
    if types.is_empty() {
        out.push("1");
        return;
    }
    out.push(&format!("{col} IN ("));
    for (i, t) in types.iter().enumerate() {
        if i > 0 {
            out.push(", ");
        }
        out.arg(t.clone());
    }
    out.push(")");
}

/// `x.col` holds the `sp_dict` id of `value` (NULL, so no match, when the value is unknown).
fn dict_eq(out: &mut SqlBuf, x: &str, col: &str, value: &str) {
    out.push(&format!("{x}.{col} = (SELECT id FROM sp_dict WHERE value = "));
    out.arg(value.to_string());
    out.push(")");
}

/// Appends the condition for `filter` on the resource row `alias` (of `resource_current`)
/// whose type is one of `types` (empty: any). Each condition is an uncorrelated
/// `IN (subquery)` so that SQLite drives the search from the parameter indexes.
pub fn filter(out: &mut SqlBuf, registry: &Registry, tenant: &str, alias: &str, types: &[String], f: &Filter, depth: usize) {
    match f {
        Filter::Clause(c) => clause(out, registry, alias, types, c),
        Filter::Chain { .. } => {
            out.push(&format!("{alias}.rid IN ("));
            chain_rids(out, registry, tenant, types, f, depth);
            out.push(")");
        }
        Filter::Has { source_type, reference, inner } => {
            let (h, s) = (format!("h{depth}"), format!("s{depth}"));
            let (key, target) = typed_key(alias, &h, types);
            out.push(&format!("{key} IN (SELECT {target} FROM sp_reference {h} JOIN resource_current {s} ON {s}.rid = {} WHERE ", rid_of(&h)));
            pid_cond(out, &h, std::slice::from_ref(source_type), &reference.code);
            out.push(" AND ");
            target_types_cond(out, &h, types);
            out.push(&format!(" AND {s}.deleted = 0 AND {s}.tenant = "));
            out.arg(tenant.to_string());
            out.push(" AND ");
            filter(out, registry, tenant, &s, std::slice::from_ref(source_type), inner, depth + 1);
            out.push(")");
        }
        Filter::AnyOf(filters) => {
            out.push("(");
            for (i, f) in filters.iter().enumerate() {
                if i > 0 {
                    out.push(" OR ");
                }
                filter(out, registry, tenant, alias, types, f, depth + 1 + i * 8);
            }
            if filters.is_empty() {
                out.push("0");
            }
            out.push(")");
        }
        Filter::List(id) => {
            let (key, target) = typed_key(alias, "l", types);
            out.push(&format!(
                "{key} IN (SELECT {target} FROM resource_current lc JOIN sp_reference l ON {} \
                 WHERE lc.deleted = 0 AND lc.rtype = 'List' AND l.pid = (SELECT pid FROM sp_param WHERE param = 'item' AND rtype = 'List') AND lc.tenant = ",
                rows_of("l", "lc.rid")
            ));
            out.arg(tenant.to_string());
            out.push(" AND lc.id = ");
            out.arg(id.clone());
            out.push(" AND ");
            target_types_cond(out, "l", types);
            out.push(")");
        }
    }
}

/// The rids of the resources whose reference leads to a target matching the chain `f`.
fn chain_rids(out: &mut SqlBuf, registry: &Registry, tenant: &str, types: &[String], f: &Filter, depth: usize) {
    let Filter::Chain { reference, target_type, inner } = f else { return };
    let (r, t) = (format!("r{depth}"), format!("t{depth}"));
    out.push(&format!("SELECT {} FROM sp_reference {r} WHERE ", rid_of(&r)));
    pid_cond(out, &r, types, &reference.code);
    out.push(&format!(" AND {r}.target_type = "));
    out.arg(target_type.clone());
    out.push(&format!(" AND {r}.target_id IN (SELECT {t}.id FROM resource_current {t} WHERE {t}.tenant = "));
    out.arg(tenant.to_string());
    out.push(&format!(" AND {t}.rtype = "));
    out.arg(target_type.clone());
    out.push(&format!(" AND {t}.deleted = 0 AND "));
    filter(out, registry, tenant, &t, std::slice::from_ref(target_type), inner, depth + 1);
    out.push(")");
}

/// What identifies the row `alias` as a reference target, and the matching expression on the
/// reference table `r`: the id alone when one type is searched, else type and id.
fn typed_key(alias: &str, r: &str, types: &[String]) -> (String, String) {
    if types.len() == 1 {
        (format!("{alias}.id"), format!("{r}.target_id"))
    } else {
        (format!("({alias}.rtype || '/' || {alias}.id)"), format!("({r}.target_type || '/' || {r}.target_id)"))
    }
}

/// `_id` is answered from `resource_current` (every resource has one), not from index rows.
fn is_id(c: &Clause) -> bool {
    c.param.code == "_id"
}

/// The rids of the live resources (of `types`) whose id is one of the clause's values.
fn id_rids(out: &mut SqlBuf, types: &[String], c: &Clause) {
    out.push("SELECT x.rid FROM resource_current x WHERE x.deleted = 0 AND ");
    in_types(out, "x.rtype", types);
    out.push(" AND (");
    let mut any = false;
    for v in &c.values {
        // Ids have no system; other modifiers than `:not` (applied by the caller) match nothing.
        let SearchValue::Token { system, code } = v else { continue };
        if matches!(system.as_deref(), Some(s) if !s.is_empty()) || !matches!(c.modifier, None | Some(Modifier::Not)) {
            continue;
        }
        if any {
            out.push(" OR ");
        }
        any = true;
        match code {
            Some(code) => {
                out.push("x.id = ");
                out.arg(code.clone());
            }
            None => out.push("1"),
        }
    }
    out.push(if any { ")" } else { "0)" });
}

fn clause(out: &mut SqlBuf, registry: &Registry, alias: &str, types: &[String], c: &Clause) {
    let tbl = if is_full_text(&c.param) { "sp_fulltext" } else { table(c.param.kind) };
    if let ([SearchValue::Missing(missing)], true) = (c.values.as_slice(), is_id(c)) {
        out.push(if *missing { "0" } else { "1" });
        return;
    }
    if let [SearchValue::Missing(missing)] = c.values.as_slice() {
        out.push(&format!("{alias}.rid {}IN (SELECT {} FROM {tbl} x WHERE ", if *missing { "NOT " } else { "" }, rid_of("x")));
        if partial_index(tbl) {
            out.push("x.grp = 0 AND ");
        }
        pid_cond(out, "x", types, &param_name(&c.param, None));
        out.push(")");
        return;
    }
    if c.param.kind == ParamType::Composite {
        composite(out, registry, alias, types, c);
        return;
    }
    let negate = matches!(c.modifier, Some(Modifier::Not | Modifier::NotIn));
    out.push(&format!("{alias}.rid {}IN (", if negate { "NOT " } else { "" }));
    clause_rids(out, types, c);
    out.push(")");
}

/// The rids of the resources with a value matching clause `c` (its modifier aside).
fn clause_rids(out: &mut SqlBuf, types: &[String], c: &Clause) {
    if is_id(c) {
        return id_rids(out, types, c);
    }
    let tbl = if is_full_text(&c.param) { "sp_fulltext" } else { table(c.param.kind) };
    out.push(&format!("SELECT {} FROM {tbl} x WHERE ", rid_of("x")));
    if partial_index(tbl) {
        // Only values of plain parameters (group 0) are in this table's value index.
        out.push("x.grp = 0 AND ");
    }
    let code = match c.modifier {
        Some(Modifier::OfType) => format!("{}:of-type", c.param.code),
        _ => param_name(&c.param, None),
    };
    pid_cond(out, "x", types, &code);
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
    out.push(")");
}

/// When `f` holds exactly for the live resources (of `types`) that have some index row
/// matching it, appends the subquery of their rids (rows may repeat) and returns true.
/// Index rows exist only for live current versions, and `pid` fixes the resource type;
/// the tenant is not checked.
pub fn positive_rids(out: &mut SqlBuf, registry: &Registry, tenant: &str, types: &[String], f: &Filter) -> bool {
    match f {
        Filter::Clause(c) => {
            let plain = !matches!(c.values.as_slice(), [SearchValue::Missing(_)]) && c.param.kind != ParamType::Composite;
            if !plain || matches!(c.modifier, Some(Modifier::Not | Modifier::NotIn)) {
                return false;
            }
            clause_rids(out, types, c);
            true
        }
        Filter::Chain { .. } => {
            chain_rids(out, registry, tenant, types, f, 0);
            true
        }
        _ => false,
    }
}

fn param_name(p: &SearchParam, component: Option<usize>) -> String {
    match component {
        Some(i) => format!("{}#{i}", p.code),
        None => p.code.clone(),
    }
}

/// `code-value-quantity=a$b`: all components matched by one element (same `grp`).
fn composite(out: &mut SqlBuf, registry: &Registry, alias: &str, types: &[String], c: &Clause) {
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
        let present: Vec<(usize, &std::sync::Arc<SearchParam>)> = comps.iter().enumerate().filter_map(|(i, c)| c.map(|c| (i, c))).collect();
        let Some((first, _)) = present.first().copied() else {
            out.push("0");
            continue;
        };
        out.push(&format!("{alias}.rid IN (SELECT {} FROM ", rid_of(&format!("c{first}"))));
        let from: Vec<String> = present.iter().map(|(i, cp)| format!("{} c{i}", table(cp.kind))).collect();
        out.push(&from.join(", "));
        out.push(" WHERE 1");
        for (i, cp) in &present {
            if *i != first {
                out.push(&format!(" AND {} AND c{i}.grp = c{first}.grp", rows_of(&format!("c{i}"), &rid_of(&format!("c{first}")))));
            }
            out.push(" AND ");
            pid_cond(out, &format!("c{i}"), types, &param_name(&c.param, Some(*i)));
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
                out.push(&format!("{x}.text IN (SELECT id FROM sp_dict WHERE value LIKE "));
                out.arg(format!("{}%", like_escape(&normalize(s))));
                out.push(" ESCAPE '\\')");
            }
            (_, Some(Modifier::Exact)) => {
                out.push(&format!("{x}.exact = "));
                out.arg(s.clone());
            }
            // Full-text parameters match anywhere in the text.
            _ if m == Some(&Modifier::Contains) || is_full_text(p) => {
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
            out.push(" AND (");
            dict_eq(out, x, "sys", s);
            out.push(&format!(" OR {x}.sys IS NULL))"));
        }
        SearchValue::Token { system, code } => {
            // Identifiers of references are plain text; token systems are `sp_dict` ids.
            let reference = p.kind == ParamType::Reference;
            let (sys_col, code_col) = if reference { ("id_system", "id_value") } else { ("sys", "code") };
            let mut parts = Vec::new();
            match system.as_deref() {
                None => {}
                Some("") => parts.push(format!("{x}.{sys_col} IS NULL")),
                Some(s) if reference => parts.push(format!("{x}.{sys_col} = {}", placeholder(out, s))),
                Some(s) => parts.push(format!("{x}.sys = (SELECT id FROM sp_dict WHERE value = {})", placeholder(out, s))),
            }
            if let Some(c) = code {
                parts.push(format!("{x}.{code_col} = {}", placeholder(out, c)));
            }
            out.push(&format!("({})", if parts.is_empty() { "1".into() } else { parts.join(" AND ") }));
        }
        SearchValue::OfType { system, code, value } => {
            out.push("(");
            dict_eq(out, x, "sys", system);
            out.push(&format!(" AND {x}.code = "));
            out.arg(code.clone());
            out.push(" AND ");
            dict_eq(out, x, "text", value);
            out.push(")");
        }
        SearchValue::Date { prefix, low, high } => range_cond(out, x, *prefix, *low as f64, *high as f64, true),
        SearchValue::Number { prefix, value, low, high } => number_cond(out, x, *prefix, *value, *low, *high),
        SearchValue::Quantity { prefix, value, low, high, system, code } => {
            out.push("(");
            number_cond(out, x, *prefix, *value, *low, *high);
            if let Some(s) = system {
                out.push(" AND ");
                dict_eq(out, x, "sys", s);
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
