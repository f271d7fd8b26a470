//! Amazon Textract as a text source (the AWS counterpart of `ocr::TesseractOcr`): the
//! `DetectDocumentText` request body and the mapping of its response (`Blocks`) to pages of
//! lines and cells. Only the mapping is here; the signed HTTP call is not implemented yet.
use std::collections::HashMap;

use base64::Engine;
use serde_json::{json, Value};

use super::layout::{build_lines, Line, Page, TextOrigin};

/// The request body of `Textract.DetectDocumentText` for one page's image or a PDF.
pub fn detect_document_text_request(document: &[u8]) -> Value {
    json!({"Document": {"Bytes": base64::engine::general_purpose::STANDARD.encode(document)}})
}

/// Pages from a `DetectDocumentText` / `GetDocumentTextDetection` response. Bounding boxes
/// are fractions of the page; they are scaled to a US Letter page in points. Each `LINE`
/// block's `WORD` children become runs; confidence is Textract's (0-100) / 100.
pub fn pages_from_response(resp: &Value) -> Vec<Page> {
    const W: f32 = 612.0;
    const H: f32 = 792.0;
    let blocks: Vec<&Value> = resp.get("Blocks").and_then(Value::as_array).map(|b| b.iter().collect()).unwrap_or_default();
    let by_id: HashMap<&str, &Value> = blocks.iter().filter_map(|b| b.get("Id").and_then(Value::as_str).map(|id| (id, *b))).collect();
    let f = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0) as f32;
    let mut pages: std::collections::BTreeMap<usize, Vec<Line>> = Default::default();
    for line in blocks.iter().filter(|b| b.get("BlockType").and_then(Value::as_str) == Some("LINE")) {
        let page = line.get("Page").and_then(Value::as_u64).unwrap_or(1) as usize;
        let children: Vec<&str> = line
            .get("Relationships")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.get("Type").and_then(Value::as_str) == Some("CHILD"))
            .flat_map(|r| r.get("Ids").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str))
            .collect();
        let mut runs = Vec::new();
        for id in children {
            let Some(word) = by_id.get(id) else { continue };
            let Some(text) = word.get("Text").and_then(Value::as_str) else { continue };
            let bb = &word["Geometry"]["BoundingBox"];
            let conf = (f(word, "Confidence") / 100.0).clamp(0.0, 1.0);
            runs.push((format!("{text} "), f(bb, "Left") * W, 0.0, f(bb, "Width") * W, f(bb, "Height") * H, conf));
        }
        if runs.is_empty() {
            continue;
        }
        // one Textract line is one line here, whatever its skew
        let bb = &line["Geometry"]["BoundingBox"];
        let y = -(f(bb, "Top") + f(bb, "Height")) * H;
        let height = runs.iter().map(|r| r.4).fold(0.0, f32::max) * 0.75;
        for r in runs.iter_mut() {
            r.2 = y;
            r.4 = height;
        }
        pages.entry(page).or_default().extend(build_lines(page, runs));
    }
    pages.into_iter().map(|(number, mut lines)| {
        lines.sort_by(|a, b| b.y().partial_cmp(&a.y()).unwrap_or(std::cmp::Ordering::Equal));
        Page { number, origin: TextOrigin::Ocr, lines }
    }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(id: &str, text: &str, left: f64, top: f64, conf: f64) -> Value {
        json!({"BlockType": "WORD", "Id": id, "Text": text, "Confidence": conf, "Page": 1,
            "Geometry": {"BoundingBox": {"Left": left, "Top": top, "Width": 0.06, "Height": 0.012}}})
    }

    #[test]
    fn request_carries_the_document() {
        let r = detect_document_text_request(b"%PDF-1.4");
        assert_eq!(r["Document"]["Bytes"], "JVBERi0xLjQ=");
    }

    #[test]
    fn lines_and_words_become_cells_top_to_bottom() {
        let resp = json!({"Blocks": [
            {"BlockType": "PAGE", "Id": "p"},
            {"BlockType": "LINE", "Id": "l2", "Page": 1, "Geometry": {"BoundingBox": {"Left": 0.08, "Top": 0.20, "Width": 0.8, "Height": 0.012}},
             "Relationships": [{"Type": "CHILD", "Ids": ["w3", "w4"]}]},
            {"BlockType": "LINE", "Id": "l1", "Page": 1, "Geometry": {"BoundingBox": {"Left": 0.08, "Top": 0.10, "Width": 0.3, "Height": 0.012}},
             "Relationships": [{"Type": "CHILD", "Ids": ["w1", "w2"]}]},
            word("w1", "Heart", 0.08, 0.10, 99.0), word("w2", "Rate:", 0.145, 0.10, 98.0),
            word("w3", "Sex:", 0.08, 0.20, 97.5), word("w4", "Female", 0.60, 0.20, 90.0)
        ]});
        let pages = pages_from_response(&resp);
        assert_eq!(pages.len(), 1);
        let lines: Vec<Vec<String>> = pages[0].lines.iter().map(|l| l.cells.iter().map(|c| c.text.clone()).collect()).collect();
        assert_eq!(lines, vec![vec!["Heart Rate:".to_string()], vec!["Sex:".to_string(), "Female".to_string()]]);
        assert!((pages[0].lines[1].cells[1].confidence - 0.9).abs() < 1e-6);
    }
}
