//! FHIR R4 knowledge: definitions loaded from the official package, validation, outcomes.
pub mod definitions;
pub mod json;
pub mod meta;
pub mod outcome;
pub mod validate;
