//! The audit trail: one JSON line per request (time, principal, tenant, client, interaction,
//! resource type and id, outcome, request id) appended to a file. Never resource content.
use std::io::Write;
use std::path::Path;

use serde::Serialize;
use crate::linelog::{LineSink, LineWriter};

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

/// Lines are appended by a background thread (`linelog`): never dropped, written within
/// milliseconds, and all written when the log is dropped.
pub struct AuditLog {
    file: Option<(LineWriter, LineSink)>,
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
        let sink = LineSink::new("hearth-audit", file);
        Ok(AuditLog { file: Some((sink.writer(), sink)) })
    }

    pub fn write(&self, rec: &AuditRecord<'_>) {
        let Some((writer, _)) = &self.file else { return };
        let Ok(mut line) = serde_json::to_vec(rec) else { return };
        line.push(b'\n');
        // One write per line, so lines never interleave.
        if let Err(e) = writer.clone().write_all(&line) {
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
