//! Coding: terminology subsets shipped as data (`ingest/terminology/*.tsv`, built by
//! `ingest/terminology/build.py` from the official FHIR R4 package; ICD-10-CM from the CMS
//! tabular list, see `icd10cm`). A term is coded only when its normalised text equals a
//! display of the subset (ICD-10-CM: a term's match key); otherwise it stays `code.text`.
use std::collections::HashMap;
use std::sync::OnceLock;

pub const LOINC: &str = "http://loinc.org";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const CVX: &str = "http://hl7.org/fhir/sid/cvx";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

#[derive(Debug, Clone, PartialEq)]
pub struct Coding {
    pub system: &'static str,
    pub code: String,
    pub display: String,
    pub confidence: f32,
}

/// A coding stage (Comprehend Medical's InferRxNorm / InferICD10CM / InferSNOMEDCT could
/// replace it).
pub trait Coder: Send + Sync {
    /// `terminology`: `loinc`, `snomed`, `cvx`, `rxnorm` or `icd10cm`.
    fn code(&self, terminology: &str, text: &str) -> Option<Coding>;
    /// Whether `code` is in the subset (to check codes the blueprint names).
    fn has(&self, terminology: &str, code: &str) -> bool;
}

struct Table {
    system: &'static str,
    by_text: HashMap<String, (String, String)>,
    codes: HashMap<String, String>,
}

pub struct SubsetCoder {
    tables: HashMap<&'static str, Table>,
}

/// Lower case, semantic tag and punctuation removed, single spaces.
pub fn term_form(s: &str) -> String {
    let s = s.trim();
    let s = match s.rfind(" (") {
        Some(i) if s.ends_with(')') && ["disorder", "finding", "procedure", "substance", "situation", "regime/therapy"].iter().any(|t| s[i..].contains(t)) => &s[..i],
        _ => s,
    };
    s.to_lowercase().chars().map(|c| if c.is_alphanumeric() || c == '/' || c == '[' || c == ']' || c == '.' { c } else { ' ' }).collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ")
}

impl SubsetCoder {
    pub fn shipped() -> &'static SubsetCoder {
        static C: OnceLock<SubsetCoder> = OnceLock::new();
        C.get_or_init(|| {
            let mut tables = HashMap::new();
            for (name, system, text) in [
                ("loinc", LOINC, include_str!("../../ingest/terminology/loinc.tsv")),
                ("snomed", SNOMED, include_str!("../../ingest/terminology/snomed.tsv")),
                ("cvx", CVX, include_str!("../../ingest/terminology/cvx.tsv")),
                ("rxnorm", RXNORM, include_str!("../../ingest/terminology/rxnorm.tsv")),
            ] {
                let mut t = Table { system, by_text: HashMap::new(), codes: HashMap::new() };
                for line in text.lines().filter(|l| !l.starts_with('#')) {
                    if let Some((code, display)) = line.split_once('\t') {
                        t.codes.insert(code.to_string(), display.to_string());
                        t.by_text.entry(term_form(display)).or_insert((code.to_string(), display.to_string()));
                    }
                }
                tables.insert(name, t);
            }
            SubsetCoder { tables }
        })
    }
}

impl Coder for SubsetCoder {
    fn code(&self, terminology: &str, text: &str) -> Option<Coding> {
        if terminology == "icd10cm" {
            let (code, display) = super::icd10cm::Icd10Cm::shipped().lookup(&term_form(text))?;
            return Some(Coding { system: super::icd10cm::ICD10CM, code: code.to_string(), display: display.to_string(), confidence: 1.0 });
        }
        let t = self.tables.get(terminology)?;
        let form = term_form(text);
        let (code, display) = t.by_text.get(&form)?;
        Some(Coding { system: t.system, code: code.clone(), display: display.clone(), confidence: 1.0 })
    }

    fn has(&self, terminology: &str, code: &str) -> bool {
        if terminology == "icd10cm" {
            return super::icd10cm::Icd10Cm::shipped().display.contains_key(code);
        }
        self.tables.get(terminology).is_some_and(|t| t.codes.contains_key(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_terms_are_coded_unknown_terms_are_not() {
        let c = SubsetCoder::shipped();
        assert_eq!(c.code("loinc", "Hemoglobin [Mass/volume] in Blood").map(|c| c.code), Some("718-7".into()));
        assert_eq!(c.code("loinc", "Frobnication index"), None);
        assert!(c.code("cvx", "Hep B, adolescent or pediatric").is_some());
    }

    #[test]
    fn vital_sign_codes_of_the_blueprint_are_in_the_subset() {
        let c = SubsetCoder::shipped();
        for code in ["8302-2", "29463-7", "39156-5", "85354-9", "8480-6", "8462-4", "8867-4", "9279-1", "8310-5", "59408-5"] {
            assert!(c.has("loinc", code), "{code}");
        }
    }
}
