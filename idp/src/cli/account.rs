//! `idp account ...`: look at one account, lock or unlock it, and export everything held
//! on a person (RGPD right of access: one structured, machine-readable file).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde::Serialize;
use serde_json::Value;

use crate::backends::directory::embedded::EmbeddedDirectory;
use crate::model::{AccountState, EntryKey, Person, ReferenceEntry, ReferenceKind};
use crate::ports::Directory;
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Show an account (no secrets).
    Show { login: String },
    /// Lock an account: it can no longer log in.
    Lock {
        login: String,
        #[arg(long, default_value = "locked by an administrator")]
        reason: String,
    },
    /// Unlock a locked account.
    Unlock { login: String },
    /// Export all data held on a person as JSON (directory entry, establishments, audit trail).
    Export {
        login: String,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// The right-of-access export: what the directory holds, the establishments it points to,
/// and every audit event about the person. Credentials appear as facts, never as hashes.
#[derive(Serialize)]
struct AccessExport<'a> {
    generated_at: String,
    person: PersonView<'a>,
    establishments: Vec<&'a ReferenceEntry>,
    audit_events: Vec<Value>,
}

#[derive(Serialize)]
struct PersonView<'a> {
    key: String,
    category: &'static str,
    login: &'a str,
    gar_identifier: &'a str,
    state: &'a AccountState,
    profiles: Vec<&'static str>,
    attributes: &'a crate::model::Attributes,
    created_on: String,
    updated_on: String,
    password_set: bool,
    password_changed_at: Option<String>,
    activation_pending: bool,
}

impl<'a> PersonView<'a> {
    fn of(p: &'a Person) -> Self {
        Self {
            key: p.key.to_string(),
            category: p.category.as_str(),
            login: &p.login,
            gar_identifier: &p.gar_id,
            state: &p.state,
            profiles: p.profiles().into_iter().map(|x| x.national()).collect(),
            attributes: &p.attributes,
            created_on: p.created_on.to_string(),
            updated_on: p.updated_on.to_string(),
            password_set: p.credentials.password_hash.is_some(),
            password_changed_at: p.credentials.password_changed_at.map(|t| t.to_string()),
            activation_pending: p.credentials.activation_code.is_some(),
        }
    }
}

pub fn run(settings: Settings, command: AccountCommand) -> anyhow::Result<()> {
    let dir = EmbeddedDirectory::open(&settings.directory.path)
        .with_context(|| format!("opening {}", settings.directory.path.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match command {
            AccountCommand::Show { login } => {
                let p = find(&dir, &login).await?;
                let view = PersonView::of(&p);
                println!("{}", serde_json::to_string_pretty(&view)?);
            }
            AccountCommand::Lock { login, reason } => {
                let p = find(&dir, &login).await?;
                if matches!(p.state, AccountState::Left { .. }) {
                    bail!("{login} has left the directory; there is nothing to lock");
                }
                dir.set_state(&p.key, AccountState::Locked { reason })
                    .await?;
                println!("{login}: locked");
            }
            AccountCommand::Unlock { login } => {
                let p = find(&dir, &login).await?;
                if !matches!(p.state, AccountState::Locked { .. }) {
                    bail!("{login} is not locked");
                }
                dir.set_state(&p.key, AccountState::Active).await?;
                println!("{login}: unlocked");
            }
            AccountCommand::Export { login, out } => {
                let p = find(&dir, &login).await?;
                let mut establishments = Vec::new();
                for s in p.structures() {
                    let key = EntryKey::new(ReferenceKind::Structure, &p.key.academie, s);
                    if let Some(e) = dir.reference(&key).await? {
                        establishments.push(e);
                    }
                }
                let export = AccessExport {
                    generated_at: time::OffsetDateTime::now_utc()
                        .format(&time::format_description::well_known::Rfc3339)?,
                    person: PersonView::of(&p),
                    establishments: establishments.iter().collect(),
                    audit_events: audit_events_about(&settings.audit.path, &p)?,
                };
                let json = serde_json::to_vec_pretty(&export)?;
                match out {
                    Some(path) => std::fs::write(&path, json)
                        .with_context(|| format!("writing {}", path.display()))?,
                    None => std::io::stdout().write_all(&json)?,
                }
            }
        }
        Ok(())
    })
}

async fn find(dir: &EmbeddedDirectory, login: &str) -> anyhow::Result<Person> {
    match dir.person_by_login(&login.to_lowercase()).await? {
        Some(p) => Ok(p),
        None => bail!("no account with login {login}"),
    }
}

/// Audit lines whose `login` or `person` names this person. A missing log means no events.
fn audit_events_about(path: &Path, person: &Person) -> anyhow::Result<Vec<Value>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let key = person.key.to_string();
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let Ok(v) = serde_json::from_str::<Value>(&line?) else {
            continue;
        };
        let is_about = v.get("person").and_then(Value::as_str) == Some(key.as_str())
            || v.get("login").and_then(Value::as_str) == Some(person.login.as_str());
        if is_about {
            out.push(v);
        }
    }
    Ok(out)
}
