//! FHIR operations, one module each (no HTTP types here).
pub mod everything;
