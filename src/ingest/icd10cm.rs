//! ICD-10-CM coding from the shipped subset `ingest/terminology/icd10cm.tsv.gz` (built by
//! `ingest/terminology/icd10cm.py` from the CMS tabular list): a term is coded when its
//! match key (sorted distinct words, without "nos" and "unspecified") equals a key of a
//! code's description or inclusion terms. Anything else gets no code.
use std::collections::HashMap;
use std::io::Read;
use std::sync::OnceLock;

pub const ICD10CM: &str = "http://hl7.org/fhir/sid/icd-10-cm";

pub struct Icd10Cm {
    pub display: HashMap<String, String>,
    by_key: HashMap<String, String>,
}

/// The match key of a term (the same as `key` in icd10cm.py).
pub fn key(text: &str) -> String {
    let lower = text.to_lowercase();
    let mut words: Vec<&str> = lower.split(|c: char| !c.is_ascii_lowercase() && !c.is_ascii_digit()).filter(|w| !w.is_empty() && *w != "nos" && *w != "unspecified").collect();
    words.sort_unstable();
    words.dedup();
    words.join(" ")
}

impl Icd10Cm {
    pub fn shipped() -> &'static Icd10Cm {
        static T: OnceLock<Icd10Cm> = OnceLock::new();
        T.get_or_init(|| {
            let gz: &[u8] = include_bytes!("../../ingest/terminology/icd10cm.tsv.gz");
            let mut text = String::new();
            // The file is part of the build; a broken one leaves ICD-10-CM coding empty.
            if let Err(e) = flate2::read::GzDecoder::new(gz).read_to_string(&mut text) {
                tracing::error!(error = %e, "the shipped ICD-10-CM subset cannot be read");
                text.clear();
            }
            Icd10Cm::parse(&text)
        })
    }

    fn parse(text: &str) -> Icd10Cm {
        let mut t = Icd10Cm { display: HashMap::new(), by_key: HashMap::new() };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(code), Some(display)) = (cols.next(), cols.next()) else { continue };
            for k in cols.next().unwrap_or("").split('|').filter(|k| !k.is_empty()) {
                t.by_key.insert(k.to_string(), code.to_string());
            }
            t.display.insert(code.to_string(), display.to_string());
        }
        t
    }

    /// The code and its description for a term, if the subset has one.
    pub fn lookup(&self, text: &str) -> Option<(&str, &str)> {
        let code = self.by_key.get(&key(text))?;
        Some((code.as_str(), self.display.get(code)?.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_get_codes_unknown_terms_do_not() {
        let t = Icd10Cm::shipped();
        assert!(t.display.len() > 20_000, "{}", t.display.len());
        let code = |s: &str| t.lookup(s).map(|(c, _)| c.to_string());
        assert_eq!(code("Essential hypertension").as_deref(), Some("I10"));
        assert_eq!(code("Hypertension, essential").as_deref(), Some("I10"));
        assert_eq!(code("Type 2 diabetes mellitus").as_deref(), Some("E11"));
        assert_eq!(code("Prediabetes").as_deref(), Some("R73.03"));
        // "Asthma" names J45, J45.90 and J45.909 (asthma NOS): the most specific
        assert_eq!(code("Asthma").as_deref(), Some("J45.909"));
        assert_eq!(code("Frobnication syndrome"), None);
        assert_eq!(code(""), None);
        // injuries (7th character needed) are not in the subset
        assert!(!t.display.contains_key("S72.001A") && !t.display.contains_key("S72"));
    }

    #[test]
    fn keys_ignore_order_case_and_nonessential_words() {
        assert_eq!(key("Anemia, unspecified"), "anemia");
        assert_eq!(key("Hyperlipidemia NOS"), key("hyperlipidemia"));
        assert_eq!(key("Type 2 diabetes mellitus"), key("Diabetes mellitus type 2"));
    }
}
