//! What an import did, for operators: counts per category, warnings, files, throughput.
//! Serialized as JSON next to the readable form printed by the CLI.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Changes to one category. For people, `deleted` counts Delta deletions (the person is
/// kept as Left) and `left` those absent from a Complet; for reference entries `deleted`
/// removes the entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub added: u64,
    pub modified: u64,
    pub deleted: u64,
    pub left: u64,
    pub purged: u64,
    pub unchanged: u64,
}

impl Counts {
    pub fn changes(&self) -> u64 {
        self.added + self.modified + self.deleted + self.left + self.purged
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub file: String,
    pub extraction: String,
    pub category: String,
    pub academie: String,
    pub records: u64,
    pub bytes: u64,
}

/// Most warnings kept in the report; the rest are only counted.
pub const MAX_WARNINGS: usize = 1000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// The import date (`ImportOptions::today`), ISO 8601.
    pub today: String,
    /// Per category: Eleve, PersEducNat, PersRelEleve, EtabEducNat, MatiereEducNat, MefEducNat.
    pub counts: BTreeMap<String, Counts>,
    pub extractions_applied: Vec<String>,
    pub extractions_skipped: Vec<String>,
    pub files: Vec<FileReport>,
    pub warnings: Vec<String>,
    pub warnings_total: u64,
    /// Records read (all categories) and person records among them.
    pub records: u64,
    pub person_records: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub persons_per_second: f64,
    pub megabytes_per_second: f64,
    /// Peak resident memory of the process (Linux `VmHWM`), when known.
    pub peak_rss_kib: Option<u64>,
}

impl ImportReport {
    pub fn counts(&self, category: &str) -> Counts {
        self.counts.get(category).copied().unwrap_or_default()
    }

    pub(crate) fn counts_mut(&mut self, category: &str) -> &mut Counts {
        self.counts.entry(category.to_owned()).or_default()
    }

    /// Total of added, modified, deleted, left and purged over every category.
    pub fn total_changes(&self) -> u64 {
        self.counts.values().map(Counts::changes).sum()
    }

    pub(crate) fn warn(&mut self, message: String) {
        tracing::warn!("{message}");
        self.warnings_total += 1;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message);
        }
    }
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "AAF import of {}", self.today)?;
        for e in &self.extractions_applied {
            writeln!(f, "  applied: {e}")?;
        }
        for e in &self.extractions_skipped {
            writeln!(f, "  skipped: {e}")?;
        }
        writeln!(
            f,
            "  {:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "category", "added", "modified", "deleted", "left", "purged", "unchanged"
        )?;
        for (cat, c) in &self.counts {
            writeln!(
                f,
                "  {:<16} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                cat, c.added, c.modified, c.deleted, c.left, c.purged, c.unchanged
            )?;
        }
        writeln!(
            f,
            "  {} files, {} records ({} persons), {:.1} MB in {:.1} s: {:.0} persons/s, {:.1} MB/s",
            self.files.len(),
            self.records,
            self.person_records,
            self.bytes as f64 / 1e6,
            self.seconds,
            self.persons_per_second,
            self.megabytes_per_second
        )?;
        if let Some(kib) = self.peak_rss_kib {
            writeln!(f, "  peak memory: {} MiB", kib / 1024)?;
        }
        if self.warnings_total > 0 {
            writeln!(f, "  {} warnings:", self.warnings_total)?;
            for w in self.warnings.iter().take(20) {
                writeln!(f, "    {w}")?;
            }
            if self.warnings_total > 20 {
                writeln!(f, "    ... (see the JSON report)")?;
            }
        }
        Ok(())
    }
}

/// Peak resident set size from `/proc/self/status` (Linux only).
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Writes `report` as pretty JSON to `<dir>/aaf-import-<UTC time>.json` (creating `dir`)
/// and returns the path.
pub fn write_report(
    report: &ImportReport,
    dir: &std::path::Path,
    now: time::OffsetDateTime,
) -> std::io::Result<std::path::PathBuf> {
    let now = now.to_offset(time::UtcOffset::UTC);
    let stamp = now
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
        ))
        .map_err(std::io::Error::other)?;
    let path = dir.join(format!("aaf-import-{stamp}.json"));
    write_report_to(report, &path)?;
    Ok(path)
}

/// Writes `report` as pretty JSON to `path` (creating its folder).
pub fn write_report_to(report: &ImportReport, path: &std::path::Path) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(path, json)
}
