//! Activation codes: what a school hands out on paper so that a person can set a password.
//! Random from the thread CSPRNG, ten characters from an alphabet without look-alikes
//! (no 0/O, 1/I/L), so about 49 bits.

use rand::Rng;

const ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const LENGTH: usize = 10;

pub fn activation_code() -> String {
    let mut rng = rand::rng();
    (0..LENGTH)
        .map(|_| {
            let i = rng.random_range(0..ALPHABET.len());
            char::from(ALPHABET.get(i).copied().unwrap_or(b'A'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unambiguous_and_distinct() {
        let a = activation_code();
        assert_eq!(a.len(), LENGTH);
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)));
        assert!(!a.contains(['0', 'O', '1', 'I', 'L']));
        assert_ne!(a, activation_code());
    }
}
