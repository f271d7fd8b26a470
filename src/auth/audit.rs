//! The audit trail: one JSON line per request (time, principal, tenant, client, interaction,
//! resource type and id, outcome, request id) appended to a file. Never resource content.
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct AuditRecord<'a> {
    pub time: String,
    pub request_id: &'a str,
    pub principal: Option<&'a str>,
    pub client: Option<&'a str>,
    pub tenant: &'a str,
    pub method: &'a str,
    pub interaction: &'a str,
    pub resource_type: Option<&'a str>,
    pub id: Option<&'a str>,
    pub status: u16,
    pub outcome: &'static str,
}

pub struct AuditLog {
    file: Option<Mutex<std::fs::File>>,
}

impl AuditLog {
    pub fn disabled() -> AuditLog {
        AuditLog { file: None }
    }

    pub fn open(path: &Path) -> Result<AuditLog, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("cannot open the audit log {}: {e}", path.display()))?;
        Ok(AuditLog { file: Some(Mutex::new(file)) })
    }

    pub fn write(&self, rec: &AuditRecord<'_>) {
        let Some(file) = &self.file else { return };
        let Ok(mut line) = serde_json::to_vec(rec) else { return };
        line.push(b'\n');
        let mut f = match file.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        if let Err(e) = f.write_all(&line) {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }
}

/// `success` (2xx/3xx), `denied` (401/403), `failure` (other).
pub fn outcome_of(status: u16) -> &'static str {
    match status {
        200..=399 => "success",
        401 | 403 => "denied",
        _ => "failure",
    }
}
