//! Opens a data directory the way the server does, for `hearth import --data-dir`.
use std::path::Path;
use std::sync::Arc;

use crate::fhir::definitions::Definitions;
use crate::interactions::Fhir;
use crate::persistence::blob::FsBlobStore;
use crate::persistence::sqlite::SqliteStore;
use crate::search::compartment::Compartments;
use crate::search::schema::{Schema, SchemaCell};

pub async fn open(dir: &Path, sync: &str) -> Result<(Fhir, Arc<SqliteStore>), super::BoxError> {
    let defs = Definitions::r4();
    let schema = Arc::new(SchemaCell::new(Schema::build(defs, &[])?));
    let store = Arc::new(SqliteStore::open(dir, sync, Some(schema.clone()))?);
    let blobs = Arc::new(FsBlobStore::open(&dir.join("blobs"))?);
    crate::interactions::reindex::load_all(store.as_ref(), blobs.as_ref(), defs, &schema).await?;
    let compartments = Arc::new(Compartments::from_definitions(defs)?);
    let fhir = Fhir { store: store.clone(), search: store.clone(), schema, compartments, blobs, defs };
    Ok((fhir, store))
}
