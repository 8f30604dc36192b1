//! The AAF file naming scheme, `<prefix>_<Complet|Delta>_<yyyymmdd>_<Category>_<nnnn>.xml`:
//! everything the import needs to order the work comes from the name alone, before any file
//! is opened.

use std::fmt;

use time::Date;

/// Full export (everyone present) or changes since the previous extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum ExtractionKind {
    Complet,
    Delta,
}

impl ExtractionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complet => "Complet",
            Self::Delta => "Delta",
        }
    }
}

/// The seven file categories, declared in load order: reference entries before people,
/// pupils before staff and parents (the order the académies themselves use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum FileCategory {
    EtabEducNat,
    MatiereEducNat,
    MefEducNat,
    Eleve,
    PersEducNat,
    PersRelEleve,
    InfosEducNat,
}

impl FileCategory {
    pub const ALL: [FileCategory; 7] = [
        Self::EtabEducNat,
        Self::MatiereEducNat,
        Self::MefEducNat,
        Self::Eleve,
        Self::PersEducNat,
        Self::PersRelEleve,
        Self::InfosEducNat,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EtabEducNat => "EtabEducNat",
            Self::MatiereEducNat => "MatiereEducNat",
            Self::MefEducNat => "MefEducNat",
            Self::Eleve => "Eleve",
            Self::PersEducNat => "PersEducNat",
            Self::PersRelEleve => "PersRelEleve",
            Self::InfosEducNat => "InfosEducNat",
        }
    }
}

impl fmt::Display for FileCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AafFileName {
    pub prefix: String,
    pub kind: ExtractionKind,
    pub date: Date,
    pub category: FileCategory,
    pub part: u32,
}

/// Why a name does not follow the scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("expected <prefix>_<Complet|Delta>_<yyyymmdd>_<Category>_<nnnn>.xml")]
    Shape,
    #[error("extraction kind `{0}` is neither Complet nor Delta")]
    Kind(String),
    #[error("`{0}` is not a yyyymmdd date")]
    Date(String),
    #[error("unknown category `{0}`")]
    Category(String),
    #[error("part `{0}` is not a number")]
    Part(String),
}

/// Parses the last path component of an AAF file. The prefix may itself contain `_`.
pub fn parse(file_name: &str) -> Result<AafFileName, NameError> {
    let stem = file_name
        .strip_suffix(".xml")
        .or_else(|| file_name.strip_suffix(".XML"))
        .ok_or(NameError::Shape)?;
    let mut parts = stem.rsplitn(5, '_');
    let (Some(part), Some(category), Some(date), Some(kind), Some(prefix)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(NameError::Shape);
    };
    if prefix.is_empty() {
        return Err(NameError::Shape);
    }
    let kind = match kind {
        "Complet" => ExtractionKind::Complet,
        "Delta" => ExtractionKind::Delta,
        other => return Err(NameError::Kind(other.to_owned())),
    };
    let date = parse_date(date).ok_or_else(|| NameError::Date(date.to_owned()))?;
    let category =
        FileCategory::parse(category).ok_or_else(|| NameError::Category(category.to_owned()))?;
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NameError::Part(part.to_owned()));
    }
    let part = part.parse().map_err(|_| NameError::Part(part.to_owned()))?;
    Ok(AafFileName {
        prefix: prefix.to_owned(),
        kind,
        date,
        category,
        part,
    })
}

fn parse_date(s: &str) -> Option<Date> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = s[0..4].parse().ok()?;
    let month: u8 = s[4..6].parse().ok()?;
    let day: u8 = s[6..8].parse().ok()?;
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

/// `yyyymmdd`, the form used in names and in the bookkeeping.
pub fn format_date(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn parses_a_sample_name() {
        let n = parse("ENTDEMO_Complet_20260907_Eleve_0001.xml").unwrap();
        assert_eq!(n.prefix, "ENTDEMO");
        assert_eq!(n.kind, ExtractionKind::Complet);
        assert_eq!(n.date, date!(2026 - 09 - 07));
        assert_eq!(n.category, FileCategory::Eleve);
        assert_eq!(n.part, 1);
    }

    #[test]
    fn prefix_may_contain_underscores() {
        let n = parse("ENT_2D_AC-AIX_Delta_20260908_MefEducNat_0000.xml").unwrap();
        assert_eq!(n.prefix, "ENT_2D_AC-AIX");
        assert_eq!(n.kind, ExtractionKind::Delta);
        assert_eq!(n.category, FileCategory::MefEducNat);
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(parse("notes.txt"), Err(NameError::Shape));
        assert_eq!(
            parse("Complet_20260907_Eleve_0000.xml"),
            Err(NameError::Shape)
        );
        assert_eq!(
            parse("X_Full_20260907_Eleve_0000.xml"),
            Err(NameError::Kind("Full".into()))
        );
        assert_eq!(
            parse("X_Complet_20261307_Eleve_0000.xml"),
            Err(NameError::Date("20261307".into()))
        );
        assert_eq!(
            parse("X_Complet_20260907_Martien_0000.xml"),
            Err(NameError::Category("Martien".into()))
        );
        assert_eq!(
            parse("X_Complet_20260907_Eleve_00a0.xml"),
            Err(NameError::Part("00a0".into()))
        );
    }

    #[test]
    fn category_order_puts_reference_data_first() {
        let mut c = [
            FileCategory::Eleve,
            FileCategory::PersRelEleve,
            FileCategory::MefEducNat,
            FileCategory::EtabEducNat,
            FileCategory::PersEducNat,
            FileCategory::MatiereEducNat,
        ];
        c.sort();
        assert_eq!(c[0], FileCategory::EtabEducNat);
        assert_eq!(
            &c[3..],
            &[
                FileCategory::Eleve,
                FileCategory::PersEducNat,
                FileCategory::PersRelEleve
            ]
        );
        assert_eq!(format_date(date!(2026 - 09 - 07)), "20260907");
    }
}
