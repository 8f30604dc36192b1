//! The embedded directory: a redb database file. Survives restarts, needs no server, and
//! gives the AAF import one atomic write transaction.
//!
//! Tables: persons (`academie$jointure` → postcard Person), logins (login → person key,
//! never removed so that a login is never reused), references (`kind|academie|id` → postcard
//! entry) and meta (feed bookkeeping).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use time::{Date, OffsetDateTime};

use crate::model::{AccountState, EntryKey, Person, PersonKey, ReferenceEntry, ReferenceKind};
use crate::ports::{BackendError, Directory, DirectoryScan, DirectoryWriter, ImportTxn};

const PERSONS: TableDefinition<&str, &[u8]> = TableDefinition::new("persons");
const LOGINS: TableDefinition<&str, &str> = TableDefinition::new("logins");
const REFERENCES: TableDefinition<&str, &[u8]> = TableDefinition::new("references");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// redb's own default (1 GiB): the server's reads are served from it.
pub const DEFAULT_CACHE_BYTES: usize = 1024 * 1024 * 1024;

#[derive(Clone)]
pub struct EmbeddedDirectory {
    db: Arc<Database>,
}

fn err<E: std::fmt::Display>(e: E) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

fn corrupt<E: std::fmt::Display>(e: E) -> BackendError {
    BackendError::Corrupt(e.to_string())
}

fn reference_key(key: &EntryKey) -> String {
    let kind = match key.kind {
        ReferenceKind::Structure => "S",
        ReferenceKind::Subject => "M",
        ReferenceKind::Mef => "F",
    };
    format!("{kind}|{}|{}", key.academie, key.id)
}

fn decode_person(bytes: &[u8]) -> Result<Person, BackendError> {
    postcard::from_bytes(bytes).map_err(corrupt)
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, BackendError> {
    postcard::to_stdvec(value).map_err(corrupt)
}

impl EmbeddedDirectory {
    /// Opens (or creates) the database file, creating its parent folder and every table.
    pub fn open(path: &Path) -> Result<Self, BackendError> {
        Self::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// Same, with an explicit page cache size. redb's cache also holds the dirty pages of a
    /// write transaction, so it bounds the memory of a big AAF import.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Self, BackendError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => BackendError::Unavailable(format!(
                    "{} is in use by another process (a running `idp serve`?): the embedded \
                     directory has one user at a time; stop the server, or drop AAF deliveries \
                     into aaf.incoming_dir for the server to import",
                    path.display()
                )),
                e => err(e),
            })?;
        let txn = db.begin_write().map_err(err)?;
        txn.open_table(PERSONS).map_err(err)?;
        txn.open_table(LOGINS).map_err(err)?;
        txn.open_table(REFERENCES).map_err(err)?;
        txn.open_table(META).map_err(err)?;
        txn.commit().map_err(err)?;
        Ok(Self { db: Arc::new(db) })
    }

    fn read_person(&self, key: &str) -> Result<Option<Person>, BackendError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(PERSONS).map_err(err)?;
        let value = table.get(key).map_err(err)?;
        value.map(|v| decode_person(v.value())).transpose()
    }

    /// Reads one person, changes it and writes it back in one transaction.
    fn update_person(
        &self,
        key: &PersonKey,
        change: impl FnOnce(&mut Person),
    ) -> Result<(), BackendError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut table = txn.open_table(PERSONS).map_err(err)?;
            let k = key.to_string();
            let mut person = match table.get(k.as_str()).map_err(err)? {
                Some(v) => decode_person(v.value())?,
                None => return Err(BackendError::Conflict(format!("no person {k}"))),
            };
            change(&mut person);
            table
                .insert(k.as_str(), encode(&person)?.as_slice())
                .map_err(err)?;
        }
        txn.commit().map_err(err)
    }
}

// Reads are a B-tree lookup in the page cache (microseconds), so they run inline; writes
// wait for fsync and go to the blocking pool.
#[async_trait]
impl Directory for EmbeddedDirectory {
    async fn person(&self, key: &PersonKey) -> Result<Option<Person>, BackendError> {
        self.read_person(&key.to_string())
    }

    async fn person_by_login(&self, login: &str) -> Result<Option<Person>, BackendError> {
        let key = {
            let txn = self.db.begin_read().map_err(err)?;
            let logins = txn.open_table(LOGINS).map_err(err)?;
            let found = logins.get(login).map_err(err)?;
            match found {
                Some(k) => k.value().to_owned(),
                None => return Ok(None),
            }
        };
        self.read_person(&key)
    }

    async fn reference(&self, key: &EntryKey) -> Result<Option<ReferenceEntry>, BackendError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(REFERENCES).map_err(err)?;
        let value = table.get(reference_key(key).as_str()).map_err(err)?;
        value
            .map(|v| postcard::from_bytes(v.value()).map_err(corrupt))
            .transpose()
    }

    async fn set_password(
        &self,
        key: &PersonKey,
        password_hash: String,
        at: OffsetDateTime,
    ) -> Result<(), BackendError> {
        let this = self.clone();
        let key = key.clone();
        tokio::task::spawn_blocking(move || {
            this.update_person(&key, |p| {
                p.credentials.password_hash = Some(password_hash);
                p.credentials.activation_code = None;
                p.credentials.password_changed_at = Some(at);
            })
        })
        .await
        .map_err(err)?
    }

    async fn set_state(&self, key: &PersonKey, state: AccountState) -> Result<(), BackendError> {
        let this = self.clone();
        let key = key.clone();
        tokio::task::spawn_blocking(move || this.update_person(&key, |p| p.state = state))
            .await
            .map_err(err)?
    }

    async fn ping(&self) -> Result<(), BackendError> {
        let txn = self.db.begin_read().map_err(err)?;
        txn.open_table(META).map_err(err)?;
        Ok(())
    }
}

impl DirectoryWriter for EmbeddedDirectory {
    fn begin(&self) -> Result<Box<dyn ImportTxn + '_>, BackendError> {
        let txn = self.db.begin_write().map_err(err)?;
        Ok(Box::new(EmbeddedTxn { txn }))
    }
}

impl DirectoryScan for EmbeddedDirectory {
    fn for_each_person(
        &self,
        f: &mut dyn FnMut(&Person) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(PERSONS).map_err(err)?;
        for row in table.iter().map_err(err)? {
            let (_, v) = row.map_err(err)?;
            f(&decode_person(v.value())?)?;
        }
        Ok(())
    }

    fn for_each_reference(
        &self,
        f: &mut dyn FnMut(&ReferenceEntry) -> Result<(), BackendError>,
    ) -> Result<(), BackendError> {
        let txn = self.db.begin_read().map_err(err)?;
        let table = txn.open_table(REFERENCES).map_err(err)?;
        for row in table.iter().map_err(err)? {
            let (_, v) = row.map_err(err)?;
            f(&postcard::from_bytes(v.value()).map_err(corrupt)?)?;
        }
        Ok(())
    }
}

/// A redb write transaction. Dropping it without `commit` aborts every change.
struct EmbeddedTxn {
    txn: WriteTransaction,
}

impl ImportTxn for EmbeddedTxn {
    fn person(&self, key: &PersonKey) -> Result<Option<Person>, BackendError> {
        let table = self.txn.open_table(PERSONS).map_err(err)?;
        let value = table.get(key.to_string().as_str()).map_err(err)?;
        value.map(|v| decode_person(v.value())).transpose()
    }

    fn put_person(&mut self, person: &Person) -> Result<(), BackendError> {
        let key = person.key.to_string();
        {
            let mut logins = self.txn.open_table(LOGINS).map_err(err)?;
            let owner = logins
                .get(person.login.as_str())
                .map_err(err)?
                .map(|v| v.value().to_owned());
            match owner {
                Some(o) if o != key => {
                    return Err(BackendError::Conflict(format!(
                        "login {} already belongs to {o}",
                        person.login
                    )))
                }
                Some(_) => {}
                None => {
                    logins
                        .insert(person.login.as_str(), key.as_str())
                        .map_err(err)?;
                }
            }
        }
        let mut table = self.txn.open_table(PERSONS).map_err(err)?;
        table
            .insert(key.as_str(), encode(person)?.as_slice())
            .map_err(err)?;
        Ok(())
    }

    fn remove_person(&mut self, key: &PersonKey) -> Result<(), BackendError> {
        let mut table = self.txn.open_table(PERSONS).map_err(err)?;
        table.remove(key.to_string().as_str()).map_err(err)?;
        Ok(())
    }

    fn login_taken(&self, login: &str) -> Result<bool, BackendError> {
        let logins = self.txn.open_table(LOGINS).map_err(err)?;
        let taken = logins.get(login).map_err(err)?.is_some();
        Ok(taken)
    }

    fn person_keys(&self, academie: &str) -> Result<Vec<PersonKey>, BackendError> {
        let table = self.txn.open_table(PERSONS).map_err(err)?;
        // Keys are `academie$jointure`; '%' is the character right after '$'.
        let (lo, hi) = (format!("{academie}$"), format!("{academie}%"));
        let mut out = Vec::new();
        for row in table.range(lo.as_str()..hi.as_str()).map_err(err)? {
            let (k, _) = row.map_err(err)?;
            if let Some(key) = PersonKey::parse(k.value()) {
                out.push(key);
            }
        }
        Ok(out)
    }

    fn left_before(&self, date: Date) -> Result<Vec<PersonKey>, BackendError> {
        let table = self.txn.open_table(PERSONS).map_err(err)?;
        let mut out = Vec::new();
        for row in table.iter().map_err(err)? {
            let (_, v) = row.map_err(err)?;
            let p = decode_person(v.value())?;
            if matches!(p.state, AccountState::Left { since } if since <= date) {
                out.push(p.key);
            }
        }
        Ok(out)
    }

    fn reference(&self, key: &EntryKey) -> Result<Option<ReferenceEntry>, BackendError> {
        let table = self.txn.open_table(REFERENCES).map_err(err)?;
        let value = table.get(reference_key(key).as_str()).map_err(err)?;
        value
            .map(|v| postcard::from_bytes(v.value()).map_err(corrupt))
            .transpose()
    }

    fn put_reference(&mut self, entry: &ReferenceEntry) -> Result<(), BackendError> {
        let mut table = self.txn.open_table(REFERENCES).map_err(err)?;
        table
            .insert(
                reference_key(&entry.key).as_str(),
                encode(entry)?.as_slice(),
            )
            .map_err(err)?;
        Ok(())
    }

    fn remove_reference(&mut self, key: &EntryKey) -> Result<(), BackendError> {
        let mut table = self.txn.open_table(REFERENCES).map_err(err)?;
        table.remove(reference_key(key).as_str()).map_err(err)?;
        Ok(())
    }

    fn meta(&self, name: &str) -> Result<Option<String>, BackendError> {
        let table = self.txn.open_table(META).map_err(err)?;
        let value = table.get(name).map_err(err)?.map(|v| v.value().to_owned());
        Ok(value)
    }

    fn set_meta(&mut self, name: &str, value: &str) -> Result<(), BackendError> {
        let mut table = self.txn.open_table(META).map_err(err)?;
        table.insert(name, value).map_err(err)?;
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), BackendError> {
        self.txn.commit().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, Category, Credentials};

    fn person(jointure: &str, login: &str) -> Person {
        Person {
            key: PersonKey::new("02", jointure),
            category: Category::Eleve,
            login: login.into(),
            gar_id: format!("gar-{jointure}"),
            state: AccountState::Active,
            attributes: Attributes::new(),
            credentials: Credentials::default(),
            created_on: time::macros::date!(2026 - 09 - 07),
            updated_on: time::macros::date!(2026 - 09 - 07),
        }
    }

    #[tokio::test]
    async fn aborted_transaction_leaves_nothing_and_commit_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.redb");
        {
            let db = EmbeddedDirectory::open(&path).unwrap();
            let mut txn = db.begin().unwrap();
            txn.put_person(&person("1", "lea.dupont")).unwrap();
            drop(txn);
            assert!(db.person_by_login("lea.dupont").await.unwrap().is_none());
            let mut txn = db.begin().unwrap();
            txn.put_person(&person("1", "lea.dupont")).unwrap();
            txn.commit().unwrap();
        }
        let db = EmbeddedDirectory::open(&path).unwrap();
        let p = db.person_by_login("lea.dupont").await.unwrap().unwrap();
        assert_eq!(p.key, PersonKey::new("02", "1"));
    }

    #[tokio::test]
    async fn login_stays_reserved_after_purge_and_cannot_be_stolen() {
        let dir = tempfile::tempdir().unwrap();
        let db = EmbeddedDirectory::open(&dir.path().join("d.redb")).unwrap();
        let mut txn = db.begin().unwrap();
        txn.put_person(&person("1", "hugo.martin")).unwrap();
        assert!(matches!(
            txn.put_person(&person("2", "hugo.martin")),
            Err(BackendError::Conflict(_))
        ));
        txn.remove_person(&PersonKey::new("02", "1")).unwrap();
        assert!(txn.login_taken("hugo.martin").unwrap());
        txn.commit().unwrap();
        assert!(db.person_by_login("hugo.martin").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn person_keys_are_scoped_to_one_academie() {
        let dir = tempfile::tempdir().unwrap();
        let db = EmbeddedDirectory::open(&dir.path().join("d.redb")).unwrap();
        let mut txn = db.begin().unwrap();
        txn.put_person(&person("1", "a")).unwrap();
        let mut other = person("1", "b");
        other.key = PersonKey::new("020", "1");
        txn.put_person(&other).unwrap();
        assert_eq!(
            txn.person_keys("02").unwrap(),
            vec![PersonKey::new("02", "1")]
        );
        txn.commit().unwrap();
    }

    #[tokio::test]
    async fn set_password_clears_activation_code() {
        let dir = tempfile::tempdir().unwrap();
        let db = EmbeddedDirectory::open(&dir.path().join("d.redb")).unwrap();
        let mut p = person("1", "a");
        p.credentials.activation_code = Some("CODE".into());
        let mut txn = db.begin().unwrap();
        txn.put_person(&p).unwrap();
        txn.commit().unwrap();
        db.set_password(&p.key, "$argon2id$x".into(), OffsetDateTime::UNIX_EPOCH)
            .await
            .unwrap();
        let p = db.person(&p.key).await.unwrap().unwrap();
        assert_eq!(p.credentials.activation_code, None);
        assert_eq!(p.credentials.password_hash.as_deref(), Some("$argon2id$x"));
    }
}
