//! Text with positions: what every text source (PDF text layer, OCR) produces.
use serde::Serialize;

/// Where a page's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextOrigin {
    TextLayer,
    Ocr,
}

/// A run of text on one line (a table cell, a label with its value, ...).
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub text: String,
    /// Left edge and baseline in points from the page's bottom-left corner.
    pub x: f32,
    pub y: f32,
    /// Estimated right edge.
    pub x_end: f32,
    /// Recognition confidence in [0, 1] (1 for a text layer).
    pub confidence: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub cells: Vec<Cell>,
    pub page: usize,
}

impl Line {
    pub fn text(&self) -> String {
        self.cells.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ")
    }
    pub fn y(&self) -> f32 {
        self.cells.first().map(|c| c.y).unwrap_or(0.0)
    }
    pub fn confidence(&self) -> f32 {
        self.cells.iter().map(|c| c.confidence).fold(1.0, f32::min)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// 1-based page number.
    pub number: usize,
    pub origin: TextOrigin,
    pub lines: Vec<Line>,
}

/// Groups positioned runs into lines (top to bottom) and merges runs that touch into cells.
/// `runs`: (text, x, y, estimated width, font size, confidence).
pub fn build_lines(page: usize, mut runs: Vec<(String, f32, f32, f32, f32, f32)>) -> Vec<Line> {
    runs.retain(|r| !r.0.trim().is_empty());
    runs.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap_or(std::cmp::Ordering::Equal).then(a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal)));
    let mut lines: Vec<Line> = Vec::new();
    let mut current: Vec<(String, f32, f32, f32, f32, f32)> = Vec::new();
    let flush = |current: &mut Vec<(String, f32, f32, f32, f32, f32)>, lines: &mut Vec<Line>| {
        if current.is_empty() {
            return;
        }
        current.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal));
        let mut cells: Vec<Cell> = Vec::new();
        for (text, x, y, w, size, conf) in current.drain(..) {
            match cells.last_mut() {
                // Touching runs (a word split in pieces, or words one space apart) form one cell.
                Some(c) if x - c.x_end < size * 0.8 => {
                    if x - c.x_end > size * 0.15 && !c.text.ends_with(' ') && !text.starts_with(' ') {
                        c.text.push(' ');
                    }
                    c.text.push_str(&text);
                    c.x_end = x + w;
                    c.confidence = c.confidence.min(conf);
                }
                _ => cells.push(Cell { text, x, y, x_end: x + w, confidence: conf }),
            }
        }
        for c in cells.iter_mut() {
            c.text = c.text.split_whitespace().collect::<Vec<_>>().join(" ");
        }
        lines.push(Line { cells, page });
    };
    for r in runs {
        if let Some(first) = current.first() {
            if (first.2 - r.2).abs() > first.4.max(r.4) * 0.4 {
                flush(&mut current, &mut lines);
            }
        }
        current.push(r);
    }
    flush(&mut current, &mut lines);
    lines
}
