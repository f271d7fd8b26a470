//! The PDF text layer, per page, with positions (lopdf). Pages without a usable text layer
//! are reported so that an OCR engine can take them.
use std::collections::BTreeMap;

use lopdf::content::Content;
use lopdf::{Document, Encoding, Object};

use super::layout::{build_lines, Page, TextOrigin};
use super::IngestError;

/// Most bytes of decompressed content read per page (a bomb guard).
const MAX_PAGE_CONTENT: usize = 8 * 1024 * 1024;
/// A page with fewer characters than this in its text layer is treated as a scan.
pub const MIN_TEXT_CHARS: usize = 16;

pub struct PdfFile {
    doc: Document,
}

impl PdfFile {
    pub fn parse(bytes: &[u8]) -> Result<PdfFile, IngestError> {
        let doc = Document::load_mem(bytes).map_err(|e| {
            let text = e.to_string();
            if text.to_ascii_lowercase().contains("encrypt") || text.to_ascii_lowercase().contains("password") {
                IngestError::Encrypted
            } else {
                IngestError::Corrupt(text)
            }
        })?;
        if doc.was_encrypted() || doc.is_encrypted() {
            return Err(IngestError::Encrypted);
        }
        Ok(PdfFile { doc })
    }

    /// Page `number` (1-based) alone as a PDF (for services that read one page at a time).
    pub fn single_page(bytes: &[u8], number: usize) -> Result<Vec<u8>, IngestError> {
        let mut doc = PdfFile::parse(bytes)?.doc;
        let others: Vec<u32> = doc.get_pages().keys().copied().filter(|&n| n as usize != number).collect();
        if others.len() == doc.get_pages().len() {
            return Err(IngestError::Corrupt(format!("the PDF has no page {number}")));
        }
        doc.delete_pages(&others);
        doc.prune_objects();
        let mut out = Vec::new();
        doc.save_to(&mut out).map_err(|e| IngestError::Corrupt(e.to_string()))?;
        Ok(out)
    }

    pub fn page_count(&self) -> usize {
        self.doc.get_pages().len()
    }

    /// The text layer of every page (`None` for a page that needs OCR).
    pub fn text_pages(&self) -> Result<Vec<Option<Page>>, IngestError> {
        let mut out = Vec::new();
        for (number, id) in self.doc.get_pages() {
            let page = self.page_text(number as usize, id)?;
            let chars: usize = page.lines.iter().map(|l| l.text().chars().filter(|c| !c.is_whitespace()).count()).sum();
            out.push(if chars >= MIN_TEXT_CHARS { Some(page) } else { None });
        }
        Ok(out)
    }

    fn page_text(&self, number: usize, id: lopdf::ObjectId) -> Result<Page, IngestError> {
        let doc = &self.doc;
        let fonts = doc.get_page_fonts(id).unwrap_or_default();
        let bold_fonts: BTreeMap<Vec<u8>, bool> = fonts
            .iter()
            .map(|(name, f)| (name.clone(), f.get(b"BaseFont").and_then(|b| b.as_name()).is_ok_and(|b| String::from_utf8_lossy(b).contains("Bold"))))
            .collect();
        let encodings: BTreeMap<Vec<u8>, Encoding> =
            fonts.into_iter().filter_map(|(name, font)| font.get_font_encoding(doc).ok().map(|e| (name, e))).collect();
        let data = doc
            .get_page_content_with_limit(id, MAX_PAGE_CONTENT)
            .map_err(|e| IngestError::Corrupt(format!("page {number}: {e}")))?;
        let content = Content::decode(&data).map_err(|e| IngestError::Corrupt(format!("page {number}: {e}")))?;
        let mut runs = Vec::new();
        let mut enc: Option<&Encoding> = None;
        let mut bold = false;
        let mut size = 10.0f32;
        // text matrix (a b c d e f) and line matrix origin
        let mut tm = [1.0f32, 0.0, 0.0, 1.0, 0.0, 0.0];
        let mut lm = tm;
        let mut leading = 0.0f32;
        let num = |o: &Object| -> f32 { o.as_float().ok().or_else(|| o.as_i64().ok().map(|i| i as f32)).unwrap_or(0.0) };
        for op in &content.operations {
            let o = &op.operands;
            match op.operator.as_str() {
                "BT" => {
                    tm = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
                    lm = tm;
                }
                "Tf" if o.len() >= 2 => {
                    enc = o[0].as_name().ok().and_then(|n| encodings.get(n));
                    bold = o[0].as_name().ok().and_then(|n| bold_fonts.get(n)).copied().unwrap_or(false);
                    size = num(&o[1]);
                }
                "TL" if !o.is_empty() => leading = num(&o[0]),
                "Tm" if o.len() >= 6 => {
                    for (i, v) in o.iter().take(6).enumerate() {
                        tm[i] = num(v);
                    }
                    lm = tm;
                }
                "Td" | "TD" if o.len() >= 2 => {
                    let (tx, ty) = (num(&o[0]), num(&o[1]));
                    if op.operator == "TD" {
                        leading = -ty;
                    }
                    lm[4] += tx * lm[0] + ty * lm[2];
                    lm[5] += tx * lm[1] + ty * lm[3];
                    tm = lm;
                }
                "T*" => {
                    lm[5] -= leading * lm[3];
                    tm = lm;
                }
                "Tj" | "TJ" | "'" | "\"" => {
                    if op.operator == "'" || op.operator == "\"" {
                        lm[5] -= leading * lm[3];
                        tm = lm;
                    }
                    let Some(e) = enc else { continue };
                    let mut text = String::new();
                    for operand in o {
                        collect(e, operand, &mut text);
                    }
                    let scale = (tm[0] * tm[0] + tm[1] * tm[1]).sqrt().max(0.01);
                    let eff = size * scale;
                    let width = text_width(&text) * eff * if bold { 1.05 } else { 1.0 };
                    runs.push((text, tm[4], tm[5], width, eff, 1.0));
                    tm[4] += width;
                }
                _ => {}
            }
        }
        Ok(Page { number, origin: TextOrigin::TextLayer, lines: build_lines(number, runs) })
    }
}

fn collect(enc: &Encoding, o: &Object, out: &mut String) {
    match o {
        Object::String(bytes, _) => {
            if let Ok(s) = Document::decode_text(enc, bytes) {
                out.push_str(&s);
            }
        }
        Object::Array(items) => {
            for i in items {
                match i {
                    // A large negative kerning adjustment is a word gap.
                    Object::Integer(n) if *n < -200 => out.push(' '),
                    Object::Real(n) if *n < -200.0 => out.push(' '),
                    _ => collect(enc, i, out),
                }
            }
        }
        _ => {}
    }
}

/// Advance width in em of text set in Helvetica (Adobe's standard metrics, /1000); the
/// estimate that separates table cells when a font has no width table of its own.
fn text_width(text: &str) -> f32 {
    const W: [u16; 95] = [
        278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space to /
        556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0 to ?
        1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @ to O
        667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P to _
        333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // ` to o
        556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p to ~
    ];
    text.chars().map(|c| {
        let i = c as usize;
        if (32..127).contains(&i) { W[i - 32] as f32 / 1000.0 } else { 0.556 }
    }).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_is_cut_out_with_its_text() {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/ingest/corpus/000-clinic.pdf")).expect("corpus");
        let whole = PdfFile::parse(&bytes).expect("pdf");
        assert!(whole.page_count() >= 2);
        let second = PdfFile::single_page(&bytes, 2).expect("page 2");
        let one = PdfFile::parse(&second).expect("one-page pdf");
        assert_eq!(one.page_count(), 1);
        let text = |p: &PdfFile, i: usize| p.text_pages().expect("text")[i].as_ref().map(|pg| pg.lines.iter().map(|l| l.text()).collect::<Vec<_>>());
        assert_eq!(text(&one, 0), text(&whole, 1));
        assert!(matches!(PdfFile::single_page(&bytes, 99), Err(IngestError::Corrupt(_))));
    }
}
