//! One typed configuration, read from flags and `HEARTH_*` environment variables.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "hearth", version, about = "Hearth: a FHIR R4 server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeConfig,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve FHIR R4 over HTTP (the default).
    Serve(ServeConfig),
    /// Rebuild the search index of a data directory (puts stored SearchParameters in force).
    Reindex(ServeConfig),
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "HEARTH_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Folder for the SQLite database and binary content.
    #[arg(long, env = "HEARTH_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Path prefix of the FHIR base.
    #[arg(long, env = "HEARTH_BASE_PATH", default_value = "/fhir")]
    pub base_path: String,
    /// Public base URL used in Location headers and Bundle links
    /// (default: http://<Host header><base path>).
    #[arg(long, env = "HEARTH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "HEARTH_MAX_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Default and largest page size for history.
    #[arg(long, env = "HEARTH_DEFAULT_PAGE_SIZE", default_value_t = 50)]
    pub default_page_size: usize,
    #[arg(long, env = "HEARTH_MAX_PAGE_SIZE", default_value_t = 1000)]
    pub max_page_size: usize,
    /// SQLite `synchronous` setting: `full` (every commit reaches the disk) or `normal`.
    #[arg(long, env = "HEARTH_SQLITE_SYNC", default_value = "full")]
    pub sqlite_sync: String,
}

impl ServeConfig {
    /// Base path without a trailing slash; empty means the root.
    pub fn normalized_base_path(&self) -> String {
        let p = self.base_path.trim_end_matches('/');
        if p.is_empty() || p.starts_with('/') {
            p.to_string()
        } else {
            format!("/{p}")
        }
    }
}
