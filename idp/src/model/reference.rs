//! Reference entries of the directory: structures (establishments), subjects and MEF. They
//! share one shape (a key and AAF attributes), so they share one type.

use serde::{Deserialize, Serialize};

use super::attributes::{composite, Attributes};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReferenceKind {
    /// `EtabEducNat`
    Structure,
    /// `MatiereEducNat`
    Subject,
    /// `MefEducNat`
    Mef,
}

impl ReferenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Structure => "EtabEducNat",
            Self::Subject => "MatiereEducNat",
            Self::Mef => "MefEducNat",
        }
    }
}

/// Key of a reference entry: kind, source académie and AAF identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntryKey {
    pub kind: ReferenceKind,
    pub academie: String,
    pub id: String,
}

impl EntryKey {
    pub fn new(kind: ReferenceKind, academie: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            kind,
            academie: academie.into(),
            id: id.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceEntry {
    pub key: EntryKey,
    pub attributes: Attributes,
}

impl ReferenceEntry {
    /// A structure's UAI (`ENTStructureUAI`).
    pub fn uai(&self) -> Option<&str> {
        self.attributes.first("ENTStructureUAI")
    }

    /// A readable name: the middle part of `ENTStructureNomCourant` (`LYC$LYCEE X$CITY`),
    /// or the label of a subject or MEF.
    pub fn label(&self) -> String {
        match self.key.kind {
            ReferenceKind::Structure => {
                let raw = self
                    .attributes
                    .first("ENTStructureNomCourant")
                    .unwrap_or_default();
                let parts = composite(raw);
                match parts.as_slice() {
                    [_, name, city] if !city.is_empty() => format!("{name} ({city})"),
                    [_, name, ..] => (*name).to_owned(),
                    _ => raw.to_owned(),
                }
            }
            ReferenceKind::Subject => self
                .attributes
                .first("ENTLibelleMatiere")
                .unwrap_or_default()
                .to_owned(),
            ReferenceKind::Mef => self
                .attributes
                .first("ENTLibelleMef")
                .unwrap_or_default()
                .to_owned(),
        }
    }
}
