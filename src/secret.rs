//! The instance master secret: from `KEYHUB_SECRET`, or generated once into
//! `<data_dir>/secret` with mode 0600. It keys session cookies (and later the
//! encryption of stored credentials), so it must survive restarts.
use std::io::Write;

use crate::config::{Secret, Settings};

pub fn master_secret(settings: &Settings) -> anyhow::Result<Secret> {
    if let Some(s) = &settings.secret {
        return Ok(s.clone());
    }
    let path = settings.data_dir.join("secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            return Ok(Secret::new(existing));
        }
        anyhow::bail!("{} is too short to be a keyhub secret; delete it to have a new one made", path.display());
    }
    crate::data_dir::ensure_private_dir(&settings.data_dir)?;
    let secret = crate::domain::tokens::random_token(64);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(&path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    tracing::debug!(path = %path.display(), "generated a new master secret");
    Ok(Secret::new(secret))
}
