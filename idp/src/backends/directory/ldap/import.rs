//! The AAF import into LDAP: an `ImportTxn` that reads the directory as it goes and holds
//! every change in memory until `commit`, which then writes them entry by entry.
//!
//! LDAP has no transaction across entries: a commit that fails half-way leaves the entries
//! written so far. The import stays safe to re-run: the feed bookkeeping (last extraction
//! applied) is written last, so the same delivery is applied again, and applying it to
//! entries that already have its values changes nothing. Entries are never replaced as a
//! whole: an existing person gets a modify of the attributes that differ, and never of its
//! credentials, so a password set by the server during the import is kept.
//!
//! A purged person's entry is deleted and its login kept as an `ENTIdpRetiredLogin` entry
//! under `ou=retired-logins`, so that it is never given again.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ldap3::{dn_escape, ldap_escape, Ldap, Mod, Scope, SearchEntry};
use time::Date;

use super::entry::{self, person_attributes, reference_attributes};
use super::{distinct, values, Fail, LdapDirectory, Pool};
use crate::model::{AccountState, EntryKey, Person, PersonKey, ReferenceEntry};
use crate::ports::{BackendError, ImportTxn};

const META_CN: &str = "cn=idp-meta";
const RETIRED_OU: &str = "ou=retired-logins";

/// Attributes an import never writes on an existing person: the server owns them.
const CREDENTIALS: [&str; 3] = [
    entry::PASSWORD_HASH,
    entry::ACTIVATION_CODE,
    entry::PASSWORD_CHANGED_AT,
];

pub(super) struct LdapTxn<'a> {
    dir: &'a LdapDirectory,
    /// Buffered people: `None` is a removal.
    people: BTreeMap<PersonKey, Option<Person>>,
    references: BTreeMap<EntryKey, Option<ReferenceEntry>>,
    /// Logins of the buffered people.
    logins: HashMap<String, PersonKey>,
    meta: BTreeMap<String, String>,
    /// The bookkeeping entry as read once.
    meta_read: RefCell<Option<BTreeMap<String, String>>>,
}

impl<'a> LdapTxn<'a> {
    pub(super) fn new(dir: &'a LdapDirectory) -> Self {
        Self {
            dir,
            people: BTreeMap::new(),
            references: BTreeMap::new(),
            logins: HashMap::new(),
            meta: BTreeMap::new(),
            meta_read: RefCell::new(None),
        }
    }

    fn base(&self) -> &str {
        &self.dir.pool.config.base_dn
    }

    /// The person as the directory holds it, without the fallbacks its entry needed
    /// (`cn`): what an import put is what it reads back, so a re-run sees no change.
    fn stored_person(&self, key: &PersonKey) -> Result<Option<Person>, BackendError> {
        let key = key.clone();
        let found = self.dir.block_on("import read", move |pool, mut ldap| {
            let key = key.clone();
            async move { pool.person_entry(&mut ldap, &key).await }
        })?;
        found
            .map(|e| super::decode_person_entry(&e).map(without_fallbacks))
            .transpose()
    }

    fn stored_meta(&self) -> Result<BTreeMap<String, String>, BackendError> {
        if let Some(m) = self.meta_read.borrow().as_ref() {
            return Ok(m.clone());
        }
        let dn = format!("{META_CN},{}", self.base());
        let found = self
            .dir
            .block_on("import bookkeeping", move |pool, mut ldap| {
                let dn = dn.clone();
                // Not there before the first import: it creates it.
                async move { pool.read_entry(&mut ldap, &dn).await }
            })?;
        let map: BTreeMap<String, String> = found
            .iter()
            .flat_map(|e| values(e, entry::META_VALUE))
            .filter_map(|v| v.split_once(' '))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        *self.meta_read.borrow_mut() = Some(map.clone());
        Ok(map)
    }

    /// Keys of the people whose entries match `filter`.
    fn stored_keys(&self, filter: String) -> Result<Vec<PersonKey>, BackendError> {
        let mut out = Vec::new();
        self.dir.walk(
            self.dir.pool.people_base(),
            filter,
            &[entry::KEY],
            |e: &SearchEntry| {
                values(e, entry::KEY)
                    .first()
                    .and_then(|v| PersonKey::parse(v))
                    .ok_or_else(|| {
                        BackendError::Corrupt(format!(
                            "LDAP entry {}: no valid {}",
                            e.dn,
                            entry::KEY
                        ))
                    })
            },
            &mut |k: &PersonKey| {
                out.push(k.clone());
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The entries that hold `login`, exactly: people, and retired logins (no key).
    fn login_holders(&self, login: &str) -> Result<Vec<SearchEntry>, BackendError> {
        let login = login.to_owned();
        self.dir
            .block_on("import login check", move |pool, mut ldap| {
                let login = login.clone();
                async move {
                    let base = pool.config.base_dn.clone();
                    let attrs = [entry::LOGIN, entry::KEY];
                    pool.search_exact(&mut ldap, &base, "*", entry::LOGIN, &login, &attrs)
                        .await
                }
            })
    }
}

/// `cn` is required by inetOrgPerson and the AAF does not send it: the entry got one made
/// from the names (see `person_attributes`), which the import does not count as data.
fn without_fallbacks(mut p: Person) -> Person {
    if p.attributes.values("cn") == [p.display_name().trim().to_owned()] {
        p.attributes.replace("cn", Vec::new());
    }
    p
}

impl ImportTxn for LdapTxn<'_> {
    fn person(&self, key: &PersonKey) -> Result<Option<Person>, BackendError> {
        match self.people.get(key) {
            Some(buffered) => Ok(buffered.clone()),
            None => self.stored_person(key),
        }
    }

    fn put_person(&mut self, person: &Person) -> Result<(), BackendError> {
        let conflict = |owner: &dyn std::fmt::Display| {
            Err(BackendError::Conflict(format!(
                "login {} already belongs to {owner}",
                person.login
            )))
        };
        match self.logins.get(&person.login) {
            Some(owner) if *owner != person.key => return conflict(owner),
            Some(_) => {}
            None => {
                let own = person.key.to_string();
                for h in self.login_holders(&person.login)? {
                    if values(&h, entry::KEY) != [own.as_str()] {
                        return conflict(&h.dn);
                    }
                }
            }
        }
        self.logins.insert(person.login.clone(), person.key.clone());
        self.people.insert(person.key.clone(), Some(person.clone()));
        Ok(())
    }

    fn remove_person(&mut self, key: &PersonKey) -> Result<(), BackendError> {
        self.people.insert(key.clone(), None);
        Ok(())
    }

    fn login_taken(&self, login: &str) -> Result<bool, BackendError> {
        if self.logins.contains_key(login) {
            return Ok(true);
        }
        Ok(!self.login_holders(login)?.is_empty())
    }

    fn person_keys(&self, academie: &str) -> Result<Vec<PersonKey>, BackendError> {
        let filter = format!(
            "(&(objectClass=ENTIdpAccount)({}={}$*))",
            entry::KEY,
            ldap_escape(academie)
        );
        let mut keys: BTreeSet<PersonKey> = self
            .stored_keys(filter)?
            .into_iter()
            .filter(|k| k.academie == academie)
            .collect();
        for (k, p) in &self.people {
            if k.academie == academie {
                if p.is_some() {
                    keys.insert(k.clone());
                } else {
                    keys.remove(k);
                }
            }
        }
        Ok(keys.into_iter().collect())
    }

    fn left_before(&self, date: Date) -> Result<Vec<PersonKey>, BackendError> {
        let filter = format!("(&(objectClass=ENTIdpAccount)({}=left *))", entry::STATE);
        let mut keys: BTreeSet<PersonKey> = BTreeSet::new();
        let mut buffered_or_stored = |p: &Person| {
            if matches!(p.state, AccountState::Left { since } if since <= date) {
                keys.insert(p.key.clone());
            }
        };
        self.dir.walk(
            self.dir.pool.people_base(),
            filter,
            &["*"],
            super::decode_person_entry,
            &mut |p: &Person| {
                if !self.people.contains_key(&p.key) {
                    buffered_or_stored(p);
                }
                Ok(())
            },
        )?;
        for p in self.people.values().flatten() {
            buffered_or_stored(p);
        }
        Ok(keys.into_iter().collect())
    }

    fn reference(&self, key: &EntryKey) -> Result<Option<ReferenceEntry>, BackendError> {
        if let Some(buffered) = self.references.get(key) {
            return Ok(buffered.clone());
        }
        let key = key.clone();
        self.dir.block_on("import read", move |pool, mut ldap| {
            let key = key.clone();
            async move {
                let found = pool.reference_entry(&mut ldap, &key).await?;
                Ok(found
                    .as_ref()
                    .map(super::decode_reference_entry(key.kind))
                    .transpose()?)
            }
        })
    }

    fn put_reference(&mut self, e: &ReferenceEntry) -> Result<(), BackendError> {
        self.references.insert(e.key.clone(), Some(e.clone()));
        Ok(())
    }

    fn remove_reference(&mut self, key: &EntryKey) -> Result<(), BackendError> {
        self.references.insert(key.clone(), None);
        Ok(())
    }

    fn meta(&self, name: &str) -> Result<Option<String>, BackendError> {
        if let Some(v) = self.meta.get(name) {
            return Ok(Some(v.clone()));
        }
        Ok(self.stored_meta()?.get(name).cloned())
    }

    fn set_meta(&mut self, name: &str, value: &str) -> Result<(), BackendError> {
        if name.contains(' ') {
            return Err(BackendError::Conflict(format!(
                "bookkeeping name `{name}` has a space"
            )));
        }
        self.meta.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), BackendError> {
        let this = *self;
        let base = this.base().to_owned();
        let mut meta = this.stored_meta()?;
        meta.extend(this.meta);
        let changes = Arc::new(Changes {
            base,
            people: this.people.into_iter().collect(),
            references: this.references.into_iter().collect(),
            meta,
        });
        // The whole commit may take long: each operation has its own timeout instead.
        let unbounded = Some(Duration::MAX);
        this.dir
            .block_on_within("import commit", unbounded, move |pool, mut ldap| {
                let changes = changes.clone();
                async move { changes.apply(&pool, &mut ldap).await }
            })
    }
}

/// What a commit writes, in the order it writes it.
struct Changes {
    base: String,
    people: Vec<(PersonKey, Option<Person>)>,
    references: Vec<(EntryKey, Option<ReferenceEntry>)>,
    meta: BTreeMap<String, String>,
}

impl Changes {
    async fn apply(&self, pool: &Pool, ldap: &mut Ldap) -> Result<(), Fail> {
        let t = pool.config.op_timeout;
        // Reference entries first: people point to them.
        for (key, e) in &self.references {
            if let Some(e) = e {
                match pool.reference_entry(ldap, key).await? {
                    None => {
                        let dn = pool.reference_dn(key);
                        pool.put(ldap, &dn, reference_attributes(e), false).await?;
                    }
                    Some(found) => {
                        let old = super::decode_reference_entry(key.kind)(&found)?;
                        let mods = modifications(
                            &found,
                            &reference_attributes(&old),
                            &reference_attributes(e),
                            &[],
                        );
                        if !mods.is_empty() {
                            ldap.with_timeout(t)
                                .modify(&found.dn, mods)
                                .await?
                                .success()?;
                        }
                    }
                }
            }
        }
        for (key, p) in &self.people {
            let found = pool.person_entry(ldap, key).await?;
            match (p, found) {
                (Some(p), None) => {
                    pool.put(ldap, &pool.person_dn(key), person_attributes(p), false)
                        .await?;
                }
                (Some(p), Some(old)) => {
                    let old_person = super::decode_person_entry(&old)?;
                    let mods = modifications(
                        &old,
                        &person_attributes(&old_person),
                        &person_attributes(p),
                        &CREDENTIALS,
                    );
                    if !mods.is_empty() {
                        ldap.with_timeout(t)
                            .modify(&old.dn, mods)
                            .await?
                            .success()?;
                    }
                }
                (None, Some(old)) => {
                    let login = super::decode_person_entry(&old)?.login;
                    let retired = format!(
                        "{}={},{RETIRED_OU},{}",
                        entry::LOGIN,
                        dn_escape(&login),
                        self.base
                    );
                    pool.ensure(
                        ldap,
                        &format!("{RETIRED_OU},{}", self.base),
                        organizational_unit("retired-logins"),
                    )
                    .await?;
                    pool.ensure(
                        ldap,
                        &retired,
                        vec![
                            (
                                "objectClass".into(),
                                HashSet::from(["ENTIdpRetiredLogin".into()]),
                            ),
                            (entry::LOGIN.into(), HashSet::from([login])),
                        ],
                    )
                    .await?;
                    ldap.with_timeout(t).delete(&old.dn).await?.success()?;
                }
                (None, None) => {}
            }
        }
        for (key, e) in &self.references {
            if e.is_none() {
                if let Some(old) = pool.reference_entry(ldap, key).await? {
                    ldap.with_timeout(t).delete(&old.dn).await?.success()?;
                }
            }
        }
        // Last: a commit that failed before here is applied again by the next run.
        let dn = format!("{META_CN},{}", self.base);
        pool.ensure(
            ldap,
            &dn,
            vec![
                (
                    "objectClass".into(),
                    HashSet::from(["applicationProcess".into(), "ENTIdpMeta".into()]),
                ),
                ("cn".into(), HashSet::from(["idp-meta".into()])),
            ],
        )
        .await?;
        let values: HashSet<String> = self.meta.iter().map(|(k, v)| format!("{k} {v}")).collect();
        ldap.with_timeout(t)
            .modify(
                &dn,
                vec![Mod::Replace(entry::META_VALUE.to_owned(), values)],
            )
            .await?
            .success()?;
        Ok(())
    }
}

fn organizational_unit(ou: &str) -> Vec<(String, HashSet<String>)> {
    vec![
        (
            "objectClass".into(),
            HashSet::from(["organizationalUnit".into()]),
        ),
        ("ou".into(), HashSet::from([ou.to_owned()])),
    ]
}

/// The modify that turns `old` into `new` (both as `person_attributes` lays them out),
/// leaving `skip` alone. Changed attributes are replaced by their first value, the others
/// added one by one (slapd keeps that order); attributes gone are removed. Object classes
/// only grow, from what `found` (the entry) really has: classes given by other tools stay.
pub(super) fn modifications(
    found: &SearchEntry,
    old: &[(String, Vec<String>)],
    new: &[(String, Vec<String>)],
    skip: &[&str],
) -> Vec<Mod<String>> {
    let skipped = |name: &str| {
        name.eq_ignore_ascii_case(entry::OBJECT_CLASS)
            || skip.iter().any(|s| s.eq_ignore_ascii_case(name))
    };
    let values = |list: &[(String, Vec<String>)], name: &str| -> Vec<String> {
        distinct(
            list.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .flat_map(|(_, v)| v.iter().cloned()),
        )
    };
    let mut mods = Vec::new();
    let has: HashSet<String> = found
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(entry::OBJECT_CLASS))
        .flat_map(|(_, v)| v.iter().map(|c| c.to_ascii_lowercase()))
        .collect();
    let missing: HashSet<String> = values(new, entry::OBJECT_CLASS)
        .into_iter()
        .filter(|c| !has.contains(&c.to_ascii_lowercase()))
        .collect();
    if !missing.is_empty() {
        // First: the attributes after it may need the class.
        mods.push(Mod::Add(entry::OBJECT_CLASS.to_owned(), missing));
    }
    let mut seen: HashSet<String> = HashSet::new();
    for (name, _) in new {
        if skipped(name) || !seen.insert(name.to_ascii_lowercase()) {
            continue;
        }
        let after = values(new, name);
        if values(old, name) == after {
            continue;
        }
        let mut rest = after.into_iter();
        let first: HashSet<String> = rest.next().into_iter().collect();
        mods.push(Mod::Replace(name.clone(), first));
        mods.extend(rest.map(|v| Mod::Add(name.clone(), HashSet::from([v]))));
    }
    for (name, _) in old {
        if !skipped(name) && seen.insert(name.to_ascii_lowercase()) {
            mods.push(Mod::Replace(name.clone(), HashSet::new()));
        }
    }
    mods
}

impl Pool {
    /// The entry at `dn`, if there is one.
    async fn read_entry(&self, ldap: &mut Ldap, dn: &str) -> Result<Option<SearchEntry>, Fail> {
        let result = ldap
            .with_timeout(self.config.op_timeout)
            .search(dn, Scope::Base, "(objectClass=*)", vec!["*"])
            .await?;
        if result.1.rc == 32 {
            return Ok(None);
        }
        let (mut entries, _) = result.success()?;
        Ok(entries.pop().map(SearchEntry::construct))
    }

    /// Adds an entry unless it is already there.
    async fn ensure(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        attrs: Vec<(String, HashSet<String>)>,
    ) -> Result<(), Fail> {
        let r = ldap
            .with_timeout(self.config.op_timeout)
            .add(dn, attrs)
            .await?;
        if r.rc != 68 {
            r.success()?;
        }
        Ok(())
    }
}

impl LdapDirectory {
    pub(super) fn import_txn(&self) -> LdapTxn<'_> {
        LdapTxn::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn modifications_touch_only_what_changed_and_keep_the_order() {
        let old = list(&[
            ("objectClass", &["top", "ENTPerson"]),
            ("sn", &["DUPONT"]),
            ("mail", &["a@x", "b@x"]),
            ("ENTEleveGroupes", &["9001$G1"]),
            ("ENTIdpPasswordHash", &["$argon2id$old"]),
        ]);
        let new = list(&[
            ("objectClass", &["ENTPerson", "top", "ENTIdpAccount"]),
            ("sn", &["DUPONT"]),
            // Twice: slapd would refuse the second add.
            ("mail", &["b@x", "a@x", "b@x"]),
        ]);
        let found = SearchEntry {
            dn: "x".into(),
            attrs: [(
                "objectClass".to_owned(),
                vec![
                    "top".to_owned(),
                    "ENTPerson".to_owned(),
                    "posixAccount".to_owned(),
                ],
            )]
            .into_iter()
            .collect(),
            bin_attrs: Default::default(),
        };
        let mods = modifications(&found, &old, &new, &[entry::PASSWORD_HASH]);
        let shown: Vec<String> = mods
            .iter()
            .map(|m| match m {
                Mod::Replace(k, v) => format!(
                    "replace {k} {}",
                    v.iter().cloned().collect::<Vec<_>>().join(",")
                ),
                Mod::Add(k, v) => format!(
                    "add {k} {}",
                    v.iter().cloned().collect::<Vec<_>>().join(",")
                ),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "add objectClass ENTIdpAccount",
                "replace mail b@x",
                "add mail a@x",
                "replace ENTEleveGroupes "
            ]
        );
    }
}
