//! The document of an `$ingest-document` request: a raw body (PDF or image), a
//! `multipart/form-data` form (a file part, optionally a `patient` part), or a Parameters
//! resource with a `document` attachment (inline data or a Binary URL) or reference (an
//! existing Binary or DocumentReference, read under the caller's access rights).
use base64::Engine;
use bytes::Bytes;
use serde_json::Value;

use crate::auth::interaction::Interaction;
use crate::error::{FhirError, Result};
use crate::routes::request::{parse_json, FhirRequest};
use crate::routes::AppState;

/// What to ingest, and for which patient (`Patient/<id>`) when the request names one.
pub struct Document {
    pub bytes: Bytes,
    pub content_type: String,
    pub patient: Option<String>,
}

pub async fn read(app: &AppState, fr: &mut FhirRequest, media: &str) -> Result<Document> {
    let doc = |bytes, ct: &str| Document { bytes, content_type: ct.to_string(), patient: None };
    match media {
        "application/pdf" | "application/octet-stream" => Ok(doc(fr.body_bytes().await?, "application/pdf")),
        "image/png" | "image/jpeg" | "image/tiff" => Ok(doc(fr.body_bytes().await?, media)),
        "multipart/form-data" => {
            let ct = fr.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let body = fr.body_bytes().await?;
            multipart(&ct, body).await
        }
        "application/fhir+json" | "application/json" => {
            let body = fr.body_bytes().await?;
            let caller = Caller { app, guard: fr.guard(app), access: fr.access.clone(), signed_in: fr.principal.is_some(), base: fr.out.base_url.clone() };
            parameters(&caller, &parse_json(&body)?).await
        }
        "" => Err(FhirError::UnsupportedMediaType("a Content-Type is required (application/pdf, an image, multipart/form-data or a Parameters)".into())),
        other => Err(FhirError::UnsupportedMediaType(format!(
            "unsupported Content-Type '{}' for $ingest-document: send application/pdf, image/png|jpeg|tiff, multipart/form-data or a Parameters",
            other.chars().take(80).collect::<String>()
        ))),
    }
}

/// The media type of a document from its first bytes (for parts sent as octet-stream).
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"\x89PNG") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("image/tiff")
    } else {
        None
    }
}

/// `Patient/<id>` from `Patient/<id>` or a bare id.
fn patient_ref(text: &str) -> Result<String> {
    let t = text.trim();
    let id = t.strip_prefix("Patient/").unwrap_or(t);
    crate::interactions::check_id(id).map_err(|_| FhirError::BadRequest(format!("'{}' is not a Patient reference", t.chars().take(80).collect::<String>())))?;
    Ok(format!("Patient/{id}"))
}

/// A form with one file part (named `document` or `file`, or the only part with a file
/// name) and an optional `patient` part.
async fn multipart(content_type: &str, body: Bytes) -> Result<Document> {
    let bad = |e: multer::Error| FhirError::BadRequest(format!("the multipart/form-data body cannot be read: {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(bad)?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut file: Option<(Bytes, Option<String>)> = None;
    let mut patient = None;
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        let is_file = field.file_name().is_some() || matches!(name.as_str(), "document" | "file");
        let declared = field.content_type().map(|m| m.essence_str().to_ascii_lowercase());
        if name == "patient" && !is_file {
            let text = field.text().await.map_err(bad)?;
            patient = Some(patient_ref(&text)?);
        } else if is_file {
            if file.is_some() {
                return Err(FhirError::BadRequest("the form has more than one document part; send one document per request".into()));
            }
            file = Some((field.bytes().await.map_err(bad)?, declared));
        }
    }
    let (bytes, declared) = file.ok_or_else(|| FhirError::BadRequest("the form has no document part (a part named 'document' or 'file', or with a file name)".into()))?;
    let content_type = match declared.as_deref() {
        None | Some("application/octet-stream") => sniff(&bytes).unwrap_or("application/pdf").to_string(),
        Some(ct) if matches!(ct, "application/pdf" | "image/png" | "image/jpeg" | "image/tiff") => ct.to_string(),
        Some(other) => return Err(FhirError::UnsupportedMediaType(format!("the document part is '{}': send application/pdf or image/png|jpeg|tiff", other.chars().take(80).collect::<String>()))),
    };
    Ok(Document { bytes, content_type, patient })
}

/// Who is asking, for reads of referenced resources.
struct Caller<'a> {
    app: &'a AppState,
    guard: crate::auth::guard::Guard<'a>,
    access: crate::auth::principal::Access,
    signed_in: bool,
    base: String,
}

fn named<'a>(params: &'a Value, name: &str) -> Option<&'a Value> {
    params.get("parameter").and_then(Value::as_array).and_then(|ps| ps.iter().find(|p| p.get("name").and_then(Value::as_str) == Some(name)))
}

/// A Parameters resource: `document` (valueAttachment or valueReference), optional `patient`.
async fn parameters(c: &Caller<'_>, v: &Value) -> Result<Document> {
    if v.get("resourceType").and_then(Value::as_str) != Some("Parameters") {
        return Err(FhirError::BadRequest("a JSON body must be a Parameters resource with a 'document' parameter".into()));
    }
    let p = named(v, "document").ok_or_else(|| FhirError::BadRequest("the Parameters has no 'document' parameter".into()))?;
    let patient = match named(v, "patient") {
        None => None,
        Some(pp) => {
            let r = pp.get("valueReference").and_then(|r| r.get("reference")).and_then(Value::as_str);
            Some(patient_ref(r.ok_or_else(|| FhirError::BadRequest("the 'patient' parameter needs a valueReference to a Patient".into()))?)?)
        }
    };
    let (bytes, content_type) = if let Some(att) = p.get("valueAttachment") {
        attachment(c, att, "the document attachment").await?
    } else if let Some(r) = p.get("valueReference").and_then(|r| r.get("reference")).and_then(Value::as_str) {
        referenced(c, r).await?
    } else {
        return Err(FhirError::BadRequest("the 'document' parameter needs a valueAttachment or a valueReference".into()));
    };
    Ok(Document { bytes, content_type, patient })
}

/// The bytes of an attachment: inline `data`, or `url` naming a Binary on this server.
async fn attachment(c: &Caller<'_>, att: &Value, what: &str) -> Result<(Bytes, String)> {
    let declared = att.get("contentType").and_then(Value::as_str).map(str::to_string);
    if let Some(data) = att.get("data").and_then(Value::as_str) {
        let compact: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD.decode(&compact).map_err(|e| FhirError::BadRequest(format!("{what} data is not valid base64: {e}")))?;
        let ct = declared.unwrap_or_else(|| sniff(&bytes).unwrap_or("application/pdf").to_string());
        return Ok((Bytes::from(bytes), ct));
    }
    let Some(url) = att.get("url").and_then(Value::as_str) else {
        return Err(FhirError::BadRequest(format!("{what} has neither data nor a url")));
    };
    let local = url.strip_prefix(&format!("{}/", c.base)).unwrap_or(url);
    match local.split('/').collect::<Vec<_>>().as_slice() {
        ["Binary", id] => binary(c, id, declared).await,
        _ => Err(FhirError::Invalid(vec![crate::fhir::outcome::Issue::error(
            "not-supported",
            format!("{what} url '{}' is not a Binary on this server", url.chars().take(120).collect::<String>()),
        )])),
    }
}

/// `Binary/<id>` or `DocumentReference/<id>` (its first attachment).
async fn referenced(c: &Caller<'_>, reference: &str) -> Result<(Bytes, String)> {
    let local = reference.strip_prefix(&format!("{}/", c.base)).unwrap_or(reference);
    match local.split('/').collect::<Vec<_>>().as_slice() {
        ["Binary", id] => binary(c, id, None).await,
        ["DocumentReference", id] => {
            let v = visible(c, "DocumentReference", id).await?;
            let body: Value = serde_json::from_slice(v.body.as_deref().unwrap_or(b"{}")).map_err(|e| FhirError::Internal(e.to_string()))?;
            let att = body
                .get("content")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find_map(|x| x.get("attachment")))
                .ok_or_else(|| FhirError::Invalid(vec![crate::fhir::outcome::Issue::error("processing", format!("DocumentReference/{id} has no content attachment"))]))?;
            attachment(c, att, &format!("the attachment of DocumentReference/{id}")).await
        }
        _ => Err(FhirError::BadRequest(format!(
            "the document reference '{}' must name a Binary or a DocumentReference on this server",
            reference.chars().take(120).collect::<String>()
        ))),
    }
}

/// The content of a Binary the caller may read.
async fn binary(c: &Caller<'_>, id: &str, declared: Option<String>) -> Result<(Bytes, String)> {
    let v = visible(c, "Binary", id).await?;
    let blob = crate::interactions::binary::content(&c.app.fhir, &v)
        .await?
        .ok_or_else(|| FhirError::Invalid(vec![crate::fhir::outcome::Issue::error("processing", format!("Binary/{id} has no content"))]))?;
    let ct = match blob.content_type.as_str() {
        "application/octet-stream" | "" => declared.unwrap_or_else(|| sniff(&blob.data).unwrap_or("application/pdf").to_string()),
        ct => ct.to_string(),
    };
    Ok((blob.data, ct))
}

/// A resource read the way a client's read is: the caller needs read access to its type
/// and, under restricted access, to the resource itself.
async fn visible(c: &Caller<'_>, resource_type: &str, id: &str) -> Result<crate::persistence::StoredVersion> {
    let access = if c.signed_in { c.guard.require(Interaction::Read, Some(resource_type))? } else { c.access.clone() };
    let restricted = matches!(access, crate::auth::principal::Access::Restricted(_));
    crate::interactions::check_id(id)?;
    let v = match c.app.fhir.store.read(&c.guard.tenant, resource_type, id).await? {
        Some(v) if !v.is_deleted() => v,
        _ if restricted => return Err(crate::auth::guard::forbidden(format!("{resource_type}/{id} is outside what the token may access"))),
        Some(v) => return Err(FhirError::Gone(format!("{resource_type}/{id} was deleted (version {})", v.version))),
        None => return Err(FhirError::NotFound(format!("{resource_type}/{id} is not known"))),
    };
    c.guard.ensure_visible(&access, &v).await?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(parts: &[(&str, Option<&str>, Option<&str>, &[u8])]) -> (String, Bytes) {
        let mut out = Vec::new();
        for (name, file, ct, data) in parts {
            out.extend_from_slice(b"--XyZ\r\n");
            let fname = file.map(|f| format!("; filename=\"{f}\"")).unwrap_or_default();
            out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"{fname}\r\n").as_bytes());
            if let Some(ct) = ct {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--XyZ--\r\n");
        ("multipart/form-data; boundary=XyZ".into(), Bytes::from(out))
    }

    #[tokio::test]
    async fn a_form_gives_its_file_and_patient() {
        let (ct, body) = form(&[("patient", None, None, b"Patient/p1"), ("upload", Some("a.pdf"), Some("application/octet-stream"), b"%PDF-1.4 x")]);
        let d = multipart(&ct, body).await.expect("form");
        assert_eq!(d.content_type, "application/pdf");
        assert_eq!(d.patient.as_deref(), Some("Patient/p1"));
        assert_eq!(&d.bytes[..], b"%PDF-1.4 x");
        let (ct, body) = form(&[("document", None, Some("image/png"), b"\x89PNG....")]);
        assert_eq!(multipart(&ct, body).await.expect("png").content_type, "image/png");
    }

    #[tokio::test]
    async fn bad_forms_are_refused() {
        let (ct, body) = form(&[("note", None, None, b"hello")]);
        assert!(matches!(multipart(&ct, body).await, Err(FhirError::BadRequest(_))));
        let (ct, body) = form(&[("file", Some("a.txt"), Some("text/plain"), b"hello")]);
        assert!(matches!(multipart(&ct, body).await, Err(FhirError::UnsupportedMediaType(_))));
        let (ct, body) = form(&[("file", Some("a.pdf"), None, b"%PDF-"), ("file", Some("b.pdf"), None, b"%PDF-")]);
        assert!(matches!(multipart(&ct, body).await, Err(FhirError::BadRequest(_))));
        let (ct, body) = form(&[("patient", None, None, b"Patient/a b"), ("file", Some("a.pdf"), None, b"%PDF-")]);
        assert!(matches!(multipart(&ct, body).await, Err(FhirError::BadRequest(_))));
        assert!(matches!(multipart("multipart/form-data", Bytes::from_static(b"x")).await, Err(FhirError::BadRequest(_))));
        assert!(matches!(multipart("multipart/form-data; boundary=XyZ", Bytes::from_static(b"--XyZ\r\nbroken")).await, Err(FhirError::BadRequest(_))));
    }
}

