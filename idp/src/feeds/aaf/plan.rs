//! Orders a delivery: the latest Complet, then the later Deltas by date; within one
//! extraction reference data (structures, subjects, MEF) before people, then parts by number.
//! Plain alphabetical order would be wrong (`_Eleve_` sorts before `_EtabEducNat_`).

use std::collections::BTreeMap;

use time::Date;

use super::filename::{format_date, AafFileName, ExtractionKind};

/// One extraction to apply: the indices of its files, in load order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    pub kind: ExtractionKind,
    pub date: Date,
    pub files: Vec<usize>,
}

impl Extraction {
    pub fn label(&self) -> String {
        format!("{} {}", self.kind.as_str(), format_date(self.date))
    }
}

/// Plans the work over file names (index = position in `names`). Returns the extractions
/// in order and a warning for each one left out.
pub fn plan(names: &[&AafFileName]) -> (Vec<Extraction>, Vec<String>) {
    let mut groups: BTreeMap<(Date, ExtractionKind), Vec<usize>> = BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        groups.entry((n.date, n.kind)).or_default().push(i);
    }
    let latest_complet = groups
        .keys()
        .filter(|(_, k)| *k == ExtractionKind::Complet)
        .map(|(d, _)| *d)
        .max();
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for ((date, kind), mut files) in groups {
        let label = format!("{} {}", kind.as_str(), format_date(date));
        if let Some(latest) = latest_complet {
            let keep = match kind {
                ExtractionKind::Complet => date == latest,
                ExtractionKind::Delta => date > latest,
            };
            if !keep {
                warnings.push(format!(
                    "{label}: skipped, superseded by the Complet of {}",
                    format_date(latest)
                ));
                continue;
            }
        }
        files.sort_by_key(|&i| names.get(i).map(|n| (n.category, n.part, n.prefix.clone())));
        out.push(Extraction { kind, date, files });
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feeds::aaf::filename::parse;

    #[test]
    fn latest_complet_then_later_deltas_reference_data_first() {
        let raw = [
            "P_Delta_20260906_Eleve_0000.xml",
            "P_Delta_20260910_Eleve_0000.xml",
            "P_Complet_20260901_Eleve_0000.xml",
            "P_Complet_20260907_Eleve_0001.xml",
            "P_Complet_20260907_Eleve_0000.xml",
            "P_Complet_20260907_PersRelEleve_0000.xml",
            "P_Complet_20260907_EtabEducNat_0000.xml",
            "P_Complet_20260907_MefEducNat_0000.xml",
            "P_Delta_20260908_PersEducNat_0000.xml",
            "P_Delta_20260908_Eleve_0000.xml",
        ];
        let parsed: Vec<AafFileName> = raw.iter().map(|n| parse(n).unwrap()).collect();
        let refs: Vec<&AafFileName> = parsed.iter().collect();
        let (plan, warnings) = plan(&refs);
        let order: Vec<Vec<&str>> = plan
            .iter()
            .map(|e| e.files.iter().map(|&i| raw[i]).collect())
            .collect();
        assert_eq!(
            order,
            vec![
                vec![
                    "P_Complet_20260907_EtabEducNat_0000.xml",
                    "P_Complet_20260907_MefEducNat_0000.xml",
                    "P_Complet_20260907_Eleve_0000.xml",
                    "P_Complet_20260907_Eleve_0001.xml",
                    "P_Complet_20260907_PersRelEleve_0000.xml",
                ],
                vec![
                    "P_Delta_20260908_Eleve_0000.xml",
                    "P_Delta_20260908_PersEducNat_0000.xml",
                ],
                vec!["P_Delta_20260910_Eleve_0000.xml"],
            ]
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.starts_with("Complet 20260901")));
        assert!(warnings.iter().any(|w| w.starts_with("Delta 20260906")));
    }

    #[test]
    fn deltas_alone_apply_in_date_order() {
        let raw = [
            "P_Delta_20260910_Eleve_0000.xml",
            "P_Delta_20260908_Eleve_0000.xml",
        ];
        let parsed: Vec<AafFileName> = raw.iter().map(|n| parse(n).unwrap()).collect();
        let refs: Vec<&AafFileName> = parsed.iter().collect();
        let (plan, warnings) = plan(&refs);
        assert!(warnings.is_empty());
        assert_eq!(
            plan.iter().map(|e| e.files[0]).collect::<Vec<_>>(),
            vec![1, 0]
        );
    }
}
