//! Amazon Textract as the OCR stage (`HEARTH_INGEST_OCR=textract`, feature `aws`):
//! `DetectDocumentText` on each scanned page (sent alone as a one-page PDF) or image; the
//! response's blocks go through the same mapping as recorded responses (`textract`).
use aws_sdk_textract::primitives::Blob;
use aws_sdk_textract::types::{Block, Document};
use serde_json::{json, Value};

use super::layout::Page;
use super::{IngestError, TextSource};

pub struct TextractOcr {
    client: aws_sdk_textract::Client,
    runtime: tokio::runtime::Handle,
}

impl TextractOcr {
    /// A client from the SDK configuration of the AWS adapters (region, credentials,
    /// endpoint); `runtime` runs the calls of the (blocking) OCR stage.
    pub async fn new(runtime: tokio::runtime::Handle) -> TextractOcr {
        let conf = crate::aws::sdk_config().await;
        TextractOcr { client: aws_sdk_textract::Client::new(&conf), runtime }
    }

    fn detect(&self, document: Vec<u8>, number: usize) -> Result<Page, IngestError> {
        let call = self.client.detect_document_text().document(Document::builder().bytes(Blob::new(document)).build()).send();
        let out = self.runtime.block_on(call).map_err(|e| IngestError::Ocr(format!("Textract: {}", aws_sdk_textract::error::DisplayErrorContext(e))))?;
        let mut pages = super::textract::pages_from_response(&blocks_json(out.blocks()));
        let mut page = pages.pop().unwrap_or(Page { number, origin: super::layout::TextOrigin::Ocr, lines: Vec::new() });
        page.number = number;
        for l in page.lines.iter_mut() {
            l.page = number;
        }
        Ok(page)
    }
}

impl TextSource for TextractOcr {
    fn name(&self) -> &'static str {
        "textract"
    }

    fn ocr_page(&self, pdf: &[u8], number: usize) -> Result<Page, IngestError> {
        self.detect(super::pdf::PdfFile::single_page(pdf, number)?, number)
    }

    fn ocr_image(&self, bytes: &[u8], _ext: &str) -> Result<Page, IngestError> {
        self.detect(bytes.to_vec(), 1)
    }
}

/// The SDK's blocks in the shape of Textract's JSON response (`{"Blocks": [...]}`).
pub fn blocks_json(blocks: &[Block]) -> Value {
    let out: Vec<Value> = blocks
        .iter()
        .map(|b| {
            let mut v = json!({
                "BlockType": b.block_type().map(|t| t.as_str()),
                "Id": b.id(),
                "Text": b.text(),
                "Confidence": b.confidence(),
                "Page": b.page(),
                "Relationships": b.relationships().iter().map(|r| json!({"Type": r.r#type().map(|t| t.as_str()), "Ids": r.ids()})).collect::<Vec<_>>(),
            });
            if let Some(bb) = b.geometry().and_then(|g| g.bounding_box()) {
                v["Geometry"] = json!({"BoundingBox": {"Left": bb.left(), "Top": bb.top(), "Width": bb.width(), "Height": bb.height()}});
            }
            v
        })
        .collect();
    json!({ "Blocks": out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_textract::types::{BlockType, BoundingBox, Geometry, Relationship, RelationshipType};

    fn word(id: &str, text: &str, left: f32, conf: f32) -> Block {
        let bb = BoundingBox::builder().left(left).top(0.1).width(0.06).height(0.012).build();
        Block::builder().block_type(BlockType::Word).id(id).text(text).confidence(conf).page(1).geometry(Geometry::builder().bounding_box(bb).build()).build()
    }

    #[test]
    fn sdk_blocks_map_like_a_recorded_response() {
        let bb = BoundingBox::builder().left(0.08).top(0.1).width(0.5).height(0.012).build();
        let line = Block::builder()
            .block_type(BlockType::Line)
            .id("l1")
            .page(1)
            .geometry(Geometry::builder().bounding_box(bb).build())
            .relationships(Relationship::builder().r#type(RelationshipType::Child).ids("w1").ids("w2").build())
            .build();
        let blocks = vec![line, word("w1", "Sex:", 0.08, 99.0), word("w2", "Female", 0.6, 80.0)];
        let v = blocks_json(&blocks);
        assert_eq!(v["Blocks"][0]["BlockType"], "LINE");
        assert_eq!(v["Blocks"][0]["Relationships"][0]["Type"], "CHILD");
        let pages = super::super::textract::pages_from_response(&v);
        let cells: Vec<&str> = pages[0].lines[0].cells.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(cells, vec!["Sex:", "Female"]);
        assert!((pages[0].lines[0].cells[1].confidence - 0.8).abs() < 1e-6);
    }
}
