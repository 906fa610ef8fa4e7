//! Parsed account values. A form is turned into these before anything else
//! sees it; each error is a sentence meant for the person who typed the value.
use std::fmt;

use crate::text::{NameRules, clean_name};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Email, &'static str> {
        let s = input.trim().to_lowercase();
        if s.is_empty() {
            return Err("Enter an email address.");
        }
        if s.len() > 254 {
            return Err("An email address has at most 254 characters.");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err("An email address looks like name@example.com.");
        };
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || s.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err("An email address looks like name@example.com.");
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(input: &str) -> Result<DisplayName, &'static str> {
        const RULES: NameRules = NameRules {
            max_chars: 100,
            empty: "Enter a display name.",
            too_long: "A display name has at most 100 characters.",
            invisible: "A display name cannot contain invisible characters or text-direction controls.",
        };
        clean_name(input, &RULES).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceName(String);

impl WorkspaceName {
    pub fn parse(input: &str) -> Result<WorkspaceName, &'static str> {
        const RULES: NameRules = NameRules {
            max_chars: 80,
            empty: "Enter a workspace name.",
            too_long: "A workspace name has at most 80 characters.",
            invisible: "A workspace name cannot contain invisible characters or text-direction controls.",
        };
        clean_name(input, &RULES).map(WorkspaceName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Equal keys mean look-alike names; the database keeps them unique.
    pub fn key(&self) -> String {
        crate::text::look_key(&self.0)
    }
}

/// A new password that satisfies the policy. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

pub const PASSWORD_MIN_CHARS: usize = 12;
pub const PASSWORD_MAX_CHARS: usize = 256;

impl Password {
    /// Any Unicode is welcome; only length is enforced (NIST 800-63B).
    pub fn parse(input: &str) -> Result<Password, &'static str> {
        let n = input.chars().count();
        if n < PASSWORD_MIN_CHARS {
            return Err("A password has at least 12 characters.");
        }
        if n > PASSWORD_MAX_CHARS {
            return Err("A password has at most 256 characters.");
        }
        Ok(Password(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
        for bad in ["", "ada", "@example.com", "ada@", "a b@example.com", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn password_counts_characters_not_bytes() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("ñññññññññññ").is_err()); // 11 chars, 22 bytes
        assert!(Password::parse("ññññññññññññ").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        assert_eq!(format!("{:?}", Password::parse("correct horse battery").unwrap()), "Password(***)");
    }
}
