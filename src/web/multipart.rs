//! `multipart/form-data` bodies with one file: text fields are collected, the
//! file is streamed to the staging area (`datasets::staging`) under the size
//! limit. `admit` sees the text fields that came before the file — the page
//! form puts its CSRF token first, so a forged upload is refused before a
//! byte of it is stored.
use std::collections::HashMap;
use std::path::Path;

use actix_multipart::Multipart;
use futures_util::StreamExt;

use crate::datasets::staging::{self, StageError, Staged};

/// Longest text field accepted beside the file.
const MAX_TEXT: usize = 64 * 1024;

pub struct Upload {
    pub fields: HashMap<String, String>,
    pub file: Option<Staged>,
}

impl Upload {
    pub fn field(&self, name: &str) -> String {
        self.fields.get(name).cloned().unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than the limit")]
    TooLarge,
    #[error("the form was refused")]
    Refused,
    #[error("the body is not a readable multipart form")]
    Malformed,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub async fn read(
    mut body: Multipart,
    dir: &Path,
    owner: (i64, i64),
    limit: u64,
    admit: impl Fn(&HashMap<String, String>) -> bool,
) -> Result<Upload, UploadError> {
    let mut fields = HashMap::new();
    let mut file: Option<Staged> = None;
    let outcome = async {
        while let Some(part) = body.next().await {
            let mut part = part.map_err(|_| UploadError::Malformed)?;
            let name = part.name().unwrap_or_default().to_owned();
            let file_name = part.content_disposition().and_then(|cd| cd.get_filename()).map(str::to_owned);
            if let Some(file_name) = file_name {
                if !admit(&fields) {
                    return Err(UploadError::Refused);
                }
                if file.is_some() {
                    return Err(UploadError::Malformed);
                }
                let staged = staging::save(dir, owner, &file_name, &mut part, limit).await.map_err(|e| match e {
                    StageError::TooLarge => UploadError::TooLarge,
                    StageError::Interrupted => UploadError::Malformed,
                    StageError::Io(e) => UploadError::Io(e),
                })?;
                // A form submitted without choosing a file sends an empty part.
                if staged.size == 0 && file_name.is_empty() {
                    staging::remove(dir, &staged).await;
                } else {
                    file = Some(staged);
                }
                continue;
            }
            let mut text = Vec::new();
            while let Some(chunk) = part.next().await {
                let chunk = chunk.map_err(|_| UploadError::Malformed)?;
                if text.len() + chunk.len() > MAX_TEXT {
                    return Err(UploadError::Malformed);
                }
                text.extend_from_slice(&chunk);
            }
            fields.insert(name, String::from_utf8(text).map_err(|_| UploadError::Malformed)?);
        }
        Ok(())
    }
    .await;
    if let Err(e) = outcome {
        if let Some(f) = &file {
            staging::remove(dir, f).await;
        }
        return Err(e);
    }
    if !admit(&fields) {
        if let Some(f) = &file {
            staging::remove(dir, f).await;
        }
        return Err(UploadError::Refused);
    }
    Ok(Upload { fields, file })
}
