//! `idp account ...`: look at one account, lock or unlock it, and export everything held
//! on a person (RGPD right of access: one structured, machine-readable file).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Subcommand;

use crate::audit::{AuditEvent, AuditSink, JsonLinesAudit};
use crate::model::{AccountState, Person};
use crate::ports::Directory;
use crate::right_of_access;
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

pub fn run(settings: Settings, command: AccountCommand) -> anyhow::Result<()> {
    let dir = crate::app::open_directory(&settings)
        .context("opening the directory")?
        .reader;
    let dir = dir.as_ref();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match command {
            AccountCommand::Show { login } => {
                let p = find(dir, &login).await?;
                let view = right_of_access::PersonView::of(&p);
                println!("{}", serde_json::to_string_pretty(&view)?);
            }
            AccountCommand::Lock { login, reason } => {
                let p = find(dir, &login).await?;
                if matches!(p.state, AccountState::Left { .. }) {
                    bail!("{login} has left the directory; there is nothing to lock");
                }
                dir.set_state(&p.key, AccountState::Locked { reason })
                    .await?;
                println!("{login}: locked");
            }
            AccountCommand::Unlock { login } => {
                let p = find(dir, &login).await?;
                if !matches!(p.state, AccountState::Locked { .. }) {
                    bail!("{login} is not locked");
                }
                dir.set_state(&p.key, AccountState::Active).await?;
                println!("{login}: unlocked");
            }
            AccountCommand::Export { login, out } => {
                let p = find(dir, &login).await?;
                let now = time::OffsetDateTime::now_utc();
                let json = right_of_access::export(dir, &p, &settings.audit.path, now).await?;
                match out {
                    Some(path) => std::fs::write(&path, json)
                        .with_context(|| format!("writing {}", path.display()))?,
                    None => std::io::stdout().write_all(&json)?,
                }
                // The trail the server writes too (appends, one line each: they interleave
                // safely).
                JsonLinesAudit::open(&settings.audit.path)
                    .with_context(|| format!("opening {}", settings.audit.path.display()))?
                    .record(
                        now,
                        AuditEvent::PersonalDataExported {
                            login: p.login.clone(),
                            person: p.key.to_string(),
                            requested_by: "admin",
                            client_ip: String::new(),
                        },
                    );
            }
        }
        Ok(())
    })
}

async fn find(dir: &dyn Directory, login: &str) -> anyhow::Result<Person> {
    match dir.person_by_login(&login.to_lowercase()).await? {
        Some(p) => Ok(p),
        None => bail!("no account with login {login}"),
    }
}
