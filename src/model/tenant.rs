//! Tenant ids: validated once, before any use (a tenant id names a folder in silo mode).

/// 1 to 64 ASCII letters, digits and `-`, starting with a letter or digit (no dots, so never
/// `.` or `..`, and no separators).
pub fn is_valid_tenant(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::is_valid_tenant;

    #[test]
    fn tenant_ids() {
        for ok in ["default", "clinic-a", "T2", "a"] {
            assert!(is_valid_tenant(ok), "{ok}");
        }
        for bad in ["", ".", "..", "a.b", "a/b", "-a", "a_b", "é", &"x".repeat(65)] {
            assert!(!is_valid_tenant(bad), "{bad}");
        }
    }
}
