//! Attribute resolution: the directory's person → neutral values under the catalogue's
//! ids, from each definition's `derives_from` (login, GAR id, names, birth date, profiles,
//! structure UAIs, classes, groups, MEF, postal code, constants, verbatim AAF attributes).

use std::collections::BTreeMap;

use federation_metadata::model::{AttributeDefinition, AttributeSource};
use time::Date;

use crate::model::{EntryKey, Person, ReferenceKind};
use crate::ports::{BackendError, Directory};

/// One neutral value: text, or a date (formatted per service by the filter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Date(Date),
}

/// Values by catalogue id. An id absent here has no value for this person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved(BTreeMap<String, Vec<Value>>);

impl Resolved {
    /// The values of catalogue id `id` (empty when it has none).
    pub fn values(&self, id: &str) -> &[Value] {
        self.0.get(id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The catalogue ids that have values.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

fn texts(values: impl IntoIterator<Item = String>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in values {
        if v.is_empty() {
            continue;
        }
        let v = Value::Text(v);
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Resolves the catalogue definitions for which `wanted(id)` holds (the filter's needs:
/// nothing is computed, and no directory read is made, for what no one will receive).
pub async fn resolve(
    person: &Person,
    directory: &dyn Directory,
    catalogue: &[AttributeDefinition],
    wanted: impl Fn(&str) -> bool,
) -> Result<Resolved, BackendError> {
    let mut out = BTreeMap::new();
    for def in catalogue.iter().filter(|d| wanted(&d.id)) {
        let values = source_values(person, directory, &def.derives_from).await?;
        if !values.is_empty() {
            out.insert(def.id.clone(), values);
        }
    }
    Ok(Resolved(out))
}

async fn source_values(
    p: &Person,
    directory: &dyn Directory,
    source: &AttributeSource,
) -> Result<Vec<Value>, BackendError> {
    let one = |s: &str| texts([s.to_owned()]);
    Ok(match source {
        AttributeSource::Login => one(&p.login),
        AttributeSource::GarId => one(&p.gar_id),
        AttributeSource::Jointure => one(&p.key.jointure),
        AttributeSource::Surname => one(p.surname()),
        AttributeSource::GivenName => one(p.given_name()),
        AttributeSource::DisplayName => {
            let name = p.display_name();
            one(name.trim())
        }
        AttributeSource::BirthDate => p.birth_date().map(Value::Date).into_iter().collect(),
        AttributeSource::Email => one(p.email().unwrap_or_default()),
        AttributeSource::Profiles => texts(p.profiles().iter().map(|x| x.national().to_owned())),
        AttributeSource::ProfilesNumeric => {
            texts(p.profiles().iter().map(|x| x.numeric().to_owned()))
        }
        AttributeSource::StructureUai => {
            let mut uais = Vec::new();
            for id in p.structures() {
                let key = EntryKey::new(ReferenceKind::Structure, p.key.academie.clone(), id);
                if let Some(uai) = directory
                    .reference(&key)
                    .await?
                    .and_then(|e| e.uai().map(str::to_owned))
                {
                    uais.push(uai);
                }
            }
            texts(uais)
        }
        AttributeSource::Classes => texts(p.classes().into_iter().map(|c| c.name)),
        AttributeSource::Groups => texts(p.groups().into_iter().map(|c| c.name)),
        AttributeSource::Mefs => texts(p.mefs()),
        AttributeSource::Functions => texts(
            p.functions()
                .into_iter()
                .map(|f| format!("{}${}", f.structure, f.code)),
        ),
        AttributeSource::PostalCode => one(p
            .attributes
            .first("ENTPersonCodePostal")
            .unwrap_or_default()),
        AttributeSource::Constant(c) => one(c),
        AttributeSource::Aaf(name) => texts(p.attributes.values(name).iter().cloned()),
    })
}
