//! National profiles (SDET): derived from the AAF category and functions, never sent by
//! the AAF itself.

use serde::Serialize;

use super::person::{Category, Function};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Profile {
    Elv,
    Tut,
    Ens,
    Dir,
    Evs,
    Eta,
    Doc,
}

impl Profile {
    /// The SDET name, e.g. `National_ELV`.
    pub fn national(self) -> &'static str {
        match self {
            Self::Elv => "National_ELV",
            Self::Tut => "National_TUT",
            Self::Ens => "National_ENS",
            Self::Dir => "National_DIR",
            Self::Evs => "National_EVS",
            Self::Eta => "National_ETA",
            Self::Doc => "National_DOC",
        }
    }

    /// The older numeric code still read by Pronote (`National_1`..`National_4`).
    pub fn numeric(self) -> &'static str {
        match self {
            Self::Elv => "National_1",
            Self::Tut => "National_2",
            Self::Ens => "National_3",
            Self::Dir | Self::Evs | Self::Eta | Self::Doc => "National_4",
        }
    }
}

/// Staff functions (`ENTPersonFonctions` code) to profile. Codes not listed are
/// administrative or technical staff.
fn profile_of_function(code: &str) -> Profile {
    match code {
        "ENS" => Profile::Ens,
        "DIR" => Profile::Dir,
        "DOC" => Profile::Doc,
        "EDU" | "AED" | "SUR" => Profile::Evs,
        _ => Profile::Eta,
    }
}

pub(super) fn profiles_for(
    category: Category,
    functions: &[Function],
    teacher_flag: Option<&str>,
) -> Vec<Profile> {
    match category {
        Category::Eleve => vec![Profile::Elv],
        Category::PersRelEleve => vec![Profile::Tut],
        Category::PersEducNat => {
            let mut out: Vec<Profile> = functions
                .iter()
                .map(|f| profile_of_function(&f.code))
                .collect();
            if out.is_empty() {
                out.push(if teacher_flag == Some("O") {
                    Profile::Ens
                } else {
                    Profile::Eta
                });
            }
            out.sort();
            out.dedup();
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(code: &str) -> Function {
        Function {
            structure: "9001".into(),
            code: code.into(),
            label: String::new(),
            discipline_code: String::new(),
            discipline_label: String::new(),
        }
    }

    #[test]
    fn staff_profiles_from_functions() {
        let p = profiles_for(Category::PersEducNat, &[f("DIR"), f("ENS"), f("ENS")], None);
        assert_eq!(p, vec![Profile::Ens, Profile::Dir]);
        assert_eq!(
            profiles_for(Category::PersEducNat, &[f("AED")], None),
            vec![Profile::Evs]
        );
        assert_eq!(
            profiles_for(Category::PersEducNat, &[f("ADF")], None),
            vec![Profile::Eta]
        );
        assert_eq!(
            profiles_for(Category::PersEducNat, &[], Some("O")),
            vec![Profile::Ens]
        );
    }

    #[test]
    fn numeric_codes() {
        assert_eq!(Profile::Tut.numeric(), "National_2");
        assert_eq!(Profile::Doc.national(), "National_DOC");
    }
}
