//! Start-up and graceful shutdown of the embedded server.
use std::sync::Arc;

use crate::config::ServeConfig;
use crate::fhir::definitions::Definitions;
use crate::interactions::Fhir;
use crate::persistence::blob::FsBlobStore;
use crate::persistence::sqlite::SqliteStore;
use crate::persistence::{BlobStore, ResourceStore};
use crate::routes::{router, AppState};
use crate::search::compartment::Compartments;
use crate::search::schema::{Schema, SchemaCell};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The application for a configuration: its router and its store (closed on shutdown).
/// `hearth serve` and the Lambda entry point run the same router.
pub async fn build(config: ServeConfig) -> Result<(axum::Router, Arc<dyn ResourceStore>), BoxError> {
    config.check_ingest().await?;
    let defs = Definitions::r4();
    let schema = Arc::new(SchemaCell::new(Schema::build(defs, &[])?));
    let (store, search, blobs) = open_backend(&config, &schema).await?;
    // Custom SearchParameter resources put in force earlier are in force again after a restart.
    crate::interactions::reindex::load_all(search.as_ref(), blobs.as_ref(), defs, &schema).await?;
    let compartments = Arc::new(Compartments::from_definitions(defs)?);
    let fhir = Fhir { store: store.clone(), search, schema, compartments, blobs, defs };
    let auth = crate::auth::Auth::from_config(&config)?;
    let base_path = config.normalized_base_path();
    let app = router(AppState { fhir, config, base_path, auth }).layer(axum::middleware::from_fn(crate::observability::trace_request));
    Ok((app, store))
}

pub async fn serve(config: ServeConfig) -> Result<(), BoxError> {
    let listen = config.listen;
    let base_path = config.normalized_base_path();
    let (app, store) = build(config).await?;
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, base = %base_path, "serving FHIR R4");
    // Tests and scripts wait for this exact line on stdout.
    println!("Hearth listening on http://{addr}");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    // In-flight requests have finished; make every acknowledged write durable.
    store.close().await?;
    tracing::info!("stopped");
    Ok(())
}

type Backend = (Arc<dyn ResourceStore>, Arc<dyn crate::search::SearchIndex>, Arc<dyn BlobStore>);

/// The backend named by `HEARTH_BACKEND`: `embedded` (SQLite + a local folder) or `aws`.
async fn open_backend(config: &ServeConfig, schema: &Arc<SchemaCell>) -> Result<Backend, BoxError> {
    match config.backend.as_str() {
        "embedded" => {
            let (store, search) = open_stores(config, schema)?;
            let blobs = Arc::new(FsBlobStore::open(&config.data_dir.join("blobs"))?);
            Ok((store, search, blobs))
        }
        #[cfg(feature = "aws")]
        "aws" => {
            let stack = crate::aws::open(config, schema.clone()).await?;
            Ok((stack.store, stack.search, stack.blobs))
        }
        #[cfg(not(feature = "aws"))]
        "aws" => Err("HEARTH_BACKEND=aws needs a build with the `aws` feature (cargo build --features aws)".into()),
        other => Err(format!("HEARTH_BACKEND must be embedded or aws, not '{other}'").into()),
    }
}

type Stores = (Arc<dyn ResourceStore>, Arc<dyn crate::search::SearchIndex>);

/// The embedded store per the tenancy model: `pool` (one database, rows keyed by tenant) or
/// `silo` (one database file per tenant).
fn open_stores(config: &ServeConfig, schema: &Arc<SchemaCell>) -> Result<Stores, Box<dyn std::error::Error + Send + Sync>> {
    Ok(match config.tenancy.as_str() {
        "pool" => {
            let s = Arc::new(SqliteStore::open(&config.data_dir, &config.sqlite_sync, Some(schema.clone()))?);
            (s.clone(), s)
        }
        "silo" => {
            let s = Arc::new(crate::persistence::silo::SiloStore::open(&config.data_dir, &config.sqlite_sync, schema.clone())?);
            (s.clone(), s)
        }
        other => return Err(format!("HEARTH_TENANCY must be pool or silo, not '{other}'").into()),
    })
}

/// `hearth reindex`: rebuilds the search index of a data directory offline (every tenant).
pub async fn reindex(config: ServeConfig) -> Result<(), BoxError> {
    let defs = Definitions::r4();
    let schema = Arc::new(SchemaCell::new(Schema::build(defs, &[])?));
    let (store, search, blobs) = open_backend(&config, &schema).await?;
    let custom = crate::interactions::reindex::load_all(search.as_ref(), blobs.as_ref(), defs, &schema).await?;
    let started = std::time::Instant::now();
    let count = search.reindex(None).await?;
    store.close().await?;
    println!("reindexed {count} resources with {custom} custom search parameters in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
