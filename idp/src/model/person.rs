//! A person of the directory and the typed views of its AAF attributes.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::attributes::{composite, Attributes};
use super::profiles::{profiles_for, Profile};

/// Directory key of a person: jointures are unique only within one académie, so the
/// source académie is part of the key. Written `academie$jointure`, as ENTs store it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PersonKey {
    pub academie: String,
    pub jointure: String,
}

impl PersonKey {
    pub fn new(academie: impl Into<String>, jointure: impl Into<String>) -> Self {
        Self {
            academie: academie.into(),
            jointure: jointure.into(),
        }
    }

    /// Parses the `academie$jointure` form.
    pub fn parse(s: &str) -> Option<Self> {
        let (a, j) = s.split_once('$')?;
        (!a.is_empty() && !j.is_empty()).then(|| Self::new(a, j))
    }
}

impl fmt::Display for PersonKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}${}", self.academie, self.jointure)
    }
}

/// AAF person category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    Eleve,
    PersEducNat,
    PersRelEleve,
}

impl Category {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Eleve" => Some(Self::Eleve),
            "PersEducNat" => Some(Self::PersEducNat),
            "PersRelEleve" => Some(Self::PersRelEleve),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eleve => "Eleve",
            Self::PersEducNat => "PersEducNat",
            Self::PersRelEleve => "PersRelEleve",
        }
    }
}

/// Whether a person may log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountState {
    Active,
    /// Absent from the latest Complet or deleted by a Delta: cannot log in, purged after
    /// the configured retention.
    Left {
        since: Date,
    },
    /// Locked by an administrator.
    Locked {
        reason: String,
    },
}

/// What a person logs in with. The activation code is kept readable until first use so
/// that a school can print it again; it is cleared once a password is set. `Debug` says
/// only which of them are there (a `Person` in a log line or a test failure must not show
/// the hash or the code).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    pub activation_code: Option<String>,
    pub password_changed_at: Option<OffsetDateTime>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |present: bool| if present { "<hidden>" } else { "none" };
        f.debug_struct("Credentials")
            .field("password_hash", &hidden(self.password_hash.is_some()))
            .field("activation_code", &hidden(self.activation_code.is_some()))
            .field("password_changed_at", &self.password_changed_at)
            .finish()
    }
}

impl Credentials {
    pub fn needs_activation(&self) -> bool {
        self.password_hash.is_none()
    }
}

/// One person: the attributes received from the AAF plus what the IdP assigns and keeps
/// (login, GAR identifier, state, credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub key: PersonKey,
    pub category: Category,
    /// Generated once, never changed, never reused.
    pub login: String,
    /// Stable opaque identifier sent to GAR (`GARPersonIdentifiant`): random, assigned once.
    pub gar_id: String,
    pub state: AccountState,
    pub attributes: Attributes,
    pub credentials: Credentials,
    pub created_on: Date,
    pub updated_on: Date,
}

/// A class or group of one structure (`ENTEleveClasses` = `struct$class`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassRef {
    pub structure: String,
    pub name: String,
}

/// A function held in a structure (`ENTPersonFonctions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Function {
    pub structure: String,
    pub code: String,
    pub label: String,
    pub discipline_code: String,
    pub discipline_label: String,
}

/// A subject taught to a class or group (`ENTAuxEnsClassesMatieres` = `struct$class$subject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Teaching {
    pub structure: String,
    pub class: String,
    pub subject: String,
}

/// A pupil's link to a person in charge (`ENTElevePersRelEleve` =
/// `jointure$relation$financial$legalRep$contact$payment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParentLink {
    pub parent: String,
    pub relation: String,
    pub legal_representative: bool,
}

impl Person {
    pub fn is_active(&self) -> bool {
        self.state == AccountState::Active
    }

    pub fn surname(&self) -> &str {
        self.attributes.first("sn").unwrap_or_default()
    }

    pub fn given_name(&self) -> &str {
        self.attributes.first("givenName").unwrap_or_default()
    }

    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name(), self.surname())
    }

    pub fn email(&self) -> Option<&str> {
        self.attributes.first("mail")
    }

    /// `ENTPersonDateNaissance` (dd/mm/yyyy in the AAF).
    pub fn birth_date(&self) -> Option<Date> {
        let fmt = time::macros::format_description!("[day]/[month]/[year]");
        self.attributes
            .first("ENTPersonDateNaissance")
            .and_then(|d| Date::parse(d, fmt).ok())
    }

    /// Jointures of the structures the person is attached to: `ENTPersonStructRattach` plus
    /// every structure named by a function, a class or a teaching, without duplicates.
    pub fn structures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.attributes.values("ENTPersonStructRattach").to_vec();
        let extra = self
            .functions()
            .into_iter()
            .map(|f| f.structure)
            .chain(self.classes().into_iter().map(|c| c.structure))
            .chain(self.teachings().into_iter().map(|t| t.structure));
        for s in extra {
            if !s.is_empty() && !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    pub fn functions(&self) -> Vec<Function> {
        self.attributes
            .values("ENTPersonFonctions")
            .iter()
            .map(|v| {
                let p = composite(v);
                let part = |i: usize| p.get(i).copied().unwrap_or_default().to_owned();
                Function {
                    structure: part(0),
                    code: part(1),
                    label: part(2),
                    discipline_code: part(3),
                    discipline_label: part(4),
                }
            })
            .collect()
    }

    /// Classes: a pupil's `ENTEleveClasses`; a teacher's classes from
    /// `ENTAuxEnsClassesMatieres` and `ENTAuxEnsClassesPrincipal`.
    pub fn classes(&self) -> Vec<ClassRef> {
        let mut out = class_refs(self.attributes.values("ENTEleveClasses"));
        for c in self
            .teachings()
            .into_iter()
            .map(|t| ClassRef {
                structure: t.structure,
                name: t.class,
            })
            .chain(class_refs(
                self.attributes.values("ENTAuxEnsClassesPrincipal"),
            ))
        {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    pub fn groups(&self) -> Vec<ClassRef> {
        class_refs(self.attributes.values("ENTEleveGroupes"))
    }

    pub fn teachings(&self) -> Vec<Teaching> {
        ["ENTAuxEnsClassesMatieres", "ENTAuxEnsGroupesMatieres"]
            .iter()
            .flat_map(|a| self.attributes.values(a))
            .filter_map(|v| {
                let p = composite(v);
                (p.len() >= 3).then(|| Teaching {
                    structure: p[0].to_owned(),
                    class: p[1].to_owned(),
                    subject: p[2].to_owned(),
                })
            })
            .collect()
    }

    /// MEF codes: a pupil's `ENTEleveMEF`, a teacher's `ENTAuxEnsMEF` (`struct$mef$label`).
    pub fn mefs(&self) -> Vec<String> {
        let mut out = self.attributes.values("ENTEleveMEF").to_vec();
        for v in self.attributes.values("ENTAuxEnsMEF") {
            if let Some(code) = composite(v).get(1) {
                if !code.is_empty() && !out.iter().any(|c| c == code) {
                    out.push((*code).to_owned());
                }
            }
        }
        out
    }

    /// A pupil's persons in charge.
    pub fn parents(&self) -> Vec<ParentLink> {
        self.attributes
            .values("ENTElevePersRelEleve")
            .iter()
            .filter_map(|v| {
                let p = composite(v);
                let parent = p.first().filter(|s| !s.is_empty())?;
                Some(ParentLink {
                    parent: (*parent).to_owned(),
                    relation: p.get(1).copied().unwrap_or_default().to_owned(),
                    legal_representative: p.get(3) == Some(&"1"),
                })
            })
            .collect()
    }

    /// Jointures of a parent's children (`ENTAuxPersRelEleveEleve`).
    pub fn children(&self) -> &[String] {
        self.attributes.values("ENTAuxPersRelEleveEleve")
    }

    /// National profiles derived from the category and the functions.
    pub fn profiles(&self) -> Vec<Profile> {
        profiles_for(
            self.category,
            &self.functions(),
            self.attributes.first("ENTPersonCategorieEnseignant"),
        )
    }
}

fn class_refs(values: &[String]) -> Vec<ClassRef> {
    values
        .iter()
        .filter_map(|v| {
            let (s, c) = v.split_once('$')?;
            Some(ClassRef {
                structure: s.to_owned(),
                name: c.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A person's `Debug` (log lines, test failures) never shows the hash or the code.
    #[test]
    fn credentials_debug_hides_secrets() {
        let mut p = person(Category::Eleve, &[]);
        p.credentials = Credentials {
            password_hash: Some("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".into()),
            activation_code: Some("K7MPQ2XW9R".into()),
            password_changed_at: None,
        };
        let shown = format!("{p:?}");
        assert!(
            !shown.contains("argon2") && !shown.contains("K7MPQ2XW9R"),
            "{shown}"
        );
        assert!(shown.contains("password_hash: \"<hidden>\""), "{shown}");
        p.credentials = Credentials::default();
        assert!(format!("{p:?}").contains("activation_code: \"none\""));
    }

    fn person(category: Category, attrs: &[(&str, &[&str])]) -> Person {
        Person {
            key: PersonKey::new("02", "1"),
            category,
            login: "x".into(),
            gar_id: "g".into(),
            state: AccountState::Active,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            credentials: Credentials::default(),
            created_on: time::macros::date!(2026 - 09 - 07),
            updated_on: time::macros::date!(2026 - 09 - 07),
        }
    }

    #[test]
    fn key_round_trips() {
        let k = PersonKey::new("AC-RENNES", "2");
        assert_eq!(k.to_string(), "AC-RENNES$2");
        assert_eq!(PersonKey::parse("AC-RENNES$2"), Some(k));
        assert_eq!(PersonKey::parse("nodollar"), None);
    }

    #[test]
    fn teacher_views() {
        let p = person(
            Category::PersEducNat,
            &[
                ("ENTPersonStructRattach", &["9001"]),
                (
                    "ENTPersonFonctions",
                    &["9002$ENS$ENSEIGNEMENT$L0202$LETTRES MODERNES"],
                ),
                ("ENTAuxEnsClassesMatieres", &["9001$2NDE B$030201"]),
                ("ENTAuxEnsMEF", &["9001$20010018110$2NDE"]),
            ],
        );
        assert_eq!(p.structures(), vec!["9001", "9002"]);
        assert_eq!(p.classes()[0].name, "2NDE B");
        assert_eq!(p.teachings()[0].subject, "030201");
        assert_eq!(p.mefs(), vec!["20010018110"]);
        assert_eq!(p.profiles(), vec![Profile::Ens]);
    }

    #[test]
    fn pupil_parent_links() {
        let p = person(
            Category::Eleve,
            &[(
                "ENTElevePersRelEleve",
                &["7001$1$1$1$1$0", "7002$2$1$0$1$0"],
            )],
        );
        let links = p.parents();
        assert_eq!(links.len(), 2);
        assert!(links[0].legal_representative);
        assert!(!links[1].legal_representative);
        assert_eq!(p.profiles(), vec![Profile::Elv]);
    }
}
