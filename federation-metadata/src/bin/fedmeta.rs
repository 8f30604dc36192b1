//! `fedmeta`: the federation administrator's command line.
//!
//! A thin layer over the library: it parses arguments, calls one library function per
//! command and prints its result. Every command works on one trust domain, the folder given
//! with `--domain` (several domains live side by side, each with its files and its key).
//! Dates are `YYYY-MM-DD`; "today" is the machine's UTC date unless `--at`/`--on` says.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use time::{Date, OffsetDateTime};

use federation_metadata::model::{dates, ServiceUrlPattern};
use federation_metadata::{diagnostic, diff, lifecycle, saml_import, source, validate};

#[derive(Parser)]
#[command(
    name = "fedmeta",
    version,
    about = "Federation registry: the agreement annex as signed data"
)]
struct Cli {
    /// The trust domain's folder (federation.toml, idp.toml, attributes.toml, services/).
    #[arg(long, global = true, env = "FEDMETA_DOMAIN", default_value = ".")]
    domain: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the domain's files; every error with file and line.
    Validate {
        /// Check certificates as of this date (default: today).
        #[arg(long, value_parser = parse_date)]
        at: Option<Date>,
    },
    /// Compile and sign: SAML aggregate, signed registry, CAS registry, annex (HTML, Markdown).
    Compile {
        /// The federation's private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Compile as of this date (midnight UTC; default: now).
        #[arg(long, value_parser = parse_date)]
        at: Option<Date>,
    },
    /// Verify a compiled artefact's signature and validity window.
    Verify {
        file: PathBuf,
        /// The federation certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
    },
    /// A service asks to join (pending until approved).
    Join {
        /// The new service's id (file services/ID.toml).
        #[arg(long)]
        id: String,
        /// The SP's SAML metadata: a file, or an http(s) URL.
        #[arg(long, conflicts_with = "cas_service")]
        saml_metadata: Option<String>,
        /// A CAS service URL pattern: `https://host/path/` (prefix, ends with /), `^...$`
        /// (regex) or `=https://...` (exact URL). Repeat for several.
        #[arg(long = "cas-service")]
        cas_service: Vec<String>,
        /// An allowed CAS proxy callback (exact https URL). Repeat for several.
        #[arg(long = "proxy-callback", requires = "cas_service")]
        proxy_callback: Vec<String>,
    },
    /// Approve a pending service (sets signed/start dates when absent).
    Approve {
        id: String,
        #[arg(long, value_parser = parse_date)]
        on: Option<Date>,
    },
    /// Record that a service leaves on DATE (notice and school-year rule applied).
    Leave {
        id: String,
        #[arg(long, value_parser = parse_date)]
        on: Date,
        /// When the leave was requested, if not today (the notice runs from it).
        #[arg(long, value_parser = parse_date)]
        requested_on: Option<Date>,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Renew an agreement without tacit renewal.
    Renew {
        id: String,
        /// Months to add (default: the initial duration).
        #[arg(long)]
        months: Option<u32>,
    },
    /// Members and their status on a date.
    Status {
        #[arg(long, value_parser = parse_date)]
        at: Option<Date>,
    },
    /// What changed between two compiled registries (registry.json) or two domain folders.
    Diff { old: PathBuf, new: PathBuf },
}

fn parse_date(s: &str) -> Result<Date, String> {
    dates::parse(s).map_err(|e| format!("{s:?} is not a date YYYY-MM-DD: {e}"))
}

fn main() -> ExitCode {
    tracing_init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fedmeta: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn tracing_init() {
    // Logs go to stderr and stay quiet unless RUST_LOG asks; results go to stdout.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let dir = cli.domain.as_path();
    match cli.command {
        Command::Validate { at } => validate_cmd(dir, at.unwrap_or_else(today)),
        Command::Compile { key, out, at } => {
            let now = at.map_or_else(OffsetDateTime::now_utc, |d| d.midnight().assume_utc());
            match federation_metadata::compile::compile_domain(dir, &key, &out, now) {
                Ok(summary) => {
                    print!("{summary}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Verify { file, cert } => {
            match federation_metadata::verify::verify_file(&file, &cert, OffsetDateTime::now_utc())
            {
                Ok(summary) => {
                    println!("{summary}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("REFUSED: {}: {e}", file.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Join {
            id,
            saml_metadata,
            cas_service,
            proxy_callback,
        } => join(dir, &id, saml_metadata, cas_service, proxy_callback),
        Command::Approve { id, on } => {
            let on = on.unwrap_or_else(today);
            lifecycle::approve(dir, &id, on)?;
            println!("{id}: approved on {on}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Leave {
            id,
            on,
            requested_on,
            reason,
        } => {
            let requested_on = requested_on.unwrap_or_else(today);
            let last = lifecycle::leave(dir, &id, requested_on, on, &reason)?;
            println!(
                "{id}: leaves on {on}; access until {last} (notice and agreement rules applied)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Renew { id, months } => {
            let last = lifecycle::renew(dir, &id, today(), months)?;
            println!("{id}: renewed; agreement now runs until {last}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { at } => {
            let at = at.unwrap_or_else(today);
            println!("{}", lifecycle::status_report(dir, at)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff { old, new } => {
            let changes = diff::diff_paths(&old, &new)?;
            if changes.is_empty() {
                println!("no changes");
            } else {
                for c in &changes {
                    println!("{c}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn validate_cmd(dir: &Path, at: Date) -> anyhow::Result<ExitCode> {
    let domain = match source::load_domain(dir) {
        Ok(d) => d,
        Err(source::SourceError::Invalid(errors)) => {
            eprintln!("{}", diagnostic::join(&errors));
            eprintln!("{} error(s)", errors.len());
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    match validate::validate(&domain, at) {
        Ok(()) => {
            println!(
                "{}: valid ({} services, {} attributes in the catalogue)",
                domain.federation.id,
                domain.services.len(),
                domain.attributes.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{}", diagnostic::join(&errors));
            eprintln!("{} error(s)", errors.len());
            Ok(ExitCode::from(1))
        }
    }
}

fn join(
    dir: &Path,
    id: &str,
    saml_metadata: Option<String>,
    cas_service: Vec<String>,
    proxy_callback: Vec<String>,
) -> anyhow::Result<ExitCode> {
    let today = today();
    let (service, notes, requested) = match (saml_metadata, cas_service.is_empty()) {
        (Some(location), true) => {
            let domain = source::load_domain(dir)?;
            let xml = saml_import::read_metadata(&location)?;
            let imported = saml_import::import_sp_metadata(&xml, id, &domain.federation, today)
                .with_context(|| format!("reading {location}"))?;
            (
                imported.service,
                imported.notes,
                imported.requested_attributes,
            )
        }
        (None, false) => {
            let patterns = cas_service.iter().map(|p| parse_pattern(p)).collect();
            let service = lifecycle::new_cas_service(dir, id, patterns, proxy_callback, today)?;
            (service, Vec::new(), Vec::new())
        }
        _ => bail!("give either --saml-metadata FILE|URL or at least one --cas-service PATTERN"),
    };
    let path = lifecycle::write_new_service_with_notes(dir, &service, &notes, &requested)?;
    println!("{id}: asked to join, pending; wrote {}", path.display());
    for n in &notes {
        println!("  note: {n}");
    }
    if !requested.is_empty() {
        println!("  the SP requests these attributes (add [[releases]] with a purpose for those granted):");
        for (name, friendly, required) in &requested {
            println!(
                "    {name}{}{}",
                friendly
                    .as_ref()
                    .map(|f| format!(" ({f})"))
                    .unwrap_or_default(),
                if *required { " required" } else { "" }
            );
        }
    }
    // Say now what stands between this file and `approve`.
    let domain = source::load_domain(dir)?;
    if let Err(errors) = validate::validate(&domain, today) {
        let mine: Vec<_> = errors.into_iter().filter(|e| e.file == path).collect();
        if !mine.is_empty() {
            println!("  to complete before approval:");
            for e in mine {
                println!("    {e}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_pattern(p: &str) -> ServiceUrlPattern {
    if let Some(exact) = p.strip_prefix('=') {
        ServiceUrlPattern::Exact(exact.to_owned())
    } else if p.starts_with('^') {
        ServiceUrlPattern::Regex(p.to_owned())
    } else {
        ServiceUrlPattern::Prefix(p.to_owned())
    }
}
