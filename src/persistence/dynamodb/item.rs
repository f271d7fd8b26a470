//! Items of the resources table and their mapping to `StoredVersion`.
//!
//! Version item: `pk = tenant#type#id`, `sk = v#<version, 10 digits>`, with the GSI keys
//! `tenant_type`, `tenant` and `last_updated` (`<µs, 17 digits>#type#id#version`, so that
//! history pages sort and never tie). Current item: same `pk`, `sk = current`, the same
//! fields without GSI keys, plus the lock fields of a running transaction (`lk`, `lk_exp`).
//! Bodies above `COMPRESS_ABOVE` bytes are gzipped (`z`); still too large, they go to the
//! blob store and the item keeps the key (`s3`).
use std::collections::HashMap;
use std::io::{Read, Write};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;

use crate::error::{FhirError, Result};
use crate::persistence::{Method, StoredVersion};

pub type Item = HashMap<String, AttributeValue>;

pub const CURRENT: &str = "current";
/// Bodies larger than this are compressed.
pub const COMPRESS_ABOVE: usize = 32 * 1024;
/// Compressed bodies larger than this go to the blob store (DynamoDB items stop at 400 KB).
pub const INLINE_LIMIT: usize = 350 * 1024;

pub fn pk(tenant: &str, rtype: &str, id: &str) -> String {
    format!("{tenant}#{rtype}#{id}")
}

pub fn version_sk(version: u64) -> String {
    format!("v#{version:010}")
}

/// `(tenant, type, id)` of a resource partition key.
pub fn split_pk(pk: &str) -> Option<(&str, &str, &str)> {
    let mut parts = pk.splitn(3, '#');
    Some((parts.next()?, parts.next()?, parts.next()?))
}

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(|s| s.as_str())
}

pub fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|s| s.parse().ok())
}

pub fn get_bool(item: &Item, name: &str) -> bool {
    item.get(name).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

/// How a body is kept in an item.
pub enum Body {
    Inline(Vec<u8>),
    Gzip(Vec<u8>),
    /// Too large even compressed: the blob store key.
    Blob(String),
}

pub fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data)?;
    Ok(enc.finish()?)
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data).read_to_end(&mut out).map_err(|e| FhirError::Internal(format!("stored body does not decompress: {e}")))?;
    Ok(out)
}

/// The key under which an oversized body is kept in the blob store.
pub fn body_blob_key(tenant: &str, rtype: &str, id: &str, version: u64) -> String {
    format!("resources/{tenant}/{rtype}/{id}/{version}.json.gz")
}

/// The fields shared by version and current items (`pk`/`sk` and GSI keys excluded).
pub fn version_fields(v: &StoredVersion, body: &Option<Body>) -> Item {
    let mut item = Item::new();
    item.insert("version".into(), n(v.version));
    item.insert("ts".into(), n(v.last_updated));
    item.insert("method".into(), s(v.method.as_str()));
    item.insert("created".into(), AttributeValue::Bool(v.created));
    match body {
        Some(Body::Inline(b)) => {
            item.insert("body".into(), AttributeValue::B(Blob::new(b.clone())));
        }
        Some(Body::Gzip(b)) => {
            item.insert("body".into(), AttributeValue::B(Blob::new(b.clone())));
            item.insert("z".into(), AttributeValue::Bool(true));
        }
        Some(Body::Blob(key)) => {
            item.insert("s3".into(), s(key.clone()));
        }
        None => {
            item.insert("deleted".into(), AttributeValue::Bool(true));
        }
    }
    item
}

pub fn last_updated_key(v: &StoredVersion) -> String {
    format!("{:017}#{}#{}#{:010}", v.last_updated.max(0), v.resource_type, v.id, v.version)
}

pub fn version_item(tenant: &str, v: &StoredVersion, body: &Option<Body>, txid: Option<&str>) -> Item {
    let mut item = version_fields(v, body);
    item.insert("pk".into(), s(pk(tenant, &v.resource_type, &v.id)));
    item.insert("sk".into(), s(version_sk(v.version)));
    item.insert("tenant".into(), s(tenant));
    item.insert("tenant_type".into(), s(format!("{tenant}#{}", v.resource_type)));
    item.insert("last_updated".into(), s(last_updated_key(v)));
    if let Some(t) = txid {
        item.insert("txid".into(), s(t));
    }
    item
}

pub fn current_item(tenant: &str, v: &StoredVersion, body: &Option<Body>) -> Item {
    let mut item = version_fields(v, body);
    item.insert("pk".into(), s(pk(tenant, &v.resource_type, &v.id)));
    item.insert("sk".into(), s(CURRENT));
    item
}

/// A version or current item as a `StoredVersion`. `None` for a lock placeholder (a
/// current item of a resource that a running transaction is about to create).
/// The body stays as stored: `Stored::Blob` bodies are fetched by the caller.
pub fn decode(item: &Item) -> Result<Option<(StoredVersion, Option<String>)>> {
    let Some(version) = get_n(item, "version") else { return Ok(None) };
    let pk_text = get_s(item, "pk").unwrap_or_default();
    let (_, rtype, id) = split_pk(pk_text).ok_or_else(|| FhirError::Internal(format!("malformed item key '{pk_text}'")))?;
    let mut blob_key = None;
    let body = if get_bool(item, "deleted") {
        None
    } else if let Some(key) = get_s(item, "s3") {
        blob_key = Some(key.to_string());
        Some(Bytes::new())
    } else {
        let raw = item.get("body").and_then(|b| b.as_b().ok()).map(|b| b.as_ref().to_vec()).unwrap_or_default();
        Some(Bytes::from(if get_bool(item, "z") { gunzip(&raw)? } else { raw }))
    };
    let v = StoredVersion {
        resource_type: rtype.to_string(),
        id: id.to_string(),
        version: version as u64,
        last_updated: get_n(item, "ts").unwrap_or(0),
        method: Method::from_str(get_s(item, "method").unwrap_or("PUT")),
        created: get_bool(item, "created"),
        body,
    };
    Ok(Some((v, blob_key)))
}

/// Decompresses an oversized body fetched from the blob store.
pub fn blob_body(data: &[u8]) -> Result<Bytes> {
    Ok(Bytes::from(gunzip(data)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(body: Option<&str>) -> StoredVersion {
        StoredVersion {
            resource_type: "Patient".into(),
            id: "p1".into(),
            version: 3,
            last_updated: 1_700_000_000_000_000,
            method: Method::Put,
            created: false,
            body: body.map(|b| Bytes::from(b.to_string())),
        }
    }

    #[test]
    fn round_trips_inline_compressed_and_deleted() {
        let v = sample(Some("{\"resourceType\":\"Patient\"}"));
        let item = version_item("t1", &v, &Some(Body::Inline(v.body.clone().unwrap().to_vec())), None);
        let (back, key) = decode(&item).unwrap().unwrap();
        assert_eq!(back.body, v.body);
        assert_eq!((back.version, back.last_updated, key), (3, v.last_updated, None));
        let z = current_item("t1", &v, &Some(Body::Gzip(gzip(v.body.as_ref().unwrap()).unwrap())));
        assert_eq!(decode(&z).unwrap().unwrap().0.body, v.body);
        let gone = sample(None);
        assert!(decode(&version_item("t1", &gone, &None, None)).unwrap().unwrap().0.is_deleted());
    }

    #[test]
    fn placeholder_is_not_a_version() {
        let mut item = Item::new();
        item.insert("pk".into(), s("t#Patient#x"));
        item.insert("sk".into(), s(CURRENT));
        item.insert("lk".into(), s("tx1"));
        assert!(decode(&item).unwrap().is_none());
    }

    #[test]
    fn history_keys_sort_by_time() {
        let mut a = sample(None);
        let mut b = sample(None);
        a.last_updated = 9;
        b.last_updated = 10;
        assert!(last_updated_key(&a) < last_updated_key(&b));
    }
}
