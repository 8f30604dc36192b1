//! `idp aaf ...`: the AAF feed commands: import a delivery, export activation codes,
//! generate a synthetic delivery.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use time::Date;

use crate::backends::directory::embedded::EmbeddedDirectory;
use crate::feeds::aaf::generate::{self, GenerateOptions};
use crate::feeds::aaf::{
    export_activation_codes, import_paths, write_report, write_report_to, ImportOptions,
};
use crate::settings::Settings;

#[derive(Subcommand)]
pub enum AafCommand {
    /// Import AAF files, folders or archives (zip, tar, tar.gz) into the directory.
    Import {
        /// Académie code for files without a codeAcademieExport header.
        #[arg(long)]
        academie: Option<String>,
        /// Where to write the JSON report (default: <aaf.report_dir>/aaf-import-<time>.json).
        #[arg(long)]
        report: Option<PathBuf>,
        /// The import date, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_date)]
        today: Option<Date>,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Export the activation codes of people who have not activated their account (CSV).
    Codes {
        /// Only this structure (UAI).
        #[arg(long)]
        uai: Option<String>,
        /// Only this class.
        #[arg(long)]
        class: Option<String>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write a synthetic Complet delivery (for benchmarks and tests).
    Generate {
        #[arg(long)]
        persons: u64,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "02")]
        academie: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Date of the Complet, YYYY-MM-DD (default: today, UTC).
        #[arg(long, value_parser = parse_date)]
        date: Option<Date>,
        /// Records per file part.
        #[arg(long, default_value_t = 50_000)]
        part_size: u64,
        /// Also write a Delta for the next day.
        #[arg(long)]
        delta: bool,
    },
}

fn parse_date(s: &str) -> Result<Date, String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, fmt).map_err(|e| format!("expected YYYY-MM-DD: {e}"))
}

fn today_utc() -> Date {
    time::OffsetDateTime::now_utc().date()
}

pub fn run(settings: Settings, command: AafCommand) -> anyhow::Result<()> {
    match command {
        AafCommand::Import {
            academie,
            report,
            today,
            paths,
        } => import(&settings, academie, report, today, &paths),
        AafCommand::Codes { uai, class, out } => codes(&settings, uai, class, out),
        AafCommand::Generate {
            persons,
            out,
            academie,
            seed,
            date,
            part_size,
            delta,
        } => {
            let opts = GenerateOptions {
                persons,
                out: out.clone(),
                academie,
                seed,
                date: date.unwrap_or_else(today_utc),
                part_size,
                delta,
            };
            let summary = generate::generate(&opts)
                .with_context(|| format!("cannot write the delivery in {}", out.display()))?;
            println!("{}", generate::describe(&summary, &out));
            Ok(())
        }
    }
}

/// redb page cache for an import: it also holds the transaction's dirty pages, and a
/// smaller cache keeps a million-person import well under 1 GiB at little cost in speed.
const IMPORT_CACHE_BYTES: usize = 256 * 1024 * 1024;

fn import(
    settings: &Settings,
    academie: Option<String>,
    report_path: Option<PathBuf>,
    today: Option<Date>,
    paths: &[PathBuf],
) -> anyhow::Result<()> {
    // The embedded directory with an import-sized cache; LDAP as the settings name it (bind
    // with an account that may write the people, not the server's: deploy/ldap/README.md).
    let dir: Box<dyn crate::ports::DirectoryWriter> = if settings.directory.backend == "ldap" {
        Box::new(crate::app::open_ldap(&settings.directory).context("cannot open the directory")?)
    } else {
        Box::new(
            EmbeddedDirectory::open_with_cache(&settings.directory.path, IMPORT_CACHE_BYTES)
                .with_context(|| {
                    format!(
                        "cannot open the directory {}",
                        settings.directory.path.display()
                    )
                })?,
        )
    };
    let opts = ImportOptions {
        academie,
        today: today.unwrap_or_else(today_utc),
        retention_days: settings.aaf.retention_days,
        progress: true,
    };
    let report = import_paths(dir.as_ref(), paths, &opts)?;
    print!("{report}");
    let path = match report_path {
        Some(p) => {
            write_report_to(&report, &p)
                .with_context(|| format!("cannot write the report {}", p.display()))?;
            p
        }
        None => write_report(
            &report,
            &settings.aaf.report_dir,
            time::OffsetDateTime::now_utc(),
        )
        .with_context(|| {
            format!(
                "cannot write the report in {}",
                settings.aaf.report_dir.display()
            )
        })?,
    };
    println!("  report: {}", path.display());
    Ok(())
}

fn codes(
    settings: &Settings,
    uai: Option<String>,
    class: Option<String>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let dir = crate::app::open_directory(settings)
        .context("cannot open the directory")?
        .scan;
    let dir = dir.as_ref();
    let rows = match &out {
        Some(path) => {
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            );
            let n = export_activation_codes(dir, uai.as_deref(), class.as_deref(), &mut file)?;
            file.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
            n
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            export_activation_codes(dir, uai.as_deref(), class.as_deref(), &mut lock)?
        }
    };
    eprintln!("{rows} activation codes exported");
    Ok(())
}
