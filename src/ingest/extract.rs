//! Field extraction driven by the blueprint: "Label: value" pairs and label/value table rows
//! for scalar fields; tables (columns found by their header cues and x positions) or one
//! item per line (`- name; started 03/01/2019; active`) for list sections.
use std::collections::BTreeMap;

use serde::Serialize;

use super::blueprint::{cue_form, find_cue, Blueprint, FieldDef, ListDef};
use super::layout::{Cell, Line};
use super::normalise::{normalise, Norm};
use super::segment::Section;

/// One extracted value with its confidence in [0, 1].
#[derive(Debug, Clone, Serialize)]
pub struct Value {
    pub key: String,
    /// Canonical form (ISO dates, FHIR codes, plain numbers).
    pub value: String,
    /// The text as printed.
    pub raw: String,
    pub confidence: f32,
    pub page: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// One row of a list section (a condition, a medication, a lab result, ...).
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub kind: String,
    pub fields: BTreeMap<String, Value>,
}

impl Item {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }
    pub fn confidence(&self) -> f32 {
        self.fields.values().map(|v| v.confidence).fold(1.0, f32::min)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Extraction {
    pub fields: Vec<Value>,
    pub items: Vec<Item>,
}

impl Extraction {
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|v| v.key == key)
    }
}

/// A field-extraction stage (Comprehend Medical or Bedrock Data Automation could replace it).
pub trait FieldExtractor: Send + Sync {
    fn extract(&self, sections: &[Section]) -> Result<Extraction, super::IngestError>;
}

pub struct BlueprintExtractor {
    pub blueprint: &'static Blueprint,
}

/// Validation failures multiply confidence by this.
const INVALID: f32 = 0.35;
/// A label matched a field of another section.
const OTHER_SECTION: f32 = 0.85;

impl FieldExtractor for BlueprintExtractor {
    fn extract(&self, sections: &[Section]) -> Result<Extraction, super::IngestError> {
        let mut ex = Extraction::default();
        for s in sections {
            if let Some(list) = self.blueprint.list_for_section(&s.kind) {
                self.list(s, list, &mut ex);
            } else {
                self.scalars(s, &mut ex);
            }
        }
        Ok(ex)
    }
}

impl BlueprintExtractor {
    fn scalars(&self, s: &Section, ex: &mut Extraction) {
        let bp = self.blueprint;
        for line in &s.lines {
            let text = line.text();
            for f in bp.fields.iter().filter(|f| f.section == s.kind) {
                if let Some(re) = bp.pattern_re.get(&f.key) {
                    // OCR debris around a title ("_. Clinic Visit Note | _ | Oo") is ignored
                    let words: Vec<&str> = text.split_whitespace().filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2).collect();
                    let clean = words.join(" ");
                    let clean = clean.trim_matches(|c: char| !c.is_alphanumeric());
                    for candidate in [text.trim(), clean] {
                        if re.is_match(candidate) {
                            let quality = if candidate == text.trim() { 1.0 } else { 0.9 };
                            self.put(ex, f, candidate, quality, line.confidence(), line.page);
                            break;
                        }
                    }
                }
            }
            for (label, value, conf, colon) in pairs(&line.cells) {
                let form = cue_form(&label);
                let cues = bp.fields.iter().filter(|f| f.section == s.kind).flat_map(|f| f.cue_forms.iter().map(move |c| (c.as_str(), f)));
                let same = find_cue(&form, cues);
                let (f, quality) = match same {
                    Some((f, q)) => (f, q),
                    None if colon => {
                        let others: Vec<&FieldDef> = bp.fields.iter().filter(|f| f.cue_forms.iter().any(|c| *c == form)).collect();
                        match others.as_slice() {
                            [f] => (*f, OTHER_SECTION),
                            _ => continue,
                        }
                    }
                    None => continue,
                };
                self.put(ex, f, &value, quality, conf, line.page);
            }
        }
    }

    fn put(&self, ex: &mut Extraction, f: &FieldDef, raw: &str, quality: f32, ocr: f32, page: usize) {
        let bp = self.blueprint;
        // a value its normaliser cannot read (a date that is no date) is left out: written
        // as printed it would make the resource invalid
        let Some(n) = normalise(&f.normaliser, raw, &f.values, bp) else { return };
        let mut conf = quality * n.confidence * ocr;
        if let Some(re) = bp.validate_re.get(&f.key) {
            if !re.is_match(&n.value) {
                conf *= INVALID;
            }
        }
        let in_range = |v: &str| match (f.range, v.parse::<f64>()) {
            (Some([lo, hi]), Ok(x)) => x >= lo && x <= hi,
            (Some(_), Err(_)) => false,
            _ => true,
        };
        if !in_range(&n.value) {
            conf *= INVALID;
        }
        if f.normaliser == "bp" {
            let key = |suffix: &str| f.key.replace("bp", suffix);
            let second = n.second.clone().unwrap_or_default();
            let c2 = if in_range(&second) { conf } else { conf * INVALID };
            push(ex, Value { key: key("systolic"), value: n.value.clone(), raw: raw.to_string(), confidence: conf, page, unit: n.unit.clone() });
            push(ex, Value { key: key("diastolic"), value: second, raw: raw.to_string(), confidence: c2, page, unit: n.unit });
            return;
        }
        let Norm { value, unit, .. } = n;
        push(ex, Value { key: f.key.clone(), value, raw: raw.to_string(), confidence: conf, page, unit });
    }

    fn list(&self, s: &Section, list: &ListDef, ex: &mut Extraction) {
        let mut header: Option<Vec<(usize, f32)>> = None; // (column index, x)
        for line in &s.lines {
            // header cells: words with 2+ letters (OCR debris such as "7" or "a" left out)
            let words = |t: &str| t.split_whitespace().filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2).collect::<Vec<_>>().join(" ");
            let cells: Vec<&Cell> = line.cells.iter().filter(|c| !words(&c.text).is_empty()).collect();
            let forms: Vec<String> = cells.iter().map(|c| cue_form(words(&c.text).trim_matches(|ch: char| !ch.is_alphanumeric() && ch != '#'))).collect();
            let matched: Vec<(usize, f32)> = forms
                .iter()
                .zip(&cells)
                .filter_map(|(f, c)| find_cue(f, list.columns.iter().enumerate().flat_map(|(i, col)| col.cue_forms.iter().map(move |q| (q.as_str(), i)))).map(|(i, _)| (i, c.x)))
                .collect();
            if matched.len() >= 2 && matched.len() + 1 >= cells.len() {
                header = Some(matched);
                continue;
            }
            let text = line.text();
            let trimmed = text.trim();
            let bullet = ["- ", "• ", "* ", "~ ", "— ", "– "].iter().find_map(|b| trimmed.strip_prefix(b));
            // OCR may lose the bullet; a line with `;` parts outside a table is an item too.
            let bullet = bullet.or_else(|| (header.is_none() && trimmed.contains(';')).then_some(trimmed));
            if let Some(rest) = bullet {
                if let Some(item) = self.inline_item(list, rest, line) {
                    ex.items.push(item);
                }
                continue;
            }
            if let Some(cols) = &header {
                if let Some(item) = self.table_row(list, cols, &line.cells, line.page) {
                    ex.items.push(item);
                }
            }
        }
    }

    fn value(&self, list: &ListDef, col: usize, raw: &str, ocr: f32, page: usize, quality: f32) -> Option<Value> {
        let c = &list.columns[col];
        let n = normalise(&c.normaliser, raw, &c.values, self.blueprint)?;
        let (value, conf, unit) = (n.value, n.confidence, n.unit);
        if value.is_empty() {
            return None;
        }
        Some(Value { key: c.name.clone(), value, raw: raw.to_string(), confidence: conf * ocr * quality, page, unit })
    }

    fn table_row(&self, list: &ListDef, cols: &[(usize, f32)], cells: &[Cell], page: usize) -> Option<Item> {
        let mut fields = BTreeMap::new();
        // pieces of one date that OCR split ("Apr" "30, 2013") go back together
        let mut merged: Vec<Cell> = Vec::new();
        for cell in cells {
            match merged.last_mut() {
                Some(prev) if is_month(&prev.text) && cell.text.chars().next().is_some_and(|c| c.is_ascii_digit()) => {
                    prev.text = format!("{} {}", prev.text, cell.text);
                    prev.x_end = cell.x_end;
                    prev.confidence = prev.confidence.min(cell.confidence);
                }
                _ => merged.push(cell.clone()),
            }
        }
        for cell in &merged {
            // the rightmost column starting at or left of the cell
            // the column whose header starts nearest (columns are left-aligned)
            let col = cols.iter().min_by(|a, b| (a.1 - cell.x).abs().partial_cmp(&(b.1 - cell.x).abs()).unwrap_or(std::cmp::Ordering::Equal));
            let Some(&(ci, x)) = col else { continue };
            let quality = if (cell.x - x).abs() < 3.0 { 1.0 } else if (cell.x - x).abs() < 12.0 { 0.95 } else { 0.7 };
            // a value its column's normaliser refuses may belong to a neighbour (skewed scans)
            let mut ci = ci;
            let mut quality = quality;
            if !accepts(self.blueprint, &list.columns[ci], &cell.text) {
                if let Some(other) = cols.iter().map(|c| c.0).find(|&o| o != ci && !fields.contains_key(&list.columns[o].name) && list.columns[o].normaliser != "text" && accepts(self.blueprint, &list.columns[o], &cell.text)) {
                    ci = other;
                    quality *= 0.85;
                }
            }
            if let Some(v) = self.value(list, ci, &cell.text, cell.confidence, page, quality) {
                fields.entry(v.key.clone()).or_insert(v);
            }
        }
        let name_conf = fields.get("name")?.confidence;
        Some(Item { kind: list.kind.clone(), fields: cap_by_name(fields, name_conf) })
    }

    fn inline_item(&self, list: &ListDef, rest: &str, line: &Line) -> Option<Item> {
        let ocr = line.confidence();
        let rest = &split_at_prefixes(list, rest);
        let mut parts = rest.split(';').map(str::trim).filter(|p| !p.is_empty());
        let name = parts.next()?;
        let name_col = list.columns.iter().position(|c| c.name == "name")?;
        let mut fields = BTreeMap::new();
        let v = self.value(list, name_col, name, ocr, line.page, 1.0)?;
        fields.insert(v.key.clone(), v);
        // OCR may read `;` as `,`: a part that is not a value is tried in comma pieces
        let mut pieces: Vec<String> = Vec::new();
        for part in parts {
            if self.inline_column(list, part).is_none() && part.contains(',') {
                pieces.extend(part.split(',').map(|p| p.trim().to_string()).filter(|p| !p.is_empty()));
            } else {
                pieces.push(part.to_string());
            }
        }
        for part in &pieces {
            if let Some((i, raw, q)) = self.inline_column(list, part) {
                if let Some(v) = self.value(list, i, &raw, ocr, line.page, q) {
                    fields.entry(v.key.clone()).or_insert(v);
                }
            }
        }
        let name_conf = fields.get("name").map(|v| v.confidence).unwrap_or(0.0);
        Some(Item { kind: list.kind.clone(), fields: cap_by_name(fields, name_conf) })
    }

    /// The column a `;` part of a one-line item belongs to, with the value text.
    fn inline_column(&self, list: &ListDef, part: &str) -> Option<(usize, String, f32)> {
        {
            let lower = part.to_lowercase();
            // a column prefix ("started 03/01/2019", "reaction: hives")
            let by_prefix = list.columns.iter().enumerate().find_map(|(i, c)| {
                c.prefixes.iter().find_map(|p| lower.strip_prefix(p.as_str()).filter(|r| r.starts_with([' ', ':'])).map(|_| (i, part[p.len()..].trim_start_matches([' ', ':']).to_string(), 1.0f32)))
            });
            let found = by_prefix.or_else(|| {
                list.columns.iter().position(|c| c.normaliser == "enum" && c.values.iter().any(|v| *v == lower)).map(|i| (i, part.to_string(), 1.0))
            }).or_else(|| {
                list.columns.iter().position(|c| c.normaliser == "date" && super::normalise::date(part).is_some()).map(|i| (i, part.to_string(), 0.8))
            });
            found
        }
    }
}

/// OCR reads the `;` between the parts of a one-line item as `,` or `:`: a column prefix
/// ("dose 1", "route oral") after one of them starts a new part.
fn split_at_prefixes(list: &ListDef, text: &str) -> String {
    let mut out = text.to_string();
    for p in list.columns.iter().flat_map(|c| c.prefixes.iter()) {
        for sep in [", ", ": ", ",", ":"] {
            let from = format!("{sep}{p} ");
            let lower = out.to_lowercase();
            if lower.len() != out.len() {
                return out;
            }
            let mut fixed = String::new();
            let mut last = 0;
            for (i, _) in lower.match_indices(&from) {
                fixed.push_str(&out[last..i]);
                fixed.push_str("; ");
                last = i + sep.len();
            }
            fixed.push_str(&out[last..]);
            out = fixed;
        }
    }
    out
}

/// A row's values are only as sure as the row's name (a value of a misread item is a
/// value of the wrong item).
fn cap_by_name(mut fields: BTreeMap<String, Value>, name_conf: f32) -> BTreeMap<String, Value> {
    for v in fields.values_mut() {
        v.confidence = v.confidence.min(name_conf);
    }
    fields
}

fn is_month(t: &str) -> bool {
    let t = t.trim().trim_end_matches('.').to_lowercase();
    t.len() >= 3 && ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].iter().any(|m| t.starts_with(m)) && t.chars().all(char::is_alphabetic) && t.len() <= 9
}

/// Whether a column's normaliser reads the text as a valid value.
fn accepts(bp: &Blueprint, col: &super::blueprint::ColumnDef, text: &str) -> bool {
    match normalise(&col.normaliser, text, &col.values, bp) {
        Some(n) => n.confidence >= 0.9,
        None => false,
    }
}

/// Keeps the first (or the more confident) value of a key.
fn push(ex: &mut Extraction, v: Value) {
    match ex.fields.iter_mut().find(|x| x.key == v.key) {
        Some(x) if x.confidence < v.confidence => *x = v,
        Some(_) => {}
        None => ex.fields.push(v),
    }
}

/// Label/value pairs of a line: `Label: value` cells, `Label:` followed by a value cell, and
/// (for label/value tables) a first cell without a colon followed by the rest of the line.
/// Each with the lowest recognition confidence involved and whether a colon marked the label.
fn pairs(cells: &[Cell]) -> Vec<(String, String, f32, bool)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cells.len() {
        let c = &cells[i];
        if let Some((label, value)) = c.text.split_once(':') {
            let value = value.trim();
            if value.is_empty() && i + 1 < cells.len() && !cells[i + 1].text.contains(':') {
                out.push((label.to_string(), cells[i + 1].text.clone(), c.confidence.min(cells[i + 1].confidence), true));
                i += 2;
                continue;
            }
            out.push((label.to_string(), value.to_string(), c.confidence, true));
        } else if i == 0 && cells.len() >= 2 && !cells.iter().any(|c| c.text.contains(':')) {
            let rest: Vec<&str> = cells[1..].iter().map(|c| c.text.as_str()).collect();
            let conf = cells.iter().map(|c| c.confidence).fold(1.0, f32::min);
            out.push((c.text.clone(), rest.join(" "), conf, false));
            break;
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misread_separators_before_a_column_prefix_split_an_item() {
        let bp = Blueprint::shipped();
        let meds = bp.lists.iter().find(|l| l.kind == "medication").expect("medication list");
        assert_eq!(split_at_prefixes(meds, "Simvastatin 10 MG Oral Tablet: dose 1, route oral; started 06/03/2021"), "Simvastatin 10 MG Oral Tablet; dose 1; route oral; started 06/03/2021");
        // a comma inside a name stays
        assert_eq!(split_at_prefixes(meds, "Hep B, adult; given 01/17/2014"), "Hep B, adult; given 01/17/2014");
    }
}
