//! `$ingest-document`: a clinical document (PDF) -> text with positions (PDF text layer;
//! pages without one need OCR) -> sections -> blueprint fields with confidence -> coded
//! FHIR resources in ONE transaction Bundle through the normal transaction path.
//!
//! Each stage is a trait (`TextSource` here, `segment::Segmenter`, `extract::FieldExtractor`,
//! `terminology::Coder`) so a cloud service (Textract, Comprehend Medical) can replace it.
pub mod blueprint;
pub mod bundle;
pub mod comprehend;
#[cfg(feature = "aws")]
pub mod comprehend_aws;
pub mod extract;
pub mod icd10cm;
pub mod layout;
pub mod normalise;
pub mod ocr;
pub mod pdf;
pub mod segment;
pub mod terminology;
pub mod textract;
#[cfg(feature = "aws")]
pub mod textract_aws;

use std::time::Instant;

use base64::Engine;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::FhirError;
use crate::fhir::outcome::{Issue, Severity};
use crate::interactions::transaction::{self, Limits, Outcome};
use crate::interactions::Fhir;
use blueprint::Blueprint;
use extract::{BlueprintExtractor, Extraction, FieldExtractor};
use layout::{Page, TextOrigin};
use segment::{HeadingSegmenter, Segmenter};
use terminology::SubsetCoder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LowConfidence {
    /// Keep low-confidence values, flag them (extension) and warn.
    Flag,
    /// Leave them out and warn.
    Omit,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub max_pages: usize,
    pub min_confidence: f32,
    pub low_confidence: LowConfidence,
    /// Use OCR for pages without a text layer and for images.
    pub ocr: bool,
    /// The OCR engine: `tesseract` (when installed) or `textract` (feature `aws`).
    pub ocr_engine: String,
    /// The extraction of clinical lists: `blueprint` or `comprehend-medical` (feature `aws`).
    pub extractor: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { max_pages: 50, min_confidence: 0.6, low_confidence: LowConfidence::Flag, ocr: true, ocr_engine: "tesseract".into(), extractor: "blueprint".into() }
    }
}

/// Why a document cannot be ingested (all are the client's problem: 4xx).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("unsupported document type '{0}': send application/pdf")]
    Unsupported(String),
    #[error("the body is not a PDF document (no %PDF header)")]
    NotPdf,
    #[error("the PDF is corrupt or unreadable: {0}")]
    Corrupt(String),
    #[error("the PDF is encrypted; send an unencrypted document")]
    Encrypted,
    #[error("the PDF has no pages")]
    NoPages,
    #[error("the document has {0} pages; the limit is {1} (--ingest-max-pages)")]
    TooManyPages(usize, usize),
    #[error("page(s) {0:?} have no text layer (scanned) and no OCR engine is configured")]
    NeedsOcr(Vec<usize>),
    #[error("the image is {0} x {1} pixels; the limit is 100 megapixels")]
    ImageTooLarge(u32, u32),
    #[error("the body does not look like a {0} image")]
    NotImage(String),
    #[error("OCR failed: {0}")]
    Ocr(String),
    #[error("the extraction service failed: {0}")]
    Service(String),
    #[error("no text could be read from the document")]
    NoText,
    #[error("{0}")]
    NoPatient(String),
}

impl From<IngestError> for FhirError {
    fn from(e: IngestError) -> Self {
        match e {
            IngestError::Unsupported(_) => FhirError::UnsupportedMediaType(e.to_string()),
            IngestError::TooManyPages(..) | IngestError::ImageTooLarge(..) => FhirError::PayloadTooLarge(e.to_string()),
            IngestError::Ocr(_) | IngestError::Service(_) => FhirError::Internal(e.to_string()),
            _ => FhirError::Invalid(vec![Issue::error("processing", e.to_string())]),
        }
    }
}

/// A text stage: the text of a page that has no text layer (an OCR engine).
pub trait TextSource: Send + Sync {
    fn name(&self) -> &'static str;
    /// OCR of page `number` (1-based) of the PDF.
    fn ocr_page(&self, pdf: &[u8], number: usize) -> Result<Page, IngestError>;
    /// OCR of an image (`ext`: png, jpg, tif).
    fn ocr_image(&self, bytes: &[u8], ext: &str) -> Result<Page, IngestError>;
}

#[derive(Debug, Clone, Serialize)]
pub struct PageInfo {
    pub number: usize,
    pub origin: TextOrigin,
    pub lines: usize,
}

/// What the pipeline read from a document, before anything is written.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub sha256: String,
    pub pages: Vec<PageInfo>,
    pub extraction: Extraction,
    pub millis: u128,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Text, sections and fields of a document (CPU only; nothing is written).
pub fn analyse(bytes: &[u8], content_type: &str, settings: &Settings, ocr: Option<&dyn TextSource>) -> Result<Analysis, IngestError> {
    analyse_with(bytes, content_type, settings, ocr, &BlueprintExtractor { blueprint: Blueprint::shipped() })
}

/// `analyse` with another extraction stage.
pub fn analyse_with(bytes: &[u8], content_type: &str, settings: &Settings, ocr: Option<&dyn TextSource>, extractor: &dyn FieldExtractor) -> Result<Analysis, IngestError> {
    let started = Instant::now();
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let pages = match ct.as_str() {
        "application/pdf" | "application/octet-stream" | "" => pdf_pages(bytes, settings, ocr)?,
        "image/png" | "image/jpeg" | "image/tiff" => {
            let ext = image_kind(bytes, &ct)?;
            let Some(o) = ocr else { return Err(IngestError::NeedsOcr(vec![1])) };
            vec![o.ocr_image(bytes, ext)?]
        }
        _ => return Err(IngestError::Unsupported(ct)),
    };
    let bp = Blueprint::shipped();
    let sections = HeadingSegmenter { blueprint: bp }.segment(&pages);
    let extraction = extractor.extract(&sections)?;
    if extraction.fields.is_empty() && extraction.items.is_empty() && pages.iter().all(|p| p.lines.is_empty()) {
        return Err(IngestError::NoText);
    }
    Ok(Analysis {
        sha256: sha256_hex(bytes),
        pages: pages.iter().map(|p| PageInfo { number: p.number, origin: p.origin, lines: p.lines.len() }).collect(),
        extraction,
        millis: started.elapsed().as_millis(),
    })
}

/// Checks an image's signature and size (an image bomb is refused before decoding).
fn image_kind(bytes: &[u8], ct: &str) -> Result<&'static str, IngestError> {
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (ext, dims) = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() >= 24 {
        ("png", Some((be32(&bytes[16..20]), be32(&bytes[20..24]))))
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ("jpg", jpeg_size(bytes))
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        ("tif", None)
    } else {
        return Err(IngestError::NotImage(ct.to_string()));
    };
    if let Some((w, h)) = dims {
        if (w as u64) * (h as u64) > 100_000_000 {
            return Err(IngestError::ImageTooLarge(w, h));
        }
    }
    Ok(ext)
}

/// Width and height from a JPEG's start-of-frame marker.
fn jpeg_size(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    while i + 9 < b.len() {
        if b[i] != 0xFF {
            return None;
        }
        let marker = b[i + 1];
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            let h = u16::from_be_bytes([b[i + 5], b[i + 6]]) as u32;
            let w = u16::from_be_bytes([b[i + 7], b[i + 8]]) as u32;
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

/// Pages of a PDF: the text layer where a page has one, OCR where it does not.
fn pdf_pages(bytes: &[u8], settings: &Settings, ocr: Option<&dyn TextSource>) -> Result<Vec<Page>, IngestError> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(IngestError::NotPdf);
    }
    let file = pdf::PdfFile::parse(bytes)?;
    let n = file.page_count();
    if n == 0 {
        return Err(IngestError::NoPages);
    }
    if n > settings.max_pages {
        return Err(IngestError::TooManyPages(n, settings.max_pages));
    }
    let mut pages = Vec::new();
    let mut scanned = Vec::new();
    for (i, p) in file.text_pages()?.into_iter().enumerate() {
        match (p, ocr) {
            (Some(p), _) => pages.push(p),
            (None, Some(o)) => pages.push(o.ocr_page(bytes, i + 1)?),
            (None, None) => scanned.push(i + 1),
        }
    }
    if !scanned.is_empty() {
        if pages.is_empty() {
            return Err(IngestError::NeedsOcr(scanned));
        }
        tracing::warn!(pages = ?scanned, "pages without a text layer were skipped (no OCR engine)");
    }
    Ok(pages)
}

/// Refuses settings naming an OCR engine or an extraction service this build does not have
/// (run at start, so that such a server does not start).
pub async fn check_services(settings: &Settings) -> Result<(), String> {
    ocr_service(settings).await.map_err(|e| e.to_string())?;
    entity_service(settings).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// The OCR service named by the settings, when it is not the local Tesseract.
async fn ocr_service(settings: &Settings) -> Result<Option<&'static dyn TextSource>, FhirError> {
    match settings.ocr_engine.as_str() {
        "tesseract" | "" => Ok(None),
        #[cfg(feature = "aws")]
        "textract" => {
            static TEXTRACT: tokio::sync::OnceCell<textract_aws::TextractOcr> = tokio::sync::OnceCell::const_new();
            let t = TEXTRACT.get_or_init(|| textract_aws::TextractOcr::new(tokio::runtime::Handle::current())).await;
            Ok(Some(t as &dyn TextSource))
        }
        other => Err(FhirError::Internal(format!("OCR engine '{other}' is not available in this build (HEARTH_INGEST_OCR: tesseract, or textract with the aws feature)"))),
    }
}

/// The entity service named by the settings, when extraction is not the blueprint alone.
async fn entity_service(settings: &Settings) -> Result<Option<&'static dyn comprehend::EntityDetector>, FhirError> {
    match settings.extractor.as_str() {
        "blueprint" | "" => Ok(None),
        #[cfg(feature = "aws")]
        "comprehend-medical" => {
            static CM: tokio::sync::OnceCell<comprehend_aws::ComprehendMedical> = tokio::sync::OnceCell::const_new();
            let c = CM.get_or_init(|| comprehend_aws::ComprehendMedical::new(tokio::runtime::Handle::current())).await;
            Ok(Some(c as &dyn comprehend::EntityDetector))
        }
        other => Err(FhirError::Internal(format!(
            "extraction '{other}' is not available in this build (HEARTH_INGEST_EXTRACT: blueprint, or comprehend-medical with the aws feature)"
        ))),
    }
}

/// The result of an ingestion: what was read, the transaction's outcome, the warnings.
pub struct Ingested {
    pub analysis: Analysis,
    pub outcome: Outcome,
    pub warnings: Vec<Issue>,
}

/// The whole operation: analyse, build the transaction Bundle, run it.
pub async fn ingest(
    fhir: &Fhir,
    tenant: &str,
    base_url: &str,
    limits: Limits,
    bytes: bytes::Bytes,
    content_type: String,
    patient: Option<String>,
    settings: Settings,
) -> Result<Ingested, FhirError> {
    if let Some(p) = &patient {
        let id = p.trim_start_matches("Patient/");
        crate::interactions::read::read(fhir, tenant, "Patient", id).await?;
    }
    let (b2, s2, ct2) = (bytes.clone(), settings.clone(), content_type.clone());
    let service = ocr_service(&settings).await?;
    let detector = entity_service(&settings).await?;
    let analysis = tokio::task::spawn_blocking(move || {
        let local = if s2.ocr && service.is_none() { ocr::TesseractOcr::detect() } else { None };
        let engine = service.or(local.as_ref().map(|e| e as &dyn TextSource));
        match detector {
            Some(d) => analyse_with(&b2, &ct2, &s2, engine, &comprehend::ComprehendMedicalExtractor { blueprint: Blueprint::shipped(), detector: d }),
            None => analyse(&b2, &ct2, &s2, engine),
        }
    })
        .await
        .map_err(|e| FhirError::Internal(format!("ingest task failed: {e}")))??;
    let now = crate::fhir::meta::instant(crate::fhir::meta::now_micros());
    // The original is stored once (BlobStore, through Binary) under its SHA-256.
    let stored = fhir.store.read(tenant, "Binary", &analysis.sha256).await?.is_some_and(|v| !v.is_deleted());
    let identifier_criteria_only = !fhir.store.any_conditional_criteria();
    let provenance_stored = identifier_criteria_only
        && fhir.store.read(tenant, "Provenance", &bundle::provenance_id(&analysis.sha256)).await?.is_some_and(|v| !v.is_deleted());
    let input = bundle::Input {
        ex: &analysis.extraction,
        sha256: &analysis.sha256,
        content_type: &content_type,
        data_base64: (!stored).then(|| base64::engine::general_purpose::STANDARD.encode(&bytes)),
        size: bytes.len(),
        patient,
        now,
        settings: &settings,
        coder: SubsetCoder::shipped(),
        blueprint: Blueprint::shipped(),
        identifier_criteria_only,
        provenance_stored,
    };
    let built = bundle::build(&input).map_err(|e| FhirError::from(IngestError::NoPatient(e)))?;
    let outcome = transaction::process(fhir, tenant, built.bundle, limits, base_url, &None).await.map_err(|f| {
        if f.error.status() >= 500 {
            f.error
        } else {
            // A Bundle we built was refused: report where, as a 422.
            let mut issues = f.issues();
            issues.insert(0, Issue::error("processing", "the resources read from the document were not accepted"));
            FhirError::Invalid(issues)
        }
    })?;
    Ok(Ingested { analysis, outcome, warnings: built.warnings })
}

/// The response body: a Parameters with the OperationOutcome, the transaction-response
/// Bundle and every extracted value with its confidence.
pub fn response(ing: &Ingested, transaction_response: Value) -> Value {
    let mut issues = ing.warnings.clone();
    let n = ing.outcome.entries.len();
    issues.insert(0, Issue {
        severity: Severity::Information,
        code: "informational",
        diagnostics: format!(
            "read {} page(s) ({}), {} fields and {} list items in {} ms; {} transaction entries",
            ing.analysis.pages.len(),
            ing.analysis.pages.iter().map(|p| format!("{}: {:?}", p.number, p.origin)).collect::<Vec<_>>().join(", "),
            ing.analysis.extraction.fields.len(),
            ing.analysis.extraction.items.len(),
            ing.analysis.millis,
            n
        ),
        expression: String::new(),
    });
    let mut params = vec![
        serde_json::json!({"name": "outcome", "resource": crate::fhir::outcome::operation_outcome(&issues)}),
        serde_json::json!({"name": "transaction", "resource": transaction_response}),
    ];
    let field = |key: String, v: &extract::Value| {
        serde_json::json!({"name": "field", "part": [
            {"name": "key", "valueString": key},
            {"name": "value", "valueString": v.value},
            {"name": "confidence", "valueDecimal": bundle::dec(v.confidence)},
            {"name": "page", "valueInteger": v.page}
        ]})
    };
    for v in &ing.analysis.extraction.fields {
        params.push(field(v.key.clone(), v));
    }
    for (i, item) in ing.analysis.extraction.items.iter().enumerate() {
        for (col, v) in &item.fields {
            params.push(field(format!("{}[{i}].{col}", item.kind), v));
        }
    }
    serde_json::json!({"resourceType": "Parameters", "parameter": params})
}
