//! Uploaded files wait on disk (`<data_dir>/uploads`, private) between the
//! upload and the import: streamed there with the size limit checked as bytes
//! arrive, so memory holds one chunk whatever the file's size. A staged file
//! has a random token; its owner (workspace and user) is kept beside it.
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Staged {
    pub token: String,
    pub file_name: String,
    pub size: u64,
    pub workspace_id: i64,
    pub user_id: i64,
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("the file is larger than the limit")]
    TooLarge,
    #[error("the upload was interrupted")]
    Interrupted,
    #[error("storing the upload failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Staged files older than this are removed.
const KEEP: Duration = Duration::from_secs(24 * 3600);

pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
}

fn meta_path(dir: &Path, token: &str) -> PathBuf {
    dir.join(format!("{token}.json"))
}

/// Streams `body` to a new staged file; removes it again when the body is
/// larger than `limit` or breaks off.
pub async fn save<S, E>(
    dir: &Path,
    owner: (i64, i64),
    file_name: &str,
    mut body: S,
    limit: u64,
) -> Result<Staged, StageError>
where
    S: Stream<Item = Result<actix_web::web::Bytes, E>> + Unpin,
{
    crate::data_dir::ensure_private_dir(dir).map_err(|e| StageError::Io(std::io::Error::other(e.to_string())))?;
    let token = crate::domain::tokens::random_token(32);
    let path = dir.join(&token);
    let mut file = open_private(&path).await?;
    let mut size = 0u64;
    let outcome: Result<(), StageError> = async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|_| StageError::Interrupted)?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(StageError::TooLarge);
            }
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        Ok(())
    }
    .await;
    drop(file);
    if let Err(e) = outcome {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    let name: String = file_name.chars().filter(|c| !c.is_control()).take(200).collect();
    let staged = Staged { token: token.clone(), file_name: name, size, workspace_id: owner.0, user_id: owner.1, path };
    // The owner beside the file is private like the file (and the database).
    let written = async {
        let mut meta = open_private(&meta_path(dir, &token)).await?;
        meta.write_all(&serde_json::to_vec(&staged).unwrap_or_default()).await?;
        meta.flush().await
    }
    .await;
    if let Err(e) = written {
        remove(dir, &staged).await;
        return Err(e.into());
    }
    Ok(staged)
}

async fn open_private(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut opts = tokio::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path).await
}

/// The staged file for `token`, if it exists and belongs to this user in this workspace.
pub async fn find(dir: &Path, token: &str, owner: (i64, i64)) -> Option<Staged> {
    if token.len() != 32 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let meta = tokio::fs::read(meta_path(dir, token)).await.ok()?;
    let mut staged: Staged = serde_json::from_slice(&meta).ok()?;
    if (staged.workspace_id, staged.user_id) != owner {
        return None;
    }
    staged.path = dir.join(token);
    tokio::fs::metadata(&staged.path).await.ok()?;
    Some(staged)
}

pub async fn remove(dir: &Path, staged: &Staged) {
    let _ = tokio::fs::remove_file(&staged.path).await;
    let _ = tokio::fs::remove_file(meta_path(dir, &staged.token)).await;
}

/// Removes staged files nobody came back for.
pub async fn sweep(dir: &Path) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return };
    while let Ok(Some(e)) = entries.next_entry().await {
        let old = e
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > KEEP);
        if old {
            let _ = tokio::fs::remove_file(e.path()).await;
        }
    }
}
