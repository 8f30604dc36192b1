//! The password policy applied when someone chooses a password (activation).
//!
//! Kept deliberately simple and explainable to a twelve-year-old: a minimum length, not the
//! login or the activation code, at least two kinds of characters, and not one of the
//! passwords everyone tries first. Each refusal is a distinct variant so that the page can
//! say exactly what to change.

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PolicyViolation {
    #[error("the password must have at least {min} characters")]
    TooShort { min: usize },
    #[error("the password must have at most {max} characters")]
    TooLong { max: usize },
    #[error("the password must not be the login")]
    SameAsLogin,
    #[error("the password must not be the activation code")]
    SameAsActivationCode,
    #[error("the password must mix at least two kinds of characters")]
    SingleClass,
    #[error("the password is too common")]
    TooCommon,
    #[error("the two passwords differ")]
    ConfirmationMismatch,
}

/// Longest accepted password: far beyond any real one, short enough to keep a hostile
/// form from feeding megabytes to Argon2.
pub const MAX_LENGTH: usize = 128;

/// Passwords tried first in every dictionary attack (French and English favourites),
/// compared case-insensitively and without trailing digits or punctuation.
const COMMON: &[&str] = &[
    "password",
    "motdepasse",
    "azerty",
    "azertyuiop",
    "qwerty",
    "qwertyuiop",
    "soleil",
    "bonjour",
    "doudou",
    "loulou",
    "chouchou",
    "marseille",
    "football",
    "jetaime",
    "iloveyou",
    "admin",
    "welcome",
    "bienvenue",
    "college",
    "lycee",
    "ecole",
    "abcdef",
    "abcdefgh",
    "0123456789",
    "1234567890",
    "123456789",
    "12345678",
    "123456",
    "1234567",
    "111111",
    "000000",
    "987654321",
];

#[derive(Debug, Clone, Copy)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl PasswordPolicy {
    /// Checks a new password chosen by `login`, who activated with `activation_code`.
    pub fn check(
        &self,
        password: &str,
        confirmation: &str,
        login: &str,
        activation_code: Option<&str>,
    ) -> Result<(), PolicyViolation> {
        let len = password.chars().count();
        if len < self.min_length {
            return Err(PolicyViolation::TooShort {
                min: self.min_length,
            });
        }
        if len > MAX_LENGTH {
            return Err(PolicyViolation::TooLong { max: MAX_LENGTH });
        }
        let lower = password.to_lowercase();
        if lower == login.to_lowercase() {
            return Err(PolicyViolation::SameAsLogin);
        }
        if activation_code.is_some_and(|c| lower == c.to_lowercase()) {
            return Err(PolicyViolation::SameAsActivationCode);
        }
        if classes(password) < 2 {
            return Err(PolicyViolation::SingleClass);
        }
        if is_common(&lower) {
            return Err(PolicyViolation::TooCommon);
        }
        if password != confirmation {
            return Err(PolicyViolation::ConfirmationMismatch);
        }
        Ok(())
    }
}

/// Number of character kinds used: lower case, upper case, digits, anything else.
fn classes(password: &str) -> usize {
    let mut seen = [false; 4];
    for c in password.chars() {
        let i = if c.is_lowercase() {
            0
        } else if c.is_uppercase() {
            1
        } else if c.is_numeric() {
            2
        } else {
            3
        };
        seen[i] = true;
    }
    seen.iter().filter(|s| **s).count()
}

fn is_common(lower: &str) -> bool {
    // "Motdepasse2024!" is as guessable as "motdepasse".
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let stem = if stem.is_empty() { lower } else { stem };
    COMMON.contains(&lower) || COMMON.contains(&stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: PasswordPolicy = PasswordPolicy { min_length: 10 };

    fn check(pw: &str) -> Result<(), PolicyViolation> {
        P.check(pw, pw, "lea.dupont", Some("ABCD-EFGH-JK"))
    }

    #[test]
    fn accepts_a_reasonable_password() {
        assert_eq!(check("Cheval-Batterie-7"), Ok(()));
        assert_eq!(check("mon velo est rouge"), Ok(()));
    }

    #[test]
    fn refuses_each_weakness_with_its_reason() {
        assert_eq!(check("Court1"), Err(PolicyViolation::TooShort { min: 10 }));
        assert_eq!(
            check(&"a1".repeat(100)),
            Err(PolicyViolation::TooLong { max: 128 })
        );
        assert_eq!(check("Lea.Dupont"), Err(PolicyViolation::SameAsLogin));
        assert_eq!(
            check("abcd-efgh-jk"),
            Err(PolicyViolation::SameAsActivationCode)
        );
        assert_eq!(check("aaaaaaaaaaaa"), Err(PolicyViolation::SingleClass));
        assert_eq!(check("12345678901"), Err(PolicyViolation::SingleClass));
        assert_eq!(check("Motdepasse2024!"), Err(PolicyViolation::TooCommon));
        assert_eq!(check("Azertyuiop1"), Err(PolicyViolation::TooCommon));
        assert_eq!(
            P.check("Cheval-Batterie-7", "Cheval-Batterie-8", "x", None),
            Err(PolicyViolation::ConfirmationMismatch)
        );
    }
}
