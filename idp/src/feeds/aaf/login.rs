//! Login generation: `firstname.lastname`, folded to `[a-z0-9.-]`, made unique with a
//! number. Logins are assigned once and never reused, so uniqueness is checked against every
//! login ever taken (`ImportTxn::login_taken`), including those of purged people.

use std::collections::HashMap;

use crate::ports::{BackendError, ImportTxn};

/// Longest login base, before the uniqueness number.
const MAX_BASE: usize = 48;

/// Folds one name to lower-case ASCII: accents removed, apostrophes dropped, spaces and
/// other separators turned into single hyphens.
pub fn fold(name: &str) -> String {
    let ascii = deunicode::deunicode(name).to_lowercase();
    let mut out = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            '\'' | '`' | '"' => {}
            _ if (c.is_whitespace() || c == '-' || c == '_' || c == '.')
                && !out.is_empty()
                && !out.ends_with('-') =>
            {
                out.push('-');
            }
            _ => {}
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// `given.surname`, or whichever part exists, or `user` when both fold to nothing.
pub fn base_login(given_name: &str, surname: &str) -> String {
    let (g, s) = (fold(given_name), fold(surname));
    let mut base = match (g.is_empty(), s.is_empty()) {
        (false, false) => format!("{g}.{s}"),
        (false, true) => g,
        (true, false) => s,
        (true, true) => "user".to_owned(),
    };
    if base.len() > MAX_BASE {
        base.truncate(MAX_BASE);
        while base.ends_with(['-', '.']) {
            base.pop();
        }
    }
    base
}

/// Hands out unique logins within one import. Remembers the next number to try per base so
/// that the thousandth `lea.martin` does not probe 999 taken logins first.
#[derive(Default)]
pub struct LoginAllocator {
    next: HashMap<String, u32>,
}

impl LoginAllocator {
    pub fn allocate(
        &mut self,
        txn: &dyn ImportTxn,
        given_name: &str,
        surname: &str,
    ) -> Result<String, BackendError> {
        let base = base_login(given_name, surname);
        let mut n = self.next.get(&base).copied().unwrap_or(1);
        loop {
            let candidate = if n == 1 {
                base.clone()
            } else {
                format!("{base}{n}")
            };
            if !txn.login_taken(&candidate)? {
                self.next.insert(base, n + 1);
                return Ok(candidate);
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_apostrophes_and_separators() {
        assert_eq!(base_login("Léa", "DUPONT"), "lea.dupont");
        assert_eq!(base_login("Zoé", "GARCÍA-LÓPEZ"), "zoe.garcia-lopez");
        assert_eq!(base_login("Aïssatou", "N'DIAYE"), "aissatou.ndiaye");
        assert_eq!(
            base_login("Jean  Marie", "DE LA  FONTAINE"),
            "jean-marie.de-la-fontaine"
        );
        assert_eq!(base_login("Anne--Sophie", "O’BRIEN"), "anne-sophie.obrien");
        assert_eq!(base_login("Chloé", "LEFÈVRE"), "chloe.lefevre");
        assert_eq!(base_login("Ægir", "Øster"), "aegir.oster");
    }

    #[test]
    fn falls_back_when_a_part_is_empty() {
        assert_eq!(base_login("", "MARTIN"), "martin");
        assert_eq!(base_login("Hugo", "!!"), "hugo");
        assert_eq!(base_login("", ""), "user");
        assert!(base_login(&"a".repeat(80), "b").len() <= MAX_BASE);
    }
}
