//! The AAF feed: the académies' XML deliveries (Complet and Delta extractions) into the
//! directory. `import_paths` lists the files (`source`), orders them (`plan`), streams each
//! one (`parse`) and applies its records (`apply`) in ONE directory transaction that is
//! committed only after the end-of-run reference check (`references`) and the retention
//! purge: bad input never half-applies.

mod apply;
mod codes;
mod error;
mod export;
pub mod filename;
pub mod generate;
mod lines;
mod login;
mod parse;
mod plan;
mod references;
mod report;
mod source;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::ports::DirectoryWriter;

pub use error::ImportError;
pub use export::{export_activation_codes, ExportError};
pub use login::base_login;
pub use report::{write_report, write_report_to, Counts, FileReport, ImportReport};

use apply::{Applier, At, Holds};
use filename::{format_date, ExtractionKind};

/// How to run an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Académie code used in directory keys when a file has no `<!-- codeAcademieExport="NN" -->`
    /// header comment; a header that disagrees with it is an error.
    pub academie: Option<String>,
    /// The date the import runs ("left since" dates, updated_on, retention purge).
    pub today: time::Date,
    /// Days a person who left is kept before being purged for good.
    pub retention_days: u32,
    /// Show an indicatif progress bar (only when stderr is a terminal).
    pub progress: bool,
}

/// Imports the AAF files found under `paths` (files, folders, zip / tar / tar.gz archives).
/// Either everything is applied and committed, or nothing is.
pub fn import_paths(
    dir: &dyn DirectoryWriter,
    paths: &[PathBuf],
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let sources = source::collect(paths)?;
    let names: Vec<&filename::AafFileName> = sources.files.iter().map(|f| &f.name).collect();
    let (extractions, plan_warnings) = plan::plan(&names);
    let total_bytes: u64 = extractions
        .iter()
        .flat_map(|e| e.files.iter())
        .filter_map(|&i| sources.files.get(i))
        .map(|f| f.size)
        .sum();
    let progress = progress_bar(opts.progress, total_bytes);

    let txn = dir
        .begin()
        .map_err(ImportError::backend("starting the import transaction"))?;
    let mut ap = Applier::new(txn, opts.today);
    ap.report.today = opts.today.to_string();
    for w in sources.warnings.iter().chain(plan_warnings.iter()) {
        ap.report.warn(w.clone());
    }
    for w in &plan_warnings {
        ap.report.extractions_skipped.push(w.clone());
    }

    for extraction in &extractions {
        let label = extraction.label();
        let complet = extraction.kind == ExtractionKind::Complet;
        // Académies of this extraction and whether each one is applied or skipped.
        let mut decided: Vec<(String, bool)> = Vec::new();
        for &i in &extraction.files {
            let Some(file) = sources.files.get(i) else {
                continue;
            };
            let file_no = ap.files.len() as u32;
            ap.files.push(file.display.clone());
            let category = file.name.category;
            let (records, bytes, academie) = file.with_reader(|input| {
                let mut reader = parse::RecordReader::open(input, &file.display, progress.clone())?;
                let academie = resolve_academie(reader.academie(), opts, &file.display)?;
                let apply = match decided.iter().find(|(a, _)| *a == academie) {
                    Some((_, apply)) => *apply,
                    None => {
                        let apply = should_apply(&mut ap, &academie, extraction)?;
                        if !apply {
                            let msg = format!(
                                "{label} for académie {academie}: skipped, an extraction at least as recent was already applied"
                            );
                            ap.report.warn(msg.clone());
                            ap.report.extractions_skipped.push(msg);
                        }
                        decided.push((academie.clone(), apply));
                        apply
                    }
                };
                if !apply {
                    return Ok((0, 0, academie));
                }
                if let (true, Holds::Person(c)) = (complet, apply::holds(category)) {
                    ap.complet_delivers(&academie, c);
                }
                let mut records = 0u64;
                while let Some(rec) = reader.next_record()? {
                    let at = At {
                        file: file_no,
                        line: rec.line,
                    };
                    ap.apply(&academie, category, complet, rec, at)?;
                    records += 1;
                }
                Ok((records, reader.bytes_read(), academie))
            })?;
            ap.report.records += records;
            ap.report.bytes += bytes;
            ap.report.files.push(FileReport {
                file: file.display.clone(),
                extraction: label.clone(),
                category: category.as_str().to_owned(),
                academie,
                records,
                bytes,
            });
        }
        if complet {
            ap.finish_complet()?;
        }
        for (academie, apply) in &decided {
            if *apply {
                ap.set_applied(academie, extraction.date, extraction.kind)?;
                ap.report
                    .extractions_applied
                    .push(format!("{label} (académie {academie})"));
            }
        }
    }
    if let Some(p) = &progress {
        p.finish_and_clear();
    }

    ap.check_references()?;
    ap.purge(opts.retention_days)?;
    let mut report = std::mem::take(&mut ap.report);
    ap.txn
        .commit()
        .map_err(ImportError::backend("committing the import"))?;

    let seconds = started.elapsed().as_secs_f64();
    report.seconds = seconds;
    if seconds > 0.0 {
        report.persons_per_second = report.person_records as f64 / seconds;
        report.megabytes_per_second = report.bytes as f64 / 1e6 / seconds;
    }
    report.peak_rss_kib = report::peak_rss_kib();
    tracing::info!(
        records = report.records,
        changes = report.total_changes(),
        seconds,
        "AAF import committed"
    );
    Ok(report)
}

fn progress_bar(wanted: bool, total: u64) -> Option<ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    Some(bar)
}

fn resolve_academie(
    header: Option<&str>,
    opts: &ImportOptions,
    file: &str,
) -> Result<String, ImportError> {
    match (header, opts.academie.as_deref()) {
        (Some(h), Some(o)) if h != o => Err(ImportError::Delivery {
            file: file.to_owned(),
            reason: format!("header says académie {h} but the import was asked for académie {o}"),
        }),
        (Some(h), _) => Ok(h.to_owned()),
        (None, Some(o)) => Ok(o.to_owned()),
        (None, None) => Err(ImportError::Delivery {
            file: file.to_owned(),
            reason: "no codeAcademieExport header comment: give the académie (--academie)".into(),
        }),
    }
}

/// An extraction older than the last one applied for the académie is skipped; the same one
/// again is applied (and changes nothing).
fn should_apply(
    ap: &mut Applier<'_>,
    academie: &str,
    extraction: &plan::Extraction,
) -> Result<bool, ImportError> {
    let Some((last_date, last_kind)) = ap.last_applied(academie)? else {
        return Ok(true);
    };
    let this = (format_date(extraction.date), extraction.kind);
    Ok(this >= (last_date, last_kind))
}
