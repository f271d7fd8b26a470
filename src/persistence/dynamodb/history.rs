//! History at three levels: instance history from the resource's own partition; type and
//! system history from the GSIs `by_type` (`tenant#type`) and `by_tenant`, sorted by
//! `last_updated` (`<µs>#type#id#version`). The page cursor is the last key returned.
use std::collections::HashMap;

use aws_sdk_dynamodb::types::Select;

use super::item::{self, get_n, get_s, s, Item};
use super::{sdk_error, Inner};
use crate::error::{FhirError, Result};
use crate::persistence::{HistoryPage, HistoryQuery, HistoryScope, StoredVersion};

pub async fn page(inner: &Inner, tenant: &str, q: &HistoryQuery) -> Result<HistoryPage> {
    if let Some(c) = &q.cursor {
        if c.is_empty() || c.len() > 600 {
            return Err(FhirError::BadRequest(format!("invalid history page cursor '{c}'")));
        }
    }
    let (index, hash_name, hash, sort_name) = match &q.scope {
        HistoryScope::Instance { resource_type, id } => (None, "pk", item::pk(tenant, resource_type, id), "sk"),
        HistoryScope::Type { resource_type } => (Some("by_type"), "tenant_type", format!("{tenant}#{resource_type}"), "last_updated"),
        HistoryScope::System => (Some("by_tenant"), "tenant", tenant.to_string(), "last_updated"),
    };
    let instance = index.is_none();
    let total = if instance { Some(count(inner, &hash).await?) } else { None };
    let mut entries: Vec<StoredVersion> = Vec::new();
    let mut last_key = None;
    let mut more = false;
    let mut start: Option<Item> = None;
    let mut visible_cache = HashMap::new();
    'pages: loop {
        let mut req = inner
            .client
            .query()
            .table_name(&inner.table)
            .set_index_name(index.map(String::from))
            .scan_index_forward(false)
            .expression_attribute_names("#h", hash_name)
            .expression_attribute_values(":h", s(&hash))
            .set_exclusive_start_key(start.take())
            .limit((q.count + 1).clamp(2, 1000) as i32);
        let mut cond = String::from("#h = :h");
        match (&q.cursor, instance) {
            (Some(c), _) => {
                cond.push_str(" AND #s < :c");
                req = req.expression_attribute_names("#s", sort_name).expression_attribute_values(":c", s(c));
            }
            (None, true) => {
                cond.push_str(" AND begins_with(#s, :v)");
                req = req.expression_attribute_names("#s", sort_name).expression_attribute_values(":v", s("v#"));
            }
            (None, false) => {}
        }
        if !instance {
            req = req.consistent_read(false);
        } else {
            req = req.consistent_read(true);
        }
        let out = req.key_condition_expression(cond).send().await.map_err(|e| sdk_error("history query", e))?;
        for it in out.items() {
            if instance && !get_s(it, "sk").is_some_and(|k| k.starts_with("v#")) {
                continue;
            }
            let ts = get_n(it, "ts").unwrap_or(0);
            if q.since.is_some_and(|since| ts < since) {
                // Newest first: everything after this is older still.
                break 'pages;
            }
            if !inner.visible(it, &mut visible_cache).await? {
                continue;
            }
            if let Some((start_at, end)) = q.at {
                if ts >= end || replaced_before(inner, it, start_at).await? {
                    continue;
                }
            }
            if entries.len() == q.count {
                more = true;
                break 'pages;
            }
            let Some(v) = inner.materialize(it).await? else { continue };
            last_key = get_s(it, sort_name).map(String::from);
            entries.push(v);
        }
        match out.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => break,
        }
    }
    Ok(HistoryPage { entries, next: if more { last_key } else { None }, total })
}

/// Whether the version after this one was written at or before `micros`.
async fn replaced_before(inner: &Inner, it: &Item, micros: i64) -> Result<bool> {
    let (Some(pk), Some(version)) = (get_s(it, "pk"), get_n(it, "version")) else { return Ok(false) };
    let next = inner.get(pk, &item::version_sk(version as u64 + 1)).await?;
    Ok(next.is_some_and(|n| get_n(&n, "ts").is_some_and(|ts| ts <= micros)))
}

async fn count(inner: &Inner, pk: &str) -> Result<u64> {
    let mut total = 0u64;
    let mut start = None;
    loop {
        let out = inner
            .client
            .query()
            .table_name(&inner.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :v)")
            .expression_attribute_values(":p", s(pk))
            .expression_attribute_values(":v", s("v#"))
            .select(Select::Count)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("history count", e))?;
        total += out.count().max(0) as u64;
        match out.last_evaluated_key() {
            Some(k) => start = Some(k.clone()),
            None => return Ok(total),
        }
    }
}
