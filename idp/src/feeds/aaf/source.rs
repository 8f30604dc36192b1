//! Where AAF files come from: plain files, folders (walked recursively), zip, tar and tar.gz
//! archives. `collect` lists every AAF file with its parsed name and size without reading
//! any content; `SourceFile::with_reader` then streams one file. Zip members and tar members
//! are read in place; a tar.gz cannot be read out of order, so it is first decompressed once
//! into a temporary tar (streamed, deleted at the end of the import).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::error::ImportError;
use super::filename::{self, AafFileName};

#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    Zip { archive: PathBuf, member: String },
    Tar { archive: PathBuf, offset: u64 },
}

/// One AAF file of the delivery.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// How the file is named in messages: its path, or `archive!member`.
    pub display: String,
    pub name: AafFileName,
    /// Uncompressed size in bytes.
    pub size: u64,
    location: Location,
}

/// Everything found, plus what was ignored and why.
pub struct Sources {
    pub files: Vec<SourceFile>,
    pub warnings: Vec<String>,
    /// Decompressed tar.gz copies, deleted when this is dropped.
    _temp: Vec<tempfile::NamedTempFile>,
}

enum Kind {
    Xml,
    Zip,
    Tar,
    TarGz,
    Other,
}

fn kind_of(name: &str) -> Kind {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".xml") {
        Kind::Xml
    } else if lower.ends_with(".zip") {
        Kind::Zip
    } else if lower.ends_with(".tar") {
        Kind::Tar
    } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
        Kind::TarGz
    } else {
        Kind::Other
    }
}

fn base_name(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

fn parse_name(display: &str, name: &str) -> Result<AafFileName, ImportError> {
    filename::parse(base_name(name)).map_err(|reason| ImportError::FileName {
        file: display.to_owned(),
        reason,
    })
}

/// Lists the AAF files under `paths`. A `.xml` whose name does not follow the scheme is an
/// error; other files (`.md5`, notes) are ignored with a warning.
pub fn collect(paths: &[PathBuf]) -> Result<Sources, ImportError> {
    let mut out = Sources {
        files: Vec::new(),
        warnings: Vec::new(),
        _temp: Vec::new(),
    };
    for p in paths {
        add_path(p, &mut out)?;
    }
    Ok(out)
}

fn add_path(path: &Path, out: &mut Sources) -> Result<(), ImportError> {
    let display = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| ImportError::io(&display, e))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| ImportError::io(&display, e))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|e| ImportError::io(&display, e))?;
        entries.sort();
        for e in entries {
            add_path(&e, out)?;
        }
        return Ok(());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match kind_of(&name) {
        Kind::Xml => out.files.push(SourceFile {
            name: parse_name(&display, &name)?,
            display,
            size: meta.len(),
            location: Location::File(path.to_owned()),
        }),
        Kind::Zip => add_zip(path, out)?,
        Kind::Tar => add_tar(path, path, out)?,
        Kind::TarGz => {
            let tmp = gunzip_to_temp(path)?;
            let tmp_path = tmp.path().to_owned();
            out._temp.push(tmp);
            add_tar(&tmp_path, path, out)?;
        }
        Kind::Other => out.warnings.push(format!(
            "{display}: ignored (not an AAF .xml file nor an archive)"
        )),
    }
    Ok(())
}

fn add_zip(path: &Path, out: &mut Sources) -> Result<(), ImportError> {
    let display = path.display().to_string();
    let file = File::open(path).map_err(|e| ImportError::io(&display, e))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| ImportError::io(&display, io::Error::other(e)))?;
    for i in 0..zip.len() {
        let member = zip
            .by_index(i)
            .map_err(|e| ImportError::io(&display, io::Error::other(e)))?;
        if member.is_dir() {
            continue;
        }
        let name = member.name().to_owned();
        let member_display = format!("{display}!{name}");
        match kind_of(&name) {
            Kind::Xml => out.files.push(SourceFile {
                name: parse_name(&member_display, &name)?,
                display: member_display,
                size: member.size(),
                location: Location::Zip {
                    archive: path.to_owned(),
                    member: name,
                },
            }),
            _ => out
                .warnings
                .push(format!("{member_display}: ignored (not an AAF .xml file)")),
        }
    }
    Ok(())
}

/// Indexes a tar: `path` is the tar to read, `shown` the name used in messages (the .tar.gz
/// the operator gave, not our temporary copy).
fn add_tar(path: &Path, shown: &Path, out: &mut Sources) -> Result<(), ImportError> {
    let display = shown.display().to_string();
    let io_err = |e| ImportError::io(&display, e);
    let file = File::open(path).map_err(io_err)?;
    let mut archive = tar::Archive::new(BufReader::new(file));
    for entry in archive.entries().map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry.path().map_err(io_err)?.to_string_lossy().into_owned();
        let member_display = format!("{display}!{name}");
        match kind_of(&name) {
            Kind::Xml => out.files.push(SourceFile {
                name: parse_name(&member_display, &name)?,
                display: member_display,
                size: entry.size(),
                location: Location::Tar {
                    archive: path.to_owned(),
                    offset: entry.raw_file_position(),
                },
            }),
            _ => out
                .warnings
                .push(format!("{member_display}: ignored (not an AAF .xml file)")),
        }
    }
    Ok(())
}

fn gunzip_to_temp(path: &Path) -> Result<tempfile::NamedTempFile, ImportError> {
    let display = path.display().to_string();
    let io_err = |e| ImportError::io(&display, e);
    let input = File::open(path).map_err(io_err)?;
    let mut decoder = flate2::read::MultiGzDecoder::new(BufReader::new(input));
    let mut tmp = tempfile::Builder::new()
        .prefix("idp-aaf-")
        .suffix(".tar")
        .tempfile()
        .map_err(io_err)?;
    io::copy(&mut decoder, tmp.as_file_mut()).map_err(io_err)?;
    Ok(tmp)
}

impl SourceFile {
    /// Streams the file's bytes to `f`.
    pub fn with_reader<T>(
        &self,
        f: impl FnOnce(&mut dyn Read) -> Result<T, ImportError>,
    ) -> Result<T, ImportError> {
        let io_err = |e| ImportError::io(&self.display, e);
        match &self.location {
            Location::File(p) => {
                let mut file = File::open(p).map_err(io_err)?;
                f(&mut file)
            }
            Location::Zip { archive, member } => {
                let file = File::open(archive).map_err(io_err)?;
                let mut zip = zip::ZipArchive::new(BufReader::new(file))
                    .map_err(|e| io_err(io::Error::other(e)))?;
                let mut m = zip
                    .by_name(member)
                    .map_err(|e| io_err(io::Error::other(e)))?;
                f(&mut m)
            }
            Location::Tar { archive, offset } => {
                let mut file = File::open(archive).map_err(io_err)?;
                file.seek(SeekFrom::Start(*offset)).map_err(io_err)?;
                let mut part = file.take(self.size);
                f(&mut part)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_files_are_ignored_and_bad_xml_names_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("X_Complet_20260907_Eleve_0000.xml"), "<x/>").unwrap();
        std::fs::write(
            dir.path().join("X_Complet_20260907_Eleve_0000.xml.md5"),
            "abc",
        )
        .unwrap();
        let s = collect(&[dir.path().to_owned()]).unwrap();
        assert_eq!(s.files.len(), 1);
        assert_eq!(s.warnings.len(), 1);
        std::fs::write(dir.path().join("export.xml"), "<x/>").unwrap();
        let e = collect(&[dir.path().to_owned()]).err().unwrap().to_string();
        assert!(e.contains("export.xml"), "{e}");
    }
}
