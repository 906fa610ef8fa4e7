//! Random one-time tokens (invitation links, setup codes, CSRF tokens) and the
//! digest we keep of them: high-entropy values need SHA-256, not argon2.
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// `len` random base62 characters from the OS-seeded CSPRNG.
pub fn random_token(len: usize) -> String {
    rand::rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// Hex SHA-256, the lookup form of a token stored at rest.
pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares without an early exit, so a guess cannot be refined by timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Setup code shown on the console: easy to read aloud, hard to guess (~71 bits).
pub fn setup_code() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    let groups: Vec<String> =
        (0..3).map(|_| (0..5).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()).collect();
    groups.join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_digests_stable() {
        let a = random_token(32);
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_token(32));
        assert_eq!(digest("abc"), digest("abc"));
        assert_eq!(digest("abc").len(), 64);
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
