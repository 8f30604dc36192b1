//! Resolution and filtering against the demo trust domain's catalogue and Pronote entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use async_trait::async_trait;
use federation_metadata::model::Registry;

use super::*;
use crate::model::{
    AccountState, Attributes, Category, Credentials, EntryKey, Person, PersonKey, ReferenceEntry,
};
use crate::ports::{BackendError, Directory};

struct OneSchool;

#[async_trait]
impl Directory for OneSchool {
    async fn person(&self, _: &PersonKey) -> Result<Option<Person>, BackendError> {
        Ok(None)
    }
    async fn person_by_login(&self, _: &str) -> Result<Option<Person>, BackendError> {
        Ok(None)
    }
    async fn reference(&self, key: &EntryKey) -> Result<Option<ReferenceEntry>, BackendError> {
        Ok((key.id == "9001").then(|| ReferenceEntry {
            key: key.clone(),
            attributes: [("ENTStructureUAI".to_owned(), vec!["0350001A".to_owned()])]
                .into_iter()
                .collect(),
        }))
    }
    async fn set_password(
        &self,
        _: &PersonKey,
        _: String,
        _: time::OffsetDateTime,
    ) -> Result<(), BackendError> {
        Ok(())
    }
    async fn set_state(&self, _: &PersonKey, _: AccountState) -> Result<(), BackendError> {
        Ok(())
    }
    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

fn registry() -> Registry {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/federation/demo"
    ));
    federation_metadata::source::load_domain(dir)
        .unwrap()
        .to_registry(time::OffsetDateTime::now_utc())
}

fn pupil() -> Person {
    let attrs: Attributes = [
        ("sn", "DUPONT"),
        ("givenName", "Léa"),
        ("ENTPersonDateNaissance", "03/04/2010"),
        ("ENTPersonCodePostal", "35000"),
        ("ENTPersonStructRattach", "9001"),
        ("ENTEleveClasses", "9001$2NDE A"),
        ("mail", "lea@example.org"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), vec![v.to_owned()]))
    .collect();
    Person {
        key: PersonKey::new("02", "5001"),
        category: Category::Eleve,
        login: "lea.dupont".into(),
        gar_id: "gar-5001".into(),
        state: AccountState::Active,
        attributes: attrs,
        credentials: Credentials::default(),
        created_on: time::macros::date!(2026 - 09 - 07),
        updated_on: time::macros::date!(2026 - 09 - 07),
    }
}

#[tokio::test]
async fn resolves_the_catalogue() {
    let r = registry();
    let resolved = resolve(&pupil(), &OneSchool, &r.attributes, |_| true)
        .await
        .unwrap();
    let text = |id: &str| resolved.values(id).to_vec();
    assert_eq!(text("login"), vec![Value::Text("lea.dupont".into())]);
    assert_eq!(text("gar_id"), vec![Value::Text("gar-5001".into())]);
    assert_eq!(
        text("birth_date"),
        vec![Value::Date(time::macros::date!(2010 - 04 - 03))]
    );
    assert_eq!(text("profiles"), vec![Value::Text("National_ELV".into())]);
    assert_eq!(
        text("profiles_numeric"),
        vec![Value::Text("National_1".into())]
    );
    assert_eq!(text("structure_uai"), vec![Value::Text("0350001A".into())]);
    assert_eq!(text("classes"), vec![Value::Text("2NDE A".into())]);
    assert_eq!(text("postal_code"), vec![Value::Text("35000".into())]);
    assert_eq!(text("ent_code"), vec![Value::Text("ENTDEMO".into())]);
}

#[tokio::test]
async fn pronote_gets_only_its_releases_in_its_formats() {
    let r = registry();
    let pronote = r.service("pronote").unwrap();
    let resolved = resolve(&pupil(), &OneSchool, &r.attributes, |_| true)
        .await
        .unwrap();
    let out = release(pronote, &resolved);
    let pairs: Vec<(&str, Vec<&str>)> = out
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.values.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("nom", vec!["DUPONT"]),
            ("prenom", vec!["Léa"]),
            ("dateNaissance", vec!["03/04/2010"]),
            ("codePostal", vec!["35000"]),
            ("categories", vec!["National_1"]),
        ]
    );
    assert_eq!(
        user_value("login", &resolved).as_deref(),
        Some("lea.dupont")
    );
}

#[tokio::test]
async fn multi_values_are_joined_and_missing_ones_left_out() {
    let r = registry();
    let mut pronote = r.service("pronote").unwrap().clone();
    let mut teacher = pupil();
    teacher.category = Category::PersEducNat;
    teacher.attributes.replace(
        "ENTPersonFonctions",
        vec!["9001$ENS$X$Y$Z".into(), "9001$DIR$X$Y$Z".into()],
    );
    teacher.attributes.replace("ENTPersonCodePostal", vec![]);
    teacher.attributes.replace("ENTPersonDateNaissance", vec![]);
    let resolved = resolve(&teacher, &OneSchool, &r.attributes, |id| {
        pronote.releases.iter().any(|x| x.source == id)
    })
    .await
    .unwrap();
    assert!(resolved.values("login").is_empty(), "only what is wanted");
    let out = release(&pronote, &resolved);
    let names: Vec<&str> = out.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, vec!["nom", "prenom", "categories"]);
    assert_eq!(out[2].values, vec!["National_3;National_4"]);
    pronote.releases.clear();
    assert!(release(&pronote, &resolved).is_empty());
}
