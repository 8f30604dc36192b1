//! A drop folder for AAF deliveries, scanned by the running server.
//!
//! The embedded directory is a single-process database: while `idp serve` runs, a separate
//! `idp aaf import` cannot open it. So the server imports what lands in `aaf.incoming_dir`
//! itself. A delivery is taken once its files have stopped changing between two scans (a
//! transfer still in progress is left alone); after the import its files move to
//! `done/<stamp>/` or, when refused, to `failed/<stamp>/` beside an `error.txt` saying why,
//! and the directory is left as it was. Reports go to `aaf.report_dir`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use time::OffsetDateTime;

use super::aaf::{import_paths, ImportOptions, ImportReport};
use crate::ports::DirectoryWriter;

#[derive(Debug, thiserror::Error)]
pub enum IncomingError {
    #[error("drop folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("delivery refused: {0}")]
    Refused(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IncomingError + '_ {
    move |source| IncomingError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What a folder looked like at one scan: name → (size, modified).
type Listing = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

/// Scans one drop folder, remembering the previous listing to see what is settled.
pub struct DropFolder {
    dir: PathBuf,
    previous: Listing,
}

/// The outcome of one scan.
#[derive(Debug)]
pub enum ScanOutcome {
    /// Nothing waiting.
    Empty,
    /// Files are still arriving (or were first seen now): try again next scan.
    Settling,
    Imported(Box<ImportReport>),
}

impl DropFolder {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            previous: Listing::new(),
        }
    }

    fn list(&self) -> Result<Listing, IncomingError> {
        let mut out = Listing::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let entry = entry.map_err(io(&self.dir))?;
            let name = entry.file_name();
            // Hidden files are transfers in progress by convention (rsync, scp -> rename).
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let meta = entry.metadata().map_err(io(&entry.path()))?;
            if meta.is_file() {
                out.insert(entry.path(), (meta.len(), meta.modified().ok()));
            }
        }
        Ok(out)
    }

    /// Imports the waiting delivery if its files are the same as at the previous scan.
    /// A refused delivery is moved to `failed/` and reported as an error.
    pub fn scan(
        &mut self,
        writer: &dyn DirectoryWriter,
        opts: &ImportOptions,
        now: OffsetDateTime,
    ) -> Result<ScanOutcome, IncomingError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let listing = self.list()?;
        if listing.is_empty() {
            self.previous = listing;
            return Ok(ScanOutcome::Empty);
        }
        if listing != self.previous {
            self.previous = listing;
            return Ok(ScanOutcome::Settling);
        }
        self.previous = Listing::new();
        let files: Vec<PathBuf> = listing.into_keys().collect();
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        match import_paths(writer, &files, opts) {
            Ok(report) => {
                self.move_all(&files, "done", &stamp)?;
                Ok(ScanOutcome::Imported(Box::new(report)))
            }
            Err(e) => {
                let dest = self.move_all(&files, "failed", &stamp)?;
                let why = e.to_string();
                std::fs::write(dest.join("error.txt"), format!("{why}\n")).map_err(io(&dest))?;
                Err(IncomingError::Refused(why))
            }
        }
    }

    fn move_all(&self, files: &[PathBuf], to: &str, stamp: &str) -> Result<PathBuf, IncomingError> {
        let base = self.dir.parent().unwrap_or(&self.dir);
        let dest = base.join(to).join(stamp);
        std::fs::create_dir_all(&dest).map_err(io(&dest))?;
        for f in files {
            if let Some(name) = f.file_name() {
                std::fs::rename(f, dest.join(name)).map_err(io(f))?;
            }
        }
        Ok(dest)
    }
}

/// Scans the drop folder every `aaf.scan_interval_secs` on a thread of its own (imports
/// are long, blocking work) for as long as the process runs.
pub fn spawn_watcher(
    settings: &crate::settings::AafSettings,
    writer: std::sync::Arc<dyn DirectoryWriter>,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let mut folder = DropFolder::new(settings.incoming_dir.clone());
    let interval = std::time::Duration::from_secs(settings.scan_interval_secs);
    let retention_days = settings.retention_days;
    let report_dir = settings.report_dir.clone();
    tracing::info!(folder = %folder.dir.display(), every_secs = interval.as_secs(), "watching the AAF drop folder");
    std::thread::Builder::new()
        .name("aaf-incoming".into())
        .spawn(move || loop {
            let now = clock.now();
            let opts = ImportOptions {
                academie: None,
                today: now.date(),
                retention_days,
                progress: false,
            };
            match folder.scan(writer.as_ref(), &opts, now) {
                Ok(ScanOutcome::Imported(report)) => {
                    match super::aaf::write_report(&report, &report_dir, now) {
                        Ok(path) => tracing::info!(
                            changes = report.total_changes(),
                            report = %path.display(),
                            "AAF delivery imported from the drop folder"
                        ),
                        Err(e) => tracing::error!(error = %e, "AAF delivery imported, but its report could not be written"),
                    }
                }
                Ok(ScanOutcome::Settling) => {
                    tracing::debug!("AAF drop folder: files still arriving")
                }
                Ok(ScanOutcome::Empty) => {}
                Err(e) => tracing::error!(error = %e, "AAF drop folder"),
            }
            std::thread::sleep(interval);
        })
}
