//! The activation-code export a school prints and hands out: one CSV row per active person
//! who has not set a password yet. Parents have no structure of their own in the AAF, so
//! they are listed under the structure and class of their children.

use std::collections::HashMap;
use std::io::Write;

use crate::model::{AccountState, Category, Person, ReferenceKind};
use crate::ports::{BackendError, DirectoryScan};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("directory error: {0}")]
    Backend(#[from] BackendError),
    #[error("cannot write the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("cannot write the CSV: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    uai: String,
    structure: String,
    class: String,
    surname: String,
    given_name: String,
    category: &'static str,
    login: String,
    code: String,
}

/// Where a pupil is: (academie, structure jointure, class name) pairs.
type Placement = Vec<(String, String)>;

fn placements(p: &Person) -> Placement {
    let mut out: Placement = p
        .classes()
        .into_iter()
        .map(|c| (c.structure, c.name))
        .collect();
    for s in p.structures() {
        if !out.iter().any(|(st, _)| *st == s) {
            out.push((s, String::new()));
        }
    }
    out
}

/// Writes the CSV (header + rows sorted by structure, class, surname, given name) and
/// returns the number of rows. `structure_uai` and `class` filter the rows.
pub fn export_activation_codes(
    dir: &dyn DirectoryScan,
    structure_uai: Option<&str>,
    class: Option<&str>,
    out: &mut dyn Write,
) -> Result<usize, ExportError> {
    // Structures: (academie, jointure) -> (uai, name).
    let mut structures: HashMap<(String, String), (String, String)> = HashMap::new();
    dir.for_each_reference(&mut |e| {
        if e.key.kind == ReferenceKind::Structure {
            structures.insert(
                (e.key.academie.clone(), e.key.id.clone()),
                (e.uai().unwrap_or_default().to_owned(), e.label()),
            );
        }
        Ok(())
    })?;
    // Pupils' placements, for their parents' rows.
    let mut pupils: HashMap<(String, String), Placement> = HashMap::new();
    let mut candidates: Vec<Person> = Vec::new();
    dir.for_each_person(&mut |p| {
        if p.category == Category::Eleve && p.state == AccountState::Active {
            pupils.insert(
                (p.key.academie.clone(), p.key.jointure.clone()),
                placements(p),
            );
        }
        if p.is_active()
            && p.credentials.needs_activation()
            && p.credentials.activation_code.is_some()
        {
            candidates.push(p.clone());
        }
        Ok(())
    })?;

    let mut rows = Vec::new();
    for p in candidates {
        let academie = p.key.academie.clone();
        let places: Placement = if p.category == Category::PersRelEleve {
            let mut v = Placement::new();
            for child in p.children() {
                if let Some(pl) = pupils.get(&(academie.clone(), child.clone())) {
                    v.extend(pl.iter().cloned());
                }
            }
            v
        } else {
            placements(&p)
        };
        let chosen = places.iter().find(|(s, c)| {
            let (uai, _) = structures
                .get(&(academie.clone(), s.clone()))
                .cloned()
                .unwrap_or_default();
            structure_uai.is_none_or(|u| u.eq_ignore_ascii_case(&uai))
                && class.is_none_or(|k| k == c)
        });
        let Some((s, c)) = chosen else {
            if structure_uai.is_some() || class.is_some() {
                continue;
            }
            rows.push(row(&p, String::new(), String::new(), String::new()));
            continue;
        };
        let (uai, name) = structures
            .get(&(academie, s.clone()))
            .cloned()
            .unwrap_or_default();
        rows.push(row(&p, uai, name, c.clone()));
    }
    rows.sort();

    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "uai",
        "structure",
        "class",
        "category",
        "surname",
        "given_name",
        "login",
        "activation_code",
    ])?;
    for r in &rows {
        w.write_record([
            r.uai.as_str(),
            &r.structure,
            &r.class,
            r.category,
            &r.surname,
            &r.given_name,
            &r.login,
            &r.code,
        ])?;
    }
    w.flush()?;
    Ok(rows.len())
}

fn row(p: &Person, uai: String, structure: String, class: String) -> Row {
    Row {
        uai,
        structure,
        class,
        surname: p.surname().to_owned(),
        given_name: p.given_name().to_owned(),
        category: p.category.as_str(),
        login: p.login.clone(),
        code: p.credentials.activation_code.clone().unwrap_or_default(),
    }
}
