//! Applies records to the directory inside the one import transaction: add / modify /
//! delete semantics, Complet "absent means left", retention purge and the per-académie
//! bookkeeping of extractions. A record that changes nothing writes nothing, so that
//! re-running an import leaves the directory identical.

use std::collections::{HashMap, HashSet};

use time::Date;

use crate::model::{
    AccountState, Attributes, Category, Credentials, EntryKey, Person, PersonKey, ReferenceEntry,
    ReferenceKind,
};
use crate::ports::ImportTxn;

use super::codes::activation_code;
use super::error::ImportError;
use super::filename::{format_date, ExtractionKind, FileCategory};
use super::login::LoginAllocator;
use super::parse::{Op, Record};
use super::references::{person_targets, Pending, Target};
use super::report::ImportReport;

/// What a file holds, as far as applying goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    Person(Category),
    Reference(ReferenceKind),
    Nothing,
}

pub fn holds(category: FileCategory) -> Holds {
    match category {
        FileCategory::Eleve => Holds::Person(Category::Eleve),
        FileCategory::PersEducNat => Holds::Person(Category::PersEducNat),
        FileCategory::PersRelEleve => Holds::Person(Category::PersRelEleve),
        FileCategory::EtabEducNat => Holds::Reference(ReferenceKind::Structure),
        FileCategory::MatiereEducNat => Holds::Reference(ReferenceKind::Subject),
        FileCategory::MefEducNat => Holds::Reference(ReferenceKind::Mef),
        FileCategory::InfosEducNat => Holds::Nothing,
    }
}

/// Checks the operational category of a record against its file.
fn check_category(file_category: FileCategory, rec: &Record) -> Result<(), String> {
    let ok = match file_category {
        FileCategory::Eleve | FileCategory::PersEducNat | FileCategory::PersRelEleve => {
            rec.category_attr == "categoriePersonne" && rec.category == file_category.as_str()
        }
        FileCategory::EtabEducNat => {
            rec.category_attr == "categorieStructure" && rec.category == "EtabEducNat"
        }
        FileCategory::MatiereEducNat => {
            rec.category_attr == "categorieMatiere"
                && (rec.category == "MatEducNat" || rec.category == "MatiereEducNat")
        }
        FileCategory::MefEducNat => {
            rec.category_attr == "categorieMef" && rec.category == "MefEducNat"
        }
        FileCategory::InfosEducNat => true,
    };
    if ok {
        return Ok(());
    }
    let known = [
        "Eleve",
        "PersEducNat",
        "PersRelEleve",
        "EtabEducNat",
        "MatEducNat",
        "MatiereEducNat",
        "MefEducNat",
    ];
    if known.contains(&rec.category.as_str()) {
        Err(format!(
            "record {} is a {} ({}) in a {} file",
            rec.id, rec.category, rec.category_attr, file_category
        ))
    } else {
        Err(format!(
            "record {}: unknown category `{}` ({})",
            rec.id, rec.category, rec.category_attr
        ))
    }
}

/// Where a record came from, for messages.
#[derive(Debug, Clone, Copy)]
pub struct At {
    pub file: u32,
    pub line: u64,
}

/// The state of one import run.
pub struct Applier<'t> {
    pub txn: Box<dyn ImportTxn + 't>,
    pub today: Date,
    pub report: ImportReport,
    /// File display names, indexed by `At::file`.
    pub files: Vec<String>,
    logins: LoginAllocator,
    /// Persons written or read in this run, per académie: jointure -> active.
    pub(super) seen: HashMap<String, HashMap<String, bool>>,
    /// Complet bookkeeping per académie: jointures present and person categories delivered.
    complet: HashMap<String, (HashSet<String>, HashSet<Category>)>,
    /// Existence of reference entries, as far as this run knows.
    pub(super) reference_cache: HashMap<EntryKey, bool>,
    /// References that could not be confirmed when their record was applied.
    pub(super) pending: Vec<Pending>,
    /// Reference entries deleted in this run.
    pub(super) deleted_references: Vec<(EntryKey, At)>,
    /// Persons who left in this run (Delta delete, or absent from a Complet: no line).
    pub(super) left_in_run: Vec<(PersonKey, Option<At>)>,
}

impl<'t> Applier<'t> {
    pub fn new(txn: Box<dyn ImportTxn + 't>, today: Date) -> Self {
        Self {
            txn,
            today,
            report: ImportReport::default(),
            files: Vec::new(),
            logins: LoginAllocator::default(),
            seen: HashMap::new(),
            complet: HashMap::new(),
            reference_cache: HashMap::new(),
            pending: Vec::new(),
            deleted_references: Vec::new(),
            left_in_run: Vec::new(),
        }
    }

    pub(super) fn file(&self, at: At) -> &str {
        self.files
            .get(at.file as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }

    fn invalid(&self, at: At, reason: String) -> ImportError {
        ImportError::invalid(self.file(at), at.line, reason)
    }

    fn backend(&self, at: At) -> impl FnOnce(crate::ports::BackendError) -> ImportError {
        ImportError::backend(format!("{}, line {}", self.file(at), at.line))
    }

    // ----- bookkeeping -----

    fn meta_name(academie: &str) -> String {
        format!("aaf.last_extraction.{academie}")
    }

    /// The last extraction applied for an académie, as `(date, kind)`.
    pub fn last_applied(
        &self,
        academie: &str,
    ) -> Result<Option<(String, ExtractionKind)>, ImportError> {
        let raw = self
            .txn
            .meta(&Self::meta_name(academie))
            .map_err(ImportError::backend("reading the feed bookkeeping"))?;
        Ok(raw.and_then(|v| {
            let (date, kind) = v.split_once(' ')?;
            let kind = match kind {
                "Complet" => ExtractionKind::Complet,
                "Delta" => ExtractionKind::Delta,
                _ => return None,
            };
            Some((date.to_owned(), kind))
        }))
    }

    pub fn set_applied(
        &mut self,
        academie: &str,
        date: Date,
        kind: ExtractionKind,
    ) -> Result<(), ImportError> {
        let value = format!("{} {}", format_date(date), kind.as_str());
        let name = Self::meta_name(academie);
        let current = self
            .txn
            .meta(&name)
            .map_err(ImportError::backend("reading the feed bookkeeping"))?;
        if current.as_deref() != Some(value.as_str()) {
            self.txn
                .set_meta(&name, &value)
                .map_err(ImportError::backend("writing the feed bookkeeping"))?;
        }
        Ok(())
    }

    /// Starts tracking presence for a Complet of `academie` that delivers `category`.
    pub fn complet_delivers(&mut self, academie: &str, category: Category) {
        self.complet
            .entry(academie.to_owned())
            .or_default()
            .1
            .insert(category);
    }

    // ----- records -----

    pub fn apply(
        &mut self,
        academie: &str,
        file_category: FileCategory,
        complet: bool,
        rec: Record,
        at: At,
    ) -> Result<(), ImportError> {
        check_category(file_category, &rec).map_err(|r| self.invalid(at, r))?;
        match holds(file_category) {
            Holds::Person(category) => {
                self.report.person_records += 1;
                if complet && rec.op != Op::Delete {
                    if let Some((present, _)) = self.complet.get_mut(academie) {
                        present.insert(rec.id.clone());
                    }
                }
                self.apply_person(academie, category, rec, at)
            }
            Holds::Reference(kind) => self.apply_reference(academie, kind, file_category, rec, at),
            Holds::Nothing => Ok(()),
        }
    }

    fn apply_person(
        &mut self,
        academie: &str,
        category: Category,
        rec: Record,
        at: At,
    ) -> Result<(), ImportError> {
        let key = PersonKey::new(academie, rec.id.as_str());
        let existing = self.txn.person(&key).map_err(self.backend(at))?;
        let cat = category.as_str();
        if let Some(p) = &existing {
            if p.category != category {
                return Err(self.invalid(
                    at,
                    format!(
                        "{} record {} but {key} is a {} in the directory",
                        cat,
                        rec.id,
                        p.category.as_str()
                    ),
                ));
            }
        }
        let person = match (rec.op, existing) {
            (Op::Add, None) => {
                let attributes: Attributes = rec.attrs.into_iter().collect();
                let login = self
                    .logins
                    .allocate(
                        self.txn.as_ref(),
                        attributes.first("givenName").unwrap_or_default(),
                        attributes.first("sn").unwrap_or_default(),
                    )
                    .map_err(self.backend(at))?;
                let person = Person {
                    key: key.clone(),
                    category,
                    login,
                    gar_id: uuid::Uuid::new_v4().to_string(),
                    state: AccountState::Active,
                    attributes,
                    credentials: Credentials {
                        activation_code: Some(activation_code()),
                        ..Credentials::default()
                    },
                    created_on: self.today,
                    updated_on: self.today,
                };
                self.txn.put_person(&person).map_err(self.backend(at))?;
                self.report.counts_mut(cat).added += 1;
                person
            }
            (Op::Add, Some(mut p)) => {
                let attributes: Attributes = rec.attrs.into_iter().collect();
                let mut changed = p.attributes != attributes;
                p.attributes = attributes;
                if matches!(p.state, AccountState::Left { .. }) {
                    // Back in the AAF: same account, same login and credentials.
                    p.state = AccountState::Active;
                    changed = true;
                }
                self.save(p, changed, cat, at)?
            }
            (Op::Modify, Some(mut p)) => {
                let before = p.attributes.clone();
                for (name, values) in rec.attrs {
                    p.attributes.replace(&name, values);
                }
                let changed = p.attributes != before;
                self.save(p, changed, cat, at)?
            }
            (Op::Delete, Some(mut p)) => {
                if matches!(p.state, AccountState::Left { .. }) {
                    self.report.counts_mut(cat).unchanged += 1;
                } else {
                    p.state = AccountState::Left { since: self.today };
                    p.updated_on = self.today;
                    self.txn.put_person(&p).map_err(self.backend(at))?;
                    self.report.counts_mut(cat).deleted += 1;
                    self.left_in_run.push((p.key.clone(), Some(at)));
                }
                self.seen
                    .entry(academie.to_owned())
                    .or_default()
                    .insert(p.key.jointure, false);
                return Ok(());
            }
            (Op::Modify, None) => {
                return Err(self.invalid(
                    at,
                    format!(
                        "modify of unknown {cat} {} ({key} is not in the directory)",
                        rec.id
                    ),
                ))
            }
            (Op::Delete, None) => {
                return Err(self.invalid(
                    at,
                    format!(
                        "delete of unknown {cat} {} ({key} is not in the directory)",
                        rec.id
                    ),
                ))
            }
        };
        let active = person.is_active();
        self.queue_references(&person, at)?;
        self.seen
            .entry(academie.to_owned())
            .or_default()
            .insert(person.key.jointure, active);
        Ok(())
    }

    /// Writes `p` if it changed (stamping `updated_on`), counts, and returns it.
    fn save(
        &mut self,
        mut p: Person,
        changed: bool,
        cat: &str,
        at: At,
    ) -> Result<Person, ImportError> {
        if changed {
            p.updated_on = self.today;
            self.txn.put_person(&p).map_err(self.backend(at))?;
            self.report.counts_mut(cat).modified += 1;
        } else {
            self.report.counts_mut(cat).unchanged += 1;
        }
        Ok(p)
    }

    /// Checks what a person points to; what cannot be confirmed now is re-checked at the
    /// end of the run (it may be added by a later file).
    fn queue_references(&mut self, person: &Person, at: At) -> Result<(), ImportError> {
        let academie = person.key.academie.as_str();
        for target in person_targets(person) {
            let ok = match &target {
                Target::Entry(kind, id) => {
                    let key = EntryKey::new(*kind, academie, id.as_str());
                    self.reference_exists(&key).map_err(self.backend(at))?
                }
                Target::Person(_, jointure) => self
                    .seen
                    .get(academie)
                    .and_then(|m| m.get(jointure))
                    .copied()
                    .unwrap_or(false),
            };
            if !ok {
                self.pending.push(Pending {
                    source: person.key.clone(),
                    target,
                    at,
                });
            }
        }
        Ok(())
    }

    pub(super) fn reference_exists(
        &mut self,
        key: &EntryKey,
    ) -> Result<bool, crate::ports::BackendError> {
        if let Some(&known) = self.reference_cache.get(key) {
            return Ok(known);
        }
        let exists = self.txn.reference(key)?.is_some();
        self.reference_cache.insert(key.clone(), exists);
        Ok(exists)
    }

    fn apply_reference(
        &mut self,
        academie: &str,
        kind: ReferenceKind,
        file_category: FileCategory,
        rec: Record,
        at: At,
    ) -> Result<(), ImportError> {
        let key = EntryKey::new(kind, academie, rec.id.as_str());
        let cat = file_category.as_str();
        let existing = self.txn.reference(&key).map_err(self.backend(at))?;
        match (rec.op, existing) {
            (Op::Add, None) => {
                let entry = ReferenceEntry {
                    key: key.clone(),
                    attributes: rec.attrs.into_iter().collect(),
                };
                self.txn.put_reference(&entry).map_err(self.backend(at))?;
                self.report.counts_mut(cat).added += 1;
                self.reference_cache.insert(key, true);
            }
            (Op::Add, Some(mut e)) => {
                let attributes: Attributes = rec.attrs.into_iter().collect();
                if e.attributes == attributes {
                    self.report.counts_mut(cat).unchanged += 1;
                } else {
                    e.attributes = attributes;
                    self.txn.put_reference(&e).map_err(self.backend(at))?;
                    self.report.counts_mut(cat).modified += 1;
                }
            }
            (Op::Modify, Some(mut e)) => {
                let before = e.attributes.clone();
                for (name, values) in rec.attrs {
                    e.attributes.replace(&name, values);
                }
                if e.attributes == before {
                    self.report.counts_mut(cat).unchanged += 1;
                } else {
                    self.txn.put_reference(&e).map_err(self.backend(at))?;
                    self.report.counts_mut(cat).modified += 1;
                }
            }
            (Op::Delete, Some(_)) => {
                self.txn.remove_reference(&key).map_err(self.backend(at))?;
                self.report.counts_mut(cat).deleted += 1;
                self.reference_cache.insert(key.clone(), false);
                self.deleted_references.push((key, at));
            }
            (Op::Modify | Op::Delete, None) => {
                let what = if rec.op == Op::Modify {
                    "modify"
                } else {
                    "delete"
                };
                return Err(self.invalid(
                    at,
                    format!("{what} of unknown {cat} {} (not in the directory)", rec.id),
                ));
            }
        }
        Ok(())
    }

    // ----- end of an extraction, end of the run -----

    /// After a Complet: every person of a delivered category of the académie that the
    /// Complet did not mention has left.
    pub fn finish_complet(&mut self) -> Result<(), ImportError> {
        let complet = std::mem::take(&mut self.complet);
        for (academie, (present, categories)) in complet {
            let keys = self
                .txn
                .person_keys(&academie)
                .map_err(ImportError::backend("listing persons for the Complet"))?;
            for key in keys {
                if present.contains(&key.jointure) {
                    continue;
                }
                let Some(mut p) = self.txn.person(&key).map_err(ImportError::backend(
                    "reading a person absent from the Complet",
                ))?
                else {
                    continue;
                };
                if !categories.contains(&p.category) || matches!(p.state, AccountState::Left { .. })
                {
                    continue;
                }
                p.state = AccountState::Left { since: self.today };
                p.updated_on = self.today;
                self.txn
                    .put_person(&p)
                    .map_err(ImportError::backend("marking a person as left"))?;
                self.report.counts_mut(p.category.as_str()).left += 1;
                self.left_in_run.push((key.clone(), None));
                self.seen
                    .entry(academie.clone())
                    .or_default()
                    .insert(key.jointure, false);
            }
            for c in [
                Category::Eleve,
                Category::PersEducNat,
                Category::PersRelEleve,
            ] {
                if !categories.contains(&c) {
                    self.report.warn(format!(
                        "Complet for académie {academie} has no {} file: nobody of that category was marked as left",
                        c.as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Removes for good the persons who left more than `retention_days` ago.
    pub fn purge(&mut self, retention_days: u32) -> Result<(), ImportError> {
        let Some(cutoff) = self
            .today
            .checked_sub(time::Duration::days(i64::from(retention_days) + 1))
        else {
            return Ok(());
        };
        let keys = self
            .txn
            .left_before(cutoff)
            .map_err(ImportError::backend("listing persons to purge"))?;
        for key in keys {
            let Some(p) = self
                .txn
                .person(&key)
                .map_err(ImportError::backend("reading a person to purge"))?
            else {
                continue;
            };
            self.txn
                .remove_person(&key)
                .map_err(ImportError::backend("purging a person"))?;
            self.report.counts_mut(p.category.as_str()).purged += 1;
        }
        Ok(())
    }
}
