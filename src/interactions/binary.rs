//! Binary content lives in the `BlobStore`; the stored Binary resource keeps only a key.
use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

use super::Fhir;
use crate::error::{FhirError, Result};
use crate::persistence::{Blob, StoredVersion};

/// Private field of a stored Binary naming its blob; never returned to clients.
const BLOB_KEY: &str = "_hearthBlob";
/// Private field keeping the whitespace of the client's base64 text (`[[offset, ws], ...]`),
/// so that `data` reads back exactly as sent.
const LAYOUT_KEY: &str = "_hearthBlobLayout";

fn is_binary(resource: &Value) -> bool {
    resource.get("resourceType").and_then(Value::as_str) == Some("Binary")
}

/// Moves a Binary's `data` into the blob store, leaving its key in the resource.
pub async fn offload(fhir: &Fhir, tenant: &str, id: &str, resource: &mut Value) -> Result<()> {
    if !is_binary(resource) {
        return Ok(());
    }
    let Some(obj) = resource.as_object_mut() else { return Ok(()) };
    let Some(Value::String(data)) = obj.remove("data") else { return Ok(()) };
    // base64Binary may contain whitespace (line breaks every 76 characters are common).
    let compact: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|e| FhirError::BadRequest(format!("Binary.data is not valid base64: {e}")))?;
    let content_type = obj.get("contentType").and_then(Value::as_str).unwrap_or("application/octet-stream").to_string();
    if let Some(layout) = layout(&data) {
        obj.insert(LAYOUT_KEY.into(), layout);
    }
    store_bytes(fhir, tenant, id, obj, content_type, Bytes::from(bytes)).await
}

/// The whitespace of base64 text, or `None` when it has none.
fn layout(text: &str) -> Option<Value> {
    let mut runs: Vec<(usize, String)> = Vec::new();
    let mut offset = 0;
    for c in text.chars() {
        if c.is_ascii_whitespace() {
            match runs.last_mut() {
                Some((at, ws)) if *at == offset => ws.push(c),
                _ => runs.push((offset, c.to_string())),
            }
        } else {
            offset += 1;
        }
    }
    if runs.is_empty() {
        return None;
    }
    Some(Value::Array(runs.into_iter().map(|(at, ws)| serde_json::json!([at, ws])).collect()))
}

/// Puts the recorded whitespace back into canonical base64 text.
fn rebuild(compact: &str, layout: &Value) -> Option<String> {
    let arr = layout.as_array()?;
    let mut out = String::with_capacity(compact.len() + compact.len() / 32);
    let mut last = 0;
    for run in arr {
        let at = run.get(0)?.as_u64()? as usize;
        let ws = run.get(1)?.as_str()?;
        out.push_str(compact.get(last..at)?);
        out.push_str(ws);
        last = at;
    }
    out.push_str(compact.get(last..)?);
    Some(out)
}

/// Stores raw bytes as the content of Binary `id` and records the key in `obj`.
pub async fn store_bytes(
    fhir: &Fhir,
    tenant: &str,
    id: &str,
    obj: &mut serde_json::Map<String, Value>,
    content_type: String,
    data: Bytes,
) -> Result<()> {
    let key = format!("{tenant}/Binary/{id}/{}", uuid::Uuid::new_v4().simple());
    fhir.blobs.put(&key, Blob { content_type, data }).await?;
    obj.insert(BLOB_KEY.into(), Value::String(key));
    Ok(())
}

/// The blob of a stored Binary version, if it has content.
pub async fn content(fhir: &Fhir, version: &StoredVersion) -> Result<Option<Blob>> {
    let Some(body) = &version.body else { return Ok(None) };
    let value: Value = serde_json::from_slice(body).map_err(|e| FhirError::Internal(format!("stored resource is not JSON: {e}")))?;
    match value.get(BLOB_KEY).and_then(Value::as_str) {
        Some(key) => fhir.blobs.get(key).await,
        None => Ok(None),
    }
}

/// A presigned download URL for a stored (not hydrated) Binary version whose content is
/// larger than `above` bytes, when the blob store hands out such URLs (S3).
pub async fn presigned(fhir: &Fhir, version: &StoredVersion, above: u64) -> Result<Option<String>> {
    let Some(body) = &version.body else { return Ok(None) };
    let value: Value = serde_json::from_slice(body).map_err(|e| FhirError::Internal(format!("stored resource is not JSON: {e}")))?;
    let Some(key) = value.get(BLOB_KEY).and_then(Value::as_str) else { return Ok(None) };
    match fhir.blobs.size(key).await? {
        Some(size) if size > above => fhir.blobs.presigned_get(key, std::time::Duration::from_secs(300)).await,
        _ => Ok(None),
    }
}

/// Puts a Binary's content back as base64 `data`; other resources pass through untouched.
pub async fn hydrate(fhir: &Fhir, mut version: StoredVersion) -> Result<StoredVersion> {
    if version.resource_type != "Binary" {
        return Ok(version);
    }
    let Some(body) = &version.body else { return Ok(version) };
    let mut value: Value = serde_json::from_slice(body).map_err(|e| FhirError::Internal(format!("stored resource is not JSON: {e}")))?;
    let Some(obj) = value.as_object_mut() else { return Ok(version) };
    let Some(Value::String(key)) = obj.remove(BLOB_KEY) else { return Ok(version) };
    let blob = fhir
        .blobs
        .get(&key)
        .await?
        .ok_or_else(|| FhirError::Internal(format!("content of Binary/{} is missing from the blob store", version.id)))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&blob.data);
    let data = match obj.remove(LAYOUT_KEY) {
        Some(layout) => rebuild(&encoded, &layout).unwrap_or(encoded),
        None => encoded,
    };
    obj.insert("data".into(), Value::String(data));
    version.body = Some(Bytes::from(serde_json::to_vec(&value).map_err(|e| FhirError::Internal(e.to_string()))?));
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::{layout, rebuild};

    #[test]
    fn whitespace_layout_round_trips() {
        for text in ["QUJD REVG\nR0hJ", " QUJD\r\n", "QUJDREVG"] {
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            match layout(text) {
                Some(l) => assert_eq!(rebuild(&compact, &l).as_deref(), Some(text)),
                None => assert_eq!(compact, text),
            }
        }
    }
}
