//! Start-up and graceful shutdown of the embedded server.
use std::sync::Arc;

use crate::config::ServeConfig;
use crate::fhir::definitions::Definitions;
use crate::interactions::Fhir;
use crate::persistence::blob::FsBlobStore;
use crate::persistence::sqlite::SqliteStore;
use crate::persistence::ResourceStore;
use crate::routes::{router, AppState};
use crate::search::compartment::Compartments;
use crate::search::extract::Extractor;
use crate::search::params::Registry;

pub async fn serve(config: ServeConfig) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let defs = Definitions::r4();
    let registry = Arc::new(Registry::from_definitions(defs)?);
    let extractor = Arc::new(Extractor::new(registry.clone()));
    let store = Arc::new(SqliteStore::open(&config.data_dir, &config.sqlite_sync, Some((registry.clone(), extractor)))?);
    let blobs = Arc::new(FsBlobStore::open(&config.data_dir.join("blobs"))?);
    let compartments = Arc::new(Compartments::from_definitions(defs)?);
    let fhir = Fhir { store: store.clone(), search: store.clone(), registry, compartments, blobs, defs };
    let base_path = config.normalized_base_path();
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let app = router(AppState { fhir, config, base_path: base_path.clone() });
    tracing::info!(%addr, base = %base_path, "serving FHIR R4");
    // Tests and scripts wait for this exact line on stdout.
    println!("Hearth listening on http://{addr}");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    // In-flight requests have finished; make every acknowledged write durable.
    store.close().await?;
    tracing::info!("stopped");
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
