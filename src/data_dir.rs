//! The data directory holds the SQLite database and the master secret: only
//! keyhub's own user may read it (0700 for the directory, 0600 for files).
use std::path::{Path, PathBuf};

/// Creates `dir` (and parents) if needed and makes it private to this user.
pub fn ensure_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display()))?;
    restrict(dir, 0o700)
}

/// Creates the SQLite file (if missing) with mode 0600 before SQLite opens it:
/// SQLite gives its `-wal` and `-shm` files the mode of the database file.
pub fn ensure_private_file(file: &Path) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(file).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", file.display()))?;
    restrict(file, 0o600)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = file.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            restrict(&side, 0o600)?;
        }
    }
    Ok(())
}

/// The file path inside a `sqlite:` URL, unless it is an in-memory database.
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| anyhow::anyhow!("cannot make {} private: {e}", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_are_found_in_urls() {
        assert_eq!(sqlite_path("sqlite://data/keyhub.db?mode=rwc"), Some(PathBuf::from("data/keyhub.db")));
        assert_eq!(sqlite_path("sqlite:/tmp/x.db"), Some(PathBuf::from("/tmp/x.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }
}
