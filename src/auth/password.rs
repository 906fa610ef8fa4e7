//! argon2id with OWASP parameters, run off the event loop and bounded so a burst
//! of logins cannot take all memory (each hash uses 19 MiB).
use std::sync::{Arc, LazyLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;

static HASHING: LazyLock<Arc<Semaphore>> = LazyLock::new(|| Arc::new(Semaphore::new(4)));

/// Verifying against this when the account does not exist keeps an unknown email
/// and a wrong password indistinguishable in time.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("keyhub-dummy-password-for-timing").unwrap_or_default());

fn argon2() -> Argon2<'static> {
    // OWASP: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2().hash_password(password.as_bytes(), &salt)?.to_string())
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

pub async fn hash(password: &Password) -> anyhow::Result<String> {
    let _permit = HASHING.clone().acquire_owned().await?;
    let pw = password.expose().to_owned();
    tokio::task::spawn_blocking(move || hash_blocking(&pw))
        .await?
        .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))
}

/// Checks `password` against `hash`, or against a dummy hash when there is no
/// account, so both failures take the same time.
pub async fn verify(password: &str, hash: Option<&str>) -> anyhow::Result<bool> {
    let _permit = HASHING.clone().acquire_owned().await?;
    let pw = password.to_owned();
    let known = hash.is_some();
    let hash = hash.map(str::to_owned);
    let ok = tokio::task::spawn_blocking(move || {
        let target = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        verify_blocking(&pw, &target)
    })
    .await?;
    Ok(ok && known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_and_uses_owasp_parameters() {
        let h = hash_blocking("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking("correct horse battery staple", &h));
        assert!(!verify_blocking("correct horse battery stapler", &h));
        assert!(!verify_blocking("anything", "not a hash"));
    }
}
