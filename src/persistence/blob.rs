//! `BlobStore` on a local folder: `<root>/<key>` holds the bytes and `<key>.type` the
//! content type. Files are written to a temporary name, synced, then renamed.
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Blob, BlobStore};
use crate::error::{FhirError, Result};

pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn open(root: &Path) -> Result<FsBlobStore> {
        std::fs::create_dir_all(root)?;
        Ok(FsBlobStore { root: root.to_path_buf() })
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        let ok = !key.is_empty()
            && key.split('/').all(|part| !part.is_empty() && part != "." && part != "..")
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b));
        if !ok {
            return Err(FhirError::Internal(format!("invalid blob key '{key}'")));
        }
        Ok(self.root.join(key))
    }
}

fn write_synced(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &str, blob: Blob) -> Result<()> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let type_path = path.with_extension("type");
            write_synced(&type_path, blob.content_type.as_bytes())?;
            write_synced(&path, &blob.data)
        })
        .await
        .map_err(|e| FhirError::Internal(e.to_string()))??;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Blob>> {
        let path = self.path(key)?;
        let data = match tokio::fs::read(&path).await {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let content_type = tokio::fs::read_to_string(path.with_extension("type")).await.unwrap_or_default();
        Ok(Some(Blob { content_type, data: Bytes::from(data) }))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        let path = self.path(key)?;
        for p in [path.with_extension("type"), path] {
            match tokio::fs::remove_file(&p).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
