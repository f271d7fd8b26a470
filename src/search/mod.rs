//! Search: FHIRPath evaluation of SearchParameter expressions (more to come with issue 3).
pub mod fhirpath;
pub mod params;
pub mod query;
pub mod value;
