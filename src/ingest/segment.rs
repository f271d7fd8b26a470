//! Segmentation: lines -> sections (demographics, encounter, vitals, problems, ...), by the
//! blueprint's headings. Text before the first heading is the `header` section.
use super::blueprint::{cue_form, find_cue, Blueprint};
use super::layout::{Line, Page};

#[derive(Debug, Clone)]
pub struct Section {
    pub kind: String,
    pub heading: String,
    pub lines: Vec<Line>,
}

/// A segmentation stage (a layout model or a cloud service could replace the heading rules).
pub trait Segmenter: Send + Sync {
    fn segment(&self, pages: &[Page]) -> Vec<Section>;
}

pub struct HeadingSegmenter {
    pub blueprint: &'static Blueprint,
}

impl HeadingSegmenter {
    /// The section kind a line starts, when it is a heading (its whole text is one).
    fn heading_kind(&self, line: &Line) -> Option<&str> {
        self.text_heading(&line.text()).or_else(|| {
            // a heading cell followed by OCR debris cells ("MEDICATIONS" "eee")
            let (first, rest) = line.cells.split_first()?;
            let debris = |t: &str| t.chars().filter(|c| c.is_alphanumeric()).count() <= 3;
            (!rest.is_empty() && rest.iter().all(|c| debris(&c.text))).then(|| self.text_heading(&first.text)).flatten()
        })
    }

    fn text_heading(&self, text: &str) -> Option<&str> {
        let t = text.trim();
        // "Label: value" is a field, not a heading.
        if let Some((_, after)) = t.split_once(':') {
            if !after.trim().is_empty() {
                return None;
            }
        }
        // OCR leaves specks and rules around headings ("~ MEDICATIONS . _ _"): only words
        // with letters count.
        let words: Vec<&str> = t.split_whitespace().filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2 || *w == "/").collect();
        let form = cue_form(&words.join(" ").trim_end_matches(['.', ',', ';', '|']).to_string());
        let headings = self.blueprint.sections.iter().flat_map(|s| s.heading_forms.iter().map(move |h| (h.as_str(), s.kind.as_str())));
        find_cue(&form, headings).map(|(kind, _)| kind)
    }
}

impl Segmenter for HeadingSegmenter {
    fn segment(&self, pages: &[Page]) -> Vec<Section> {
        let mut out = vec![Section { kind: "header".into(), heading: String::new(), lines: Vec::new() }];
        for page in pages {
            for line in &page.lines {
                let text = line.text();
                if self.blueprint.ignore_re.iter().any(|r| r.is_match(text.trim())) {
                    continue;
                }
                if let Some(kind) = self.heading_kind(line) {
                    out.push(Section { kind: kind.to_string(), heading: text.trim().to_string(), lines: Vec::new() });
                    continue;
                }
                if let Some(s) = out.last_mut() {
                    s.lines.push(line.clone());
                }
            }
        }
        out
    }
}
