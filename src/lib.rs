//! Hearth: a FHIR R4 server. See ARCHITECTURE.md in the shared folder for the layers.
pub mod auth;
#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod error;
pub mod fhir;
pub mod import;
pub mod ingest;
pub mod interactions;
pub mod linelog;
pub mod model;
pub mod observability;
pub mod operations;
pub mod persistence;
pub mod routes;
pub mod search;
pub mod server;

/// The tenant of requests without a tenant (no `/tenant/{id}` prefix, no tenant claim).
pub const TENANT: &str = "default";
