//! `_include` and `_revinclude` (with `:iterate` up to a fixed depth), without duplicates,
//! as the SQLite adapter: each round follows the references of the resources found last.
use std::collections::HashSet;

use serde_json::{json, Value};

use super::dsl::{and, live, nested, term, terms};
use super::filter::refs_of;
use super::run::{source_fields, version_of};
use super::Ctx;
use crate::error::Result;
use crate::persistence::StoredVersion;
use crate::search::query::{Include, SearchQuery};

const ROUNDS: usize = 4;

/// A resource found so far: its key, type and indexed references.
struct Node {
    key: String,
    rtype: String,
    hit: Value,
}

fn node(hit: &Value) -> Option<Node> {
    Some(Node {
        key: hit.get("_id")?.as_str()?.to_string(),
        rtype: hit.pointer("/_source/rtype")?.as_str()?.to_string(),
        hit: hit.clone(),
    })
}

pub async fn includes(ctx: &Ctx<'_>, q: &SearchQuery, matches: &[Value]) -> Result<Vec<StoredVersion>> {
    let mut frontier: Vec<Node> = matches.iter().filter_map(node).collect();
    let mut seen: HashSet<String> = frontier.iter().map(|n| n.key.clone()).collect();
    let mut out = Vec::new();
    for round in 0..ROUNDS {
        let active = |inc: &&Include| round == 0 || inc.iterate;
        // Forward: the targets of the frontier's references.
        let mut targets: Vec<String> = Vec::new();
        for inc in q.includes.iter().filter(active) {
            for n in &frontier {
                if inc.source_type != "*" && inc.source_type != n.rtype {
                    continue;
                }
                for r in refs_of(&n.hit["_source"]) {
                    let param_ok = inc.param.as_ref().is_none_or(|p| p.code == r.p);
                    let (Some(t), Some(id)) = (r.target_type, r.target_id) else { continue };
                    if param_ok && inc.target_type.as_deref().is_none_or(|tt| tt == t) {
                        targets.push(format!("{t}/{id}"));
                    }
                }
            }
        }
        targets.retain(|k| !seen.contains(k));
        targets.sort();
        targets.dedup();
        let mut found: Vec<Value> = Vec::new();
        for chunk in targets.chunks(1000) {
            let keys = chunk.iter().map(|k| json!(k)).collect();
            let (hits, _) = ctx.scan(and(vec![live(&[]), terms("key", keys)]), source_fields(true), chunk.len()).await?;
            found.extend(hits);
        }
        // Reverse: resources whose references point at the frontier.
        let frontier_keys: Vec<Value> = frontier.iter().map(|n| json!(n.key)).collect();
        for inc in q.revincludes.iter().filter(active) {
            for chunk in frontier_keys.chunks(1000) {
                let mut points = vec![terms("ref.key", chunk.to_vec())];
                if let Some(p) = &inc.param {
                    points.push(term("ref.p", p.code.as_str()));
                }
                let mut parts = vec![live(&[]), nested("ref", and(points))];
                if inc.source_type != "*" {
                    parts.push(term("rtype", inc.source_type.as_str()));
                }
                let (hits, over) = ctx.scan(and(parts), source_fields(true), ctx.include_cap).await?;
                if over {
                    tracing::warn!(cap = ctx.include_cap, "_revinclude stopped at its cap");
                }
                found.extend(hits);
            }
        }
        frontier.clear();
        for hit in found {
            let Some(n) = node(&hit) else { continue };
            if seen.insert(n.key.clone()) {
                out.push(version_of(&hit)?);
                frontier.push(n);
            }
        }
        if frontier.is_empty() || out.len() >= ctx.include_cap {
            break;
        }
    }
    Ok(out)
}
