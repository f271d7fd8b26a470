//! Fixtures shared by the micro-benchmarks: Synthea resources (as stored, references resolved).
#![allow(dead_code)]

pub const FIXTURES: &[(&str, &str)] = &[
    ("Patient", include_str!("../data/patient.json")),
    ("Observation", include_str!("../data/observation.json")),
    ("Encounter", include_str!("../data/encounter.json")),
    ("ExplanationOfBenefit", include_str!("../data/explanationofbenefit.json")),
];
