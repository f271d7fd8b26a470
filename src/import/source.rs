//! Input files: discovery, ordering, decompression, NDJSON to Bundles.
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::BoxError;

/// The files named, with folders expanded (name order), shared-resource Bundles first.
pub fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, BoxError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(p)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file() && is_data(p)).collect();
            names.sort();
            out.extend(names);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            return Err(format!("{}: no such file or folder", p.display()).into());
        }
    }
    out.sort_by_key(|p| !goes_first(p));
    Ok(out)
}

fn is_data(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    [".json", ".ndjson", ".json.gz", ".ndjson.gz", ".json.bz2", ".ndjson.bz2"].iter().any(|s| name.ends_with(s))
}

/// Synthea's hospital and practitioner Bundles hold what the patient Bundles refer to.
pub fn goes_first(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.contains("hospitalInformation") || name.contains("practitionerInformation")
}

/// The two fields that tell a transaction or batch Bundle (the rest is skipped unread).
#[derive(serde::Deserialize)]
pub struct Head {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl Head {
    pub fn is_transaction_or_batch(&self) -> bool {
        self.resource_type.as_deref() == Some("Bundle") && matches!(self.kind.as_deref(), Some("transaction" | "batch"))
    }
}

/// The file's text, decompressed by its extension.
pub fn read(path: &Path) -> Result<String, BoxError> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.to_string_lossy();
    let mut text = String::new();
    let r = if name.ends_with(".bz2") {
        bzip2::read::MultiBzDecoder::new(std::io::BufReader::new(file)).read_to_string(&mut text)
    } else if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(std::io::BufReader::new(file)).read_to_string(&mut text)
    } else {
        std::io::BufReader::new(file).read_to_string(&mut text)
    };
    r.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text)
}

/// A transaction of resources: PUT when they carry an id (kept), POST otherwise.
pub fn bundle_of(resources: Vec<Value>) -> Value {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let t = r.get("resourceType").and_then(Value::as_str).unwrap_or("").to_string();
            match r.get("id").and_then(Value::as_str).map(str::to_string) {
                Some(id) => json!({"fullUrl": format!("{t}/{id}"), "resource": r, "request": {"method": "PUT", "url": format!("{t}/{id}")}}),
                None => json!({"resource": r, "request": {"method": "POST", "url": t}}),
            }
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}
