//! Secrets keyhub must be able to show again (Data Hub API keys, later
//! connector credentials) are stored sealed: XChaCha20-Poly1305 with a key
//! derived (HKDF-SHA256) from the instance master secret, and the row's
//! identity as associated data, so a ciphertext copied to another row does
//! not open there.
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const VERSION: &str = "v1";

pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub fn new(master_secret: &str) -> Sealer {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"keyhub"), master_secret.as_bytes());
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's limit, so expand cannot fail.
        let _ = hk.expand(b"keyhub sealed secrets v1", &mut key);
        Sealer { cipher: XChaCha20Poly1305::new(&key.into()) }
    }

    /// `v1:` + hex(nonce ‖ ciphertext); `context` names the row, e.g. `hub_key:42`.
    pub fn seal(&self, context: &str, plaintext: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() })
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}:{}", hex::encode(out))
    }

    /// The plaintext, or `None` when the value was sealed for another row,
    /// with another master secret, or was tampered with.
    pub fn open(&self, context: &str, sealed: &str) -> Option<String> {
        let bytes = hex::decode(sealed.strip_prefix("v1:")?).ok()?;
        if bytes.len() < 24 + 16 {
            return None;
        }
        let (nonce, ct) = bytes.split_at(24);
        let plain =
            self.cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: context.as_bytes() }).ok()?;
        String::from_utf8(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_for_the_same_row_and_secret() {
        let s = Sealer::new("a master secret of enough length 0123456789");
        let sealed = s.seal("hub_key:1", "khd_secret");
        assert!(!sealed.contains("khd_secret"));
        assert_eq!(s.open("hub_key:1", &sealed).as_deref(), Some("khd_secret"));
        assert_eq!(s.open("hub_key:2", &sealed), None, "copied to another row");
        assert_eq!(Sealer::new("another master secret 0123456789abcdef").open("hub_key:1", &sealed), None);
        assert_ne!(sealed, s.seal("hub_key:1", "khd_secret"), "fresh nonce each time");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('0') { '1' } else { '0' });
        assert_eq!(s.open("hub_key:1", &tampered), None);
    }
}
