//! Development keys, generated once under the data directory when their setting is unset: the JWT
//! signing key (`JWT_SECRET`) and the key that seals calendar tokens (`CALENDAR_TOKEN_KEY`).

use std::path::Path;

use anyhow::Context as _;
use rand::RngCore;

use crate::config::Secret;

/// The JWT signing key's file.
pub const JWT_FILE: &str = "dev-jwt-secret";
/// The calendar token key's file.
pub const CALENDAR_TOKEN_FILE: &str = "dev-calendar-token-key";

/// Reads the key kept in `file` under `data_dir` (64 hex digits), creating it (mode 0600) on first use.
pub fn load_or_create(data_dir: &Path, file: &str) -> anyhow::Result<Secret> {
    let path = data_dir.join(file);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let key = existing.trim();
        if key.len() >= 32 {
            return Ok(Secret::new(key));
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let key = hex::encode(bytes);
    write_private(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    Ok(Secret::new(key))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_is_created_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = super::load_or_create(dir.path(), super::JWT_FILE).unwrap();
        let second = super::load_or_create(dir.path(), super::JWT_FILE).unwrap();
        assert_eq!(first.expose(), second.expose());
        assert_eq!(first.expose().len(), 64);
        let other = super::load_or_create(dir.path(), super::CALENDAR_TOKEN_FILE).unwrap();
        assert_ne!(first.expose(), other.expose());
    }
}
