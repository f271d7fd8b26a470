//! $ingest-document evaluation on the generated corpus (`bench/ingest/corpus`, made by
//! `ingest/corpus/generate.py` from Synthea patients): field-level precision, recall and F1
//! of the text-layer pipeline, and how often values with confidence >= 0.9 are right.
//! Floors are asserted; the numbers are printed (`cargo nextest run --no-capture ingest_eval`).
use std::collections::BTreeMap;
use std::path::Path;

use hearth::ingest::{analyse, Settings};
use serde_json::Value;

fn norm(key: &str, v: &str) -> String {
    let t = v.trim().to_lowercase();
    if let Ok(x) = t.parse::<f64>() {
        return format!("{x}");
    }
    let _ = key;
    t.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// (key, value) pairs of a truth file; list items keyed by kind and name.
fn truth_pairs(t: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in t["fields"].as_object().into_iter().flatten() {
        out.insert(k.clone(), norm(k, v.as_str().unwrap_or_default()));
    }
    for (kind, items) in t["items"].as_object().into_iter().flatten() {
        for it in items.as_array().into_iter().flatten() {
            let name = norm("name", it["name"].as_str().unwrap_or_default());
            for (col, v) in it.as_object().into_iter().flatten() {
                let v = v.as_str().unwrap_or_default();
                if !v.is_empty() {
                    out.insert(format!("{kind}/{name}/{col}"), norm(col, v));
                }
            }
        }
    }
    out
}

struct Score {
    p: f64,
    r: f64,
    f1: f64,
    calibration: f64,
}

fn evaluate(folder: &str, label: &str, ocr: Option<&dyn hearth::ingest::TextSource>, min_docs: usize) -> Score {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("corpus folder").filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "pdf")).collect();
    files.sort();
    assert!(files.len() >= min_docs, "corpus too small: {}", files.len());
    let (mut tp, mut n_pred, mut n_truth) = (0usize, 0usize, 0usize);
    let (mut hi, mut hi_ok) = (0usize, 0usize);
    let (mut mid, mut mid_ok) = (0usize, 0usize);
    let mut misses: BTreeMap<String, usize> = BTreeMap::new();
    let mut total_ms = 0u128;
    for f in &files {
        let truth: Value = serde_json::from_slice(&std::fs::read(f.with_extension("truth.json")).expect("truth")).expect("truth json");
        let t = truth_pairs(&truth);
        let bytes = std::fs::read(f).expect("pdf");
        let a = analyse(&bytes, "application/pdf", &Settings::default(), ocr).expect("analyse");
        total_ms += a.millis;
        let mut pred: BTreeMap<String, (String, f32)> = BTreeMap::new();
        for v in &a.extraction.fields {
            pred.insert(v.key.clone(), (norm(&v.key, &v.value), v.confidence));
        }
        for it in &a.extraction.items {
            let name = it.get("name").map(|v| norm("name", &v.value)).unwrap_or_default();
            for (col, v) in &it.fields {
                pred.insert(format!("{}/{name}/{col}", it.kind), (norm(col, &v.value), v.confidence));
            }
        }
        n_truth += t.len();
        n_pred += pred.len();
        for (k, (v, c)) in &pred {
            let ok = t.get(k) == Some(v);
            if ok {
                tp += 1;
            } else if std::env::var("INGEST_EVAL_VERBOSE").is_ok() {
                eprintln!("{}: {k} = {v:?} (truth {:?}) confidence {c:.2}", f.display(), t.get(k));
            }
            if *c >= 0.6 {
                mid += 1;
                mid_ok += ok as usize;
            }
            if *c >= 0.9 {
                hi += 1;
                hi_ok += ok as usize;
            }
        }
        for (k, v) in &t {
            if pred.get(k).map(|p| &p.0) != Some(v) {
                if !pred.contains_key(k) && std::env::var("INGEST_EVAL_VERBOSE").is_ok() {
                    eprintln!("{}: {k} missing (truth {v:?})", f.display());
                }
                let field = k.split('/').next().map(|s| if k.contains('/') { format!("{s}/{}", k.rsplit('/').next().unwrap_or("")) } else { s.to_string() }).unwrap_or_default();
                *misses.entry(field).or_default() += 1;
            }
        }
    }
    let p = tp as f64 / n_pred.max(1) as f64;
    let r = tp as f64 / n_truth.max(1) as f64;
    let f1 = 2.0 * p * r / (p + r).max(1e-9);
    let cal = hi_ok as f64 / hi.max(1) as f64;
    println!("{label}: {} documents, {n_truth} true fields, {n_pred} extracted, {tp} correct", files.len());
    println!("precision {p:.3} recall {r:.3} F1 {f1:.3}; confidence>=0.9: {hi} values, {:.1}% correct; {:.1} ms/document", cal * 100.0, total_ms as f64 / files.len() as f64);
    println!("confidence>=0.6 (the default threshold): {mid} values, {:.1}% correct", mid_ok as f64 * 100.0 / mid.max(1) as f64);
    println!("missed or wrong by field: {misses:?}");
    Score { p, r, f1, calibration: cal }
}

#[test]
fn text_pdf_field_f1_meets_the_floor() {
    let s = evaluate("bench/ingest/corpus", "text PDFs", None, 20);
    assert!(s.f1 >= 0.95, "F1 {:.3} below 0.95", s.f1);
    assert!(s.p >= 0.95, "precision {:.3} below 0.95", s.p);
    assert!(s.calibration >= 0.97, "only {:.1}% of confidence>=0.9 values are right", s.calibration * 100.0);
}

/// Scanned variants (`ingest/corpus/scan.py`): OCR by Tesseract. Needs `tesseract` and
/// `pdftoppm` (scripts/test.sh installs them); without them the test says so and, outside
/// CI, passes without measuring.
#[test]
fn scanned_pdf_field_f1_meets_the_floor() {
    let Some(engine) = hearth::ingest::ocr::TesseractOcr::detect() else {
        assert!(std::env::var("CI").is_err(), "tesseract/pdftoppm missing in CI");
        eprintln!("SKIPPED: tesseract or pdftoppm is not installed");
        return;
    };
    let s = evaluate("bench/ingest/scans", "scanned PDFs (Tesseract)", Some(&engine), 6);
    let _ = s.r;
    assert!(s.f1 >= SCAN_F1_FLOOR, "F1 {:.3} below {SCAN_F1_FLOOR}", s.f1);
    assert!(s.calibration >= SCAN_CALIBRATION_FLOOR, "only {:.1}% of confidence>=0.9 values are right", s.calibration * 100.0);
}

const SCAN_F1_FLOOR: f64 = 0.9;
const SCAN_CALIBRATION_FLOOR: f64 = 0.97;
