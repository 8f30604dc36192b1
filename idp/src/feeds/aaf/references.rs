//! Referential integrity, checked once at the end of the run because a record may point to
//! something a later file adds (a Delta pupil's new parent comes in the PersRelEleve file).
//! Only what this run touched is checked: references that could not be confirmed when their
//! record was applied, and whatever points to an entry this run deleted. A reference to a
//! person who has left is only a warning.

use std::collections::HashSet;

use crate::model::{composite, AccountState, EntryKey, Person, PersonKey, ReferenceKind};

use super::apply::{Applier, At};
use super::error::ImportError;

/// Something a person points to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Entry(ReferenceKind, String),
    /// A person (`parent` or `child`) by jointure, in the same académie.
    Person(&'static str, String),
}

impl Target {
    fn describe(&self) -> String {
        match self {
            Target::Entry(ReferenceKind::Structure, id) => format!("structure {id}"),
            Target::Entry(ReferenceKind::Subject, id) => format!("subject {id}"),
            Target::Entry(ReferenceKind::Mef, id) => format!("MEF {id}"),
            Target::Person(role, id) => format!("{role} {id}"),
        }
    }
}

/// A reference to re-check at the end.
#[derive(Debug, Clone)]
pub struct Pending {
    pub source: PersonKey,
    pub target: Target,
    pub at: At,
}

/// Every structure, MEF, subject and person a person's attributes name.
pub fn person_targets(p: &Person) -> Vec<Target> {
    let mut out: Vec<Target> = Vec::new();
    let mut push = |t: Target| {
        let empty = match &t {
            Target::Entry(_, id) | Target::Person(_, id) => id.is_empty(),
        };
        if !empty && !out.contains(&t) {
            out.push(t);
        }
    };
    let a = &p.attributes;
    let structure = |s: &str| Target::Entry(ReferenceKind::Structure, s.to_owned());
    for v in a.values("ENTPersonStructRattach") {
        push(structure(v));
    }
    for name in ["ENTEleveClasses", "ENTEleveGroupes", "ENTPersonFonctions"] {
        for v in a.values(name) {
            push(structure(composite(v).first().copied().unwrap_or_default()));
        }
    }
    for name in ["ENTAuxEnsClassesMatieres", "ENTAuxEnsGroupesMatieres"] {
        for v in a.values(name) {
            let parts = composite(v);
            push(structure(parts.first().copied().unwrap_or_default()));
            if let Some(subject) = parts.get(2) {
                push(Target::Entry(ReferenceKind::Subject, (*subject).to_owned()));
            }
        }
    }
    for v in a.values("ENTEleveMEF") {
        push(Target::Entry(ReferenceKind::Mef, v.clone()));
    }
    for v in a.values("ENTElevePersRelEleve") {
        let parent = composite(v).first().copied().unwrap_or_default().to_owned();
        push(Target::Person("parent", parent));
    }
    for v in a.values("ENTAuxPersRelEleveEleve") {
        push(Target::Person("child", v.clone()));
    }
    out
}

enum Found {
    Yes,
    Left,
    No,
}

impl Applier<'_> {
    fn find(&mut self, academie: &str, target: &Target) -> Result<Found, ImportError> {
        match target {
            Target::Entry(kind, id) => {
                let key = EntryKey::new(*kind, academie, id.as_str());
                let exists = self
                    .reference_exists(&key)
                    .map_err(ImportError::backend("checking references"))?;
                Ok(if exists { Found::Yes } else { Found::No })
            }
            Target::Person(_, jointure) => {
                if let Some(&active) = self.seen.get(academie).and_then(|m| m.get(jointure)) {
                    return Ok(if active { Found::Yes } else { Found::Left });
                }
                let key = PersonKey::new(academie, jointure.as_str());
                let p = self
                    .txn
                    .person(&key)
                    .map_err(ImportError::backend("checking references"))?;
                Ok(match p {
                    None => Found::No,
                    Some(p) if matches!(p.state, AccountState::Left { .. }) => Found::Left,
                    Some(_) => Found::Yes,
                })
            }
        }
    }

    /// Whether `source` still exists, is not gone, and still names `target` (a later record
    /// of the run may have changed it).
    fn still_points(&self, source: &PersonKey, target: &Target) -> Result<bool, ImportError> {
        let p = self
            .txn
            .person(source)
            .map_err(ImportError::backend("checking references"))?;
        Ok(match p {
            Some(p) if !matches!(p.state, AccountState::Left { .. }) => {
                person_targets(&p).contains(target)
            }
            _ => false,
        })
    }

    /// The end-of-run check. The first broken reference (in file order) is the error.
    pub fn check_references(&mut self) -> Result<(), ImportError> {
        let pending = std::mem::take(&mut self.pending);
        let mut warned: HashSet<(PersonKey, Target)> = HashSet::new();
        for p in &pending {
            let found = self.find(&p.source.academie, &p.target)?;
            if matches!(found, Found::Yes) || !self.still_points(&p.source, &p.target)? {
                continue;
            }
            match found {
                Found::No => {
                    return Err(ImportError::BrokenReference {
                        file: self.file(p.at).to_owned(),
                        line: p.at.line,
                        reason: format!(
                            "{} references {}, which is not in the directory",
                            p.source,
                            p.target.describe()
                        ),
                    })
                }
                Found::Left => {
                    if !warned.insert((p.source.clone(), p.target.clone())) {
                        continue;
                    }
                    let message = format!(
                        "{}, line {}: {} references {}, who has left",
                        self.file(p.at),
                        p.at.line,
                        p.source,
                        p.target.describe()
                    );
                    self.report.warn(message);
                }
                Found::Yes => {}
            }
        }
        self.warn_links_to_left(&warned)?;
        self.check_deleted_entries()
    }

    /// A person who left may still be named by the pupils or parents linked to them, who
    /// this run did not touch: a warning each, found through the leaver's own links.
    fn warn_links_to_left(
        &mut self,
        warned: &HashSet<(PersonKey, Target)>,
    ) -> Result<(), ImportError> {
        let left = std::mem::take(&mut self.left_in_run);
        for (key, at) in left {
            let Some(p) = self
                .txn
                .person(&key)
                .map_err(ImportError::backend("checking references"))?
            else {
                continue;
            };
            if !matches!(p.state, AccountState::Left { .. }) {
                continue; // came back later in the run
            }
            let linked: Vec<(&'static str, String)> = p
                .parents()
                .into_iter()
                .map(|l| ("child", l.parent))
                .chain(p.children().iter().map(|c| ("parent", c.clone())))
                .collect();
            for (role, jointure) in linked {
                let other = PersonKey::new(key.academie.as_str(), jointure.as_str());
                let target = Target::Person(role, key.jointure.clone());
                if !warned.contains(&(other.clone(), target.clone()))
                    && self.still_points(&other, &target)?
                {
                    let place = match at {
                        Some(at) => format!("{}, line {}: ", self.file(at), at.line),
                        None => String::new(),
                    };
                    let message = format!(
                        "{place}{other} references {}, who has left",
                        target.describe()
                    );
                    self.report.warn(message);
                }
            }
        }
        Ok(())
    }

    /// Nobody active may still point to a structure, subject or MEF this run deleted.
    fn check_deleted_entries(&mut self) -> Result<(), ImportError> {
        let deleted = std::mem::take(&mut self.deleted_references);
        let mut academies: Vec<&str> = deleted.iter().map(|(k, _)| k.academie.as_str()).collect();
        academies.sort_unstable();
        academies.dedup();
        for academie in academies {
            let keys = self
                .txn
                .person_keys(academie)
                .map_err(ImportError::backend("checking references"))?;
            for key in keys {
                let Some(p) = self
                    .txn
                    .person(&key)
                    .map_err(ImportError::backend("checking references"))?
                else {
                    continue;
                };
                if matches!(p.state, AccountState::Left { .. }) {
                    continue;
                }
                let targets = person_targets(&p);
                for (entry, at) in deleted.iter().filter(|(k, _)| k.academie == academie) {
                    let target = Target::Entry(entry.kind, entry.id.clone());
                    if targets.contains(&target) && !self.reference_exists(entry).unwrap_or(false) {
                        return Err(ImportError::BrokenReference {
                            file: self.file(*at).to_owned(),
                            line: at.line,
                            reason: format!(
                                "{} is deleted but {} still references it",
                                target.describe(),
                                p.key
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, Category, Credentials};

    #[test]
    fn targets_cover_structures_subjects_mef_and_people() {
        let attributes: Attributes = [
            ("ENTPersonStructRattach", vec!["9001"]),
            ("ENTEleveClasses", vec!["9001$2NDE A"]),
            ("ENTEleveGroupes", vec!["9003$LV2"]),
            ("ENTEleveMEF", vec!["20010018110"]),
            ("ENTElevePersRelEleve", vec!["7001$1$1$1$1$0", "$$"]),
            ("ENTAuxEnsClassesMatieres", vec!["9002$3E1$030201"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        let p = Person {
            key: PersonKey::new("02", "1"),
            category: Category::Eleve,
            login: "x".into(),
            gar_id: "g".into(),
            state: AccountState::Active,
            attributes,
            credentials: Credentials::default(),
            created_on: time::macros::date!(2026 - 09 - 07),
            updated_on: time::macros::date!(2026 - 09 - 07),
        };
        let s = |id: &str| Target::Entry(ReferenceKind::Structure, id.into());
        assert_eq!(
            person_targets(&p),
            vec![
                s("9001"),
                s("9003"),
                s("9002"),
                Target::Entry(ReferenceKind::Subject, "030201".into()),
                Target::Entry(ReferenceKind::Mef, "20010018110".into()),
                Target::Person("parent", "7001".into()),
            ]
        );
    }
}
