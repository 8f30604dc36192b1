//! The AAF feed end to end: the sample delivery of `shared/aaf-sample` (a Complet of
//! 2026-09-07 and a Delta of 2026-09-08) imported into a real embedded directory, checked
//! exactly; re-runs, malformed deliveries (refused with file and line, directory unchanged),
//! archives, ISO-8859-15, activation-code export, retention purge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use idp::backends::directory::embedded::EmbeddedDirectory;
use idp::feeds::aaf::{
    export_activation_codes, import_paths, ImportError, ImportOptions, ImportReport,
};
use idp::model::{AccountState, Category, Person, PersonKey, Profile, ReferenceEntry};
use idp::ports::{Directory, DirectoryScan};
use time::macros::date;
use time::Date;

const COMPLET_DAY: Date = date!(2026 - 09 - 07);
const DELTA_DAY: Date = date!(2026 - 09 - 08);

fn sample_dir() -> PathBuf {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/aaf-sample"
    ));
    assert!(
        p.is_dir(),
        "the AAF sample delivery is missing: expected {} (a copy of shared/ beside the repository)",
        p.display()
    );
    p
}

fn sample_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(sample_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Copies the sample files whose name contains `filter` into a new folder.
fn copy_sample(filter: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in sample_files() {
        if file_name(&f).contains(filter) {
            std::fs::copy(&f, dir.path().join(file_name(&f))).unwrap();
        }
    }
    dir
}

struct Env {
    _tmp: tempfile::TempDir,
    dir: EmbeddedDirectory,
}

fn new_directory() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let dir = EmbeddedDirectory::open(&tmp.path().join("directory.redb")).unwrap();
    Env { _tmp: tmp, dir }
}

fn opts(today: Date) -> ImportOptions {
    ImportOptions {
        academie: None,
        today,
        retention_days: 365,
        progress: false,
    }
}

fn import(env: &Env, paths: &[PathBuf], today: Date) -> Result<ImportReport, ImportError> {
    import_paths(&env.dir, paths, &opts(today))
}

/// Every person and reference entry, in key order.
fn scan(env: &Env) -> (Vec<Person>, Vec<ReferenceEntry>) {
    let mut persons = Vec::new();
    env.dir
        .for_each_person(&mut |p| {
            persons.push(p.clone());
            Ok(())
        })
        .unwrap();
    let mut refs = Vec::new();
    env.dir
        .for_each_reference(&mut |r| {
            refs.push(r.clone());
            Ok(())
        })
        .unwrap();
    (persons, refs)
}

fn by_jointure(env: &Env) -> BTreeMap<String, Person> {
    scan(env)
        .0
        .into_iter()
        .map(|p| {
            assert_eq!(p.key.academie, "02");
            (p.key.jointure.clone(), p)
        })
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

const COMPLET_LOGINS: &[(&str, Category, &str)] = &[
    ("3001", Category::PersEducNat, "julien.bernard"),
    ("3002", Category::PersEducNat, "nathalie.petit"),
    ("3003", Category::PersEducNat, "isabelle.roux"),
    ("3004", Category::PersEducNat, "thomas.faure"),
    ("3005", Category::PersEducNat, "karim.morel"),
    ("5001", Category::Eleve, "lea.dupont"),
    ("5002", Category::Eleve, "hugo.martin"),
    ("5003", Category::Eleve, "aissatou.ndiaye"),
    ("5004", Category::Eleve, "leo.dupont"),
    ("5005", Category::Eleve, "zoe.garcia-lopez"),
    ("5006", Category::Eleve, "hugo.martin2"),
    ("7001", Category::PersRelEleve, "claire.dupont"),
    ("7002", Category::PersRelEleve, "marc.dupont"),
    ("7003", Category::PersRelEleve, "sophie.martin"),
    ("7004", Category::PersRelEleve, "moussa.ndiaye"),
];

#[test]
fn sample_complet_then_delta_gives_exactly_the_expected_directory() {
    let env = new_directory();
    let complet = copy_sample("_Complet_");
    let report = import(&env, &[complet.path().to_owned()], COMPLET_DAY).unwrap();
    assert_eq!(report.counts("Eleve").added, 6);
    assert_eq!(report.counts("PersEducNat").added, 5);
    assert_eq!(report.counts("PersRelEleve").added, 4);
    assert_eq!(report.counts("EtabEducNat").added, 2);
    assert_eq!(report.counts("MatiereEducNat").added, 3);
    assert_eq!(report.counts("MefEducNat").added, 2);
    assert_eq!(report.files.len(), 8);

    let after_complet = by_jointure(&env);
    let got: Vec<(&str, Category, &str)> = after_complet
        .values()
        .map(|p| (p.key.jointure.as_str(), p.category, p.login.as_str()))
        .collect();
    assert_eq!(got, COMPLET_LOGINS);
    let mut gar_ids = HashSet::new();
    for p in after_complet.values() {
        assert_eq!(p.state, AccountState::Active);
        assert_eq!((p.created_on, p.updated_on), (COMPLET_DAY, COMPLET_DAY));
        let code = p.credentials.activation_code.as_deref().unwrap();
        assert_eq!(code.len(), 10);
        assert!(p.credentials.password_hash.is_none());
        assert_eq!(p.gar_id.len(), 36, "uuid: {}", p.gar_id);
        assert!(gar_ids.insert(p.gar_id.clone()), "GAR ids are unique");
    }
    // Accents kept in the attributes, folded in logins; empty values dropped.
    assert_eq!(after_complet["5005"].surname(), "GARCÍA-LÓPEZ");
    assert_eq!(after_complet["5001"].given_name(), "Léa");
    assert!(after_complet["5001"].attributes.values("mail").is_empty());
    assert!(after_complet["5006"].parents().is_empty());
    // Profiles.
    assert_eq!(after_complet["3001"].profiles(), vec![Profile::Ens]);
    assert_eq!(after_complet["3003"].profiles(), vec![Profile::Dir]);
    assert_eq!(after_complet["3004"].profiles(), vec![Profile::Doc]);
    assert_eq!(after_complet["3005"].profiles(), vec![Profile::Evs]);
    assert_eq!(after_complet["5001"].profiles(), vec![Profile::Elv]);
    assert_eq!(after_complet["7001"].profiles(), vec![Profile::Tut]);
    // Reference entries.
    let (_, refs) = scan(&env);
    let ids: Vec<(&str, &str)> = refs
        .iter()
        .map(|r| (r.key.kind.as_str(), r.key.id.as_str()))
        .collect();
    assert_eq!(
        ids,
        vec![
            ("MefEducNat", "10010012110"),
            ("MefEducNat", "20010018110"),
            ("MatiereEducNat", "013000"),
            ("MatiereEducNat", "030201"),
            ("MatiereEducNat", "062800"),
            ("EtabEducNat", "9001"),
            ("EtabEducNat", "9002"),
        ]
    );
    let lycee = refs.iter().find(|r| r.key.id == "9001").unwrap();
    assert_eq!(lycee.uai(), Some("0139999Y"));

    // The whole folder: the same Complet again (allowed, changes nothing), then the Delta.
    let report = import(&env, &[sample_dir()], DELTA_DAY).unwrap();
    assert_eq!(
        report.extractions_applied,
        vec![
            "Complet 20260907 (académie 02)",
            "Delta 20260908 (académie 02)"
        ]
    );
    assert!(
        report.extractions_skipped.is_empty(),
        "{:?}",
        report.extractions_skipped
    );
    let e = report.counts("Eleve");
    assert_eq!((e.added, e.modified, e.deleted, e.left), (1, 1, 1, 0));
    let r = report.counts("PersRelEleve");
    assert_eq!((r.added, r.modified), (1, 1));
    assert_eq!(report.counts("PersEducNat").modified, 1);
    assert_eq!(report.total_changes(), 6);

    let after = by_jointure(&env);
    assert_eq!(after.len(), 17);
    for (j, before) in &after_complet {
        let now = &after[j];
        assert_eq!(now.login, before.login, "logins never change");
        assert_eq!(now.gar_id, before.gar_id, "GAR ids never change");
        assert_eq!(now.credentials, before.credentials);
    }
    // 5006 deleted: kept, Left since the Delta's import day.
    assert_eq!(after["5006"].state, AccountState::Left { since: DELTA_DAY });
    assert_eq!(after["5006"].updated_on, DELTA_DAY);
    // 5002 changes class.
    let classes: Vec<String> = after["5002"]
        .classes()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(classes, vec!["2NDE B"]);
    assert_eq!(after["5002"].updated_on, DELTA_DAY);
    // New pupil and her new parent, linked both ways.
    let chloe = &after["5007"];
    assert_eq!(
        (chloe.category, chloe.login.as_str()),
        (Category::Eleve, "chloe.lefevre")
    );
    assert_eq!(chloe.parents()[0].parent, "7005");
    assert!(chloe.parents()[0].legal_representative);
    let anne = &after["7005"];
    assert_eq!(
        (anne.category, anne.login.as_str()),
        (Category::PersRelEleve, "anne.lefevre")
    );
    assert_eq!(anne.children(), ["5007".to_string()]);
    assert_eq!(chloe.created_on, DELTA_DAY);
    assert!(!gar_ids.contains(&chloe.gar_id) && chloe.gar_id != anne.gar_id);
    // 7003's new e-mail; 3001 teaches one class less.
    assert_eq!(after["7003"].email(), Some("sophie.martin@example.org"));
    assert_eq!(
        after["3001"].attributes.values("ENTAuxEnsClassesMatieres"),
        ["9001$2NDE A$013000".to_string()]
    );
    // Untouched people are untouched, to the byte.
    for j in ["5001", "5003", "5004", "5005", "3002", "7001", "7004"] {
        assert_eq!(after[j], after_complet[j], "{j} must not change");
    }
    let lea = rt()
        .block_on(env.dir.person_by_login("lea.dupont"))
        .unwrap()
        .unwrap();
    assert_eq!(lea.key, PersonKey::new("02", "5001"));
}

#[test]
fn re_running_an_import_changes_nothing() {
    let env = new_directory();
    import(&env, &[sample_dir()], DELTA_DAY).unwrap();
    let before = scan(&env);
    let report = import(&env, &[sample_dir()], DELTA_DAY).unwrap();
    assert_eq!(report.total_changes(), 0, "{report}");
    assert_eq!(scan(&env), before);

    // The same Complet twice: applied again, nothing changes.
    let env = new_directory();
    let complet = copy_sample("_Complet_");
    import(&env, &[complet.path().to_owned()], COMPLET_DAY).unwrap();
    let before = scan(&env);
    let report = import(&env, &[complet.path().to_owned()], COMPLET_DAY).unwrap();
    assert_eq!(report.extractions_applied.len(), 1);
    assert_eq!(report.total_changes(), 0, "{report}");
    assert_eq!(report.counts("Eleve").unchanged, 6);
    assert_eq!(scan(&env), before);
}

/// Writes a Complet of `day` for the sample: the sample Complet with `edit` applied to
/// each file's text, renamed to the new date.
fn complet_copy(day: &str, edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in sample_files() {
        let name = file_name(&f);
        if !name.contains("_Complet_") {
            continue;
        }
        let text = edit(&name, std::fs::read_to_string(&f).unwrap());
        std::fs::write(dir.path().join(name.replace("20260907", day)), text).unwrap();
    }
    dir
}

/// Removes the `<addRequest>` of `id` from a file's text.
fn without_record(text: &str, id: &str) -> String {
    let marker = format!("<identifier><id>{id}</id></identifier>");
    let Some(at) = text.find(&marker) else {
        return text.to_owned();
    };
    let start = text[..at].rfind("<addRequest>").unwrap();
    let end = at + text[at..].find("</addRequest>\n").unwrap() + "</addRequest>\n".len();
    format!("{}{}", &text[..start], &text[end..])
}

#[test]
fn a_complet_that_omits_someone_marks_them_left_and_retention_purges_them() {
    let env = new_directory();
    import(
        &env,
        &[copy_sample("_Complet_").path().to_owned()],
        COMPLET_DAY,
    )
    .unwrap();
    let leo_before = by_jointure(&env)["5004"].clone();

    let later = date!(2026 - 09 - 14);
    let next = complet_copy("20260914", |_, t| without_record(&t, "5004"));
    let report = import(&env, &[next.path().to_owned()], later).unwrap();
    assert_eq!(report.counts("Eleve").left, 1, "{report}");
    assert_eq!(report.total_changes(), 1, "{report}");
    // Léo's parents still name him: a warning each (not an error, not twice).
    let about_leo: Vec<&String> = report
        .warnings
        .iter()
        .filter(|w| w.contains("child 5004, who has left"))
        .collect();
    assert_eq!(about_leo.len(), 2, "{:?}", report.warnings);
    assert!(about_leo.iter().any(|w| w.contains("02$7001")));
    assert!(about_leo.iter().any(|w| w.contains("02$7002")));
    let after = by_jointure(&env);
    assert_eq!(after.len(), 15);
    let leo = &after["5004"];
    assert_eq!(leo.state, AccountState::Left { since: later });
    assert_eq!(
        (leo.login.as_str(), leo.gar_id.as_str()),
        (leo_before.login.as_str(), leo_before.gar_id.as_str())
    );

    // He comes back: same account, Active again.
    let back_day = date!(2026 - 09 - 21);
    let back = complet_copy("20260921", |_, t| t);
    let report = import(&env, &[back.path().to_owned()], back_day).unwrap();
    assert_eq!(report.counts("Eleve").modified, 1, "{report}");
    let leo = &by_jointure(&env)["5004"];
    assert_eq!(leo.state, AccountState::Active);
    assert_eq!(leo.credentials, leo_before.credentials);

    // Gone again, then more than a year passes: purged at the next import.
    let gone = complet_copy("20260928", |_, t| without_record(&t, "5004"));
    import(&env, &[gone.path().to_owned()], date!(2026 - 09 - 28)).unwrap();
    let delta_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        delta_dir.path().join("ENTDEMO_Delta_20271001_PersEducNat_0000.xml"),
        DELTA_HEAD.to_owned()
            + "<modifyRequest>\n<operationalAttributes><attr name=\"categoriePersonne\"><value>PersEducNat</value></attr></operationalAttributes>\n<identifier><id>3002</id></identifier>\n<modifications><modification name=\"mail\" operation=\"replace\"><value>n.petit@ac-aix-marseille.fr</value></modification></modifications>\n</modifyRequest>\n</ficAlimMENESR>\n",
    )
    .unwrap();
    let report = import(&env, &[delta_dir.path().to_owned()], date!(2027 - 10 - 01)).unwrap();
    assert_eq!(report.counts("Eleve").purged, 1, "{report}");
    let now = by_jointure(&env);
    assert!(!now.contains_key("5004"), "purged for good");
    assert!(rt()
        .block_on(env.dir.person_by_login("leo.dupont"))
        .unwrap()
        .is_none());

    // A new Léo DUPONT does not get the purged login: it stays reserved.
    let delta_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        delta_dir.path().join("ENTDEMO_Delta_20271002_Eleve_0000.xml"),
        DELTA_HEAD.to_owned()
            + "<addRequest>\n<operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\n<identifier><id>5099</id></identifier>\n<attributes>\n<attr name=\"sn\"><value>DUPONT</value></attr>\n<attr name=\"givenName\"><value>Léo</value></attr>\n<attr name=\"ENTPersonStructRattach\"><value>9002</value></attr>\n</attributes>\n</addRequest>\n</ficAlimMENESR>\n",
    )
    .unwrap();
    import(&env, &[delta_dir.path().to_owned()], date!(2027 - 10 - 02)).unwrap();
    assert_eq!(by_jointure(&env)["5099"].login, "leo.dupont2");
}

const DELTA_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">\n<ficAlimMENESR>\n<!-- codeAcademieExport=\"02\" -->\n";

/// The sample delivery with one file's text edited, in a new folder.
fn edited_sample(file: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = copy_sample("");
    let path = dir.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit of {file} must change something");
    std::fs::write(&path, edited).unwrap();
    dir
}

/// Imports the broken delivery over the sample Complet and checks the refusal.
fn assert_refused(delivery: &Path, file: &str, line: Option<u64>, reason: &str) {
    let env = new_directory();
    import(
        &env,
        &[copy_sample("_Complet_").path().to_owned()],
        COMPLET_DAY,
    )
    .unwrap();
    let before = scan(&env);
    let err = import(&env, &[delivery.to_owned()], DELTA_DAY).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(file), "error must name {file}: {msg}");
    if let Some(line) = line {
        assert!(
            msg.contains(&format!("line {line}:")),
            "error must name line {line}: {msg}"
        );
    }
    assert!(msg.contains(reason), "error must say `{reason}`: {msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert_eq!(
        scan(&env),
        before,
        "a refused import changes nothing ({msg})"
    );
    // And the bookkeeping was not moved: the good Delta still applies afterwards.
    let report = import(&env, &[sample_dir()], DELTA_DAY).unwrap();
    assert_eq!(
        report.extractions_applied.last().map(String::as_str),
        Some("Delta 20260908 (académie 02)")
    );
    assert_eq!(report.counts("Eleve").added, 1);
}

const DELTA_ELEVE: &str = "ENTDEMO_Delta_20260908_Eleve_0000.xml";
const DELTA_PARENTS: &str = "ENTDEMO_Delta_20260908_PersRelEleve_0000.xml";

#[test]
fn broken_xml_is_refused_with_file_and_line() {
    let d = edited_sample(DELTA_PARENTS, |t| {
        t.replace("</modifications>", "</modification>")
    });
    assert_refused(d.path(), DELTA_PARENTS, Some(26), "malformed XML");
}

#[test]
fn unknown_category_is_refused() {
    let d = edited_sample(DELTA_ELEVE, |t| {
        t.replacen("<value>Eleve</value>", "<value>Martien</value>", 3)
            .replacen("<value>Martien</value>", "<value>Eleve</value>", 2)
    });
    assert_refused(
        d.path(),
        DELTA_ELEVE,
        Some(20),
        "unknown category `Martien`",
    );
}

#[test]
fn a_record_of_another_category_is_refused() {
    let d = edited_sample(DELTA_ELEVE, |t| {
        t.replacen("<value>Eleve</value>", "<value>PersEducNat</value>", 1)
    });
    assert_refused(d.path(), DELTA_ELEVE, Some(8), "is a PersEducNat");
}

#[test]
fn modify_of_an_unknown_id_is_refused_and_earlier_files_are_rolled_back() {
    // The PersRelEleve file comes last: the Eleve and PersEducNat Deltas were applied
    // inside the transaction before the error, and must not survive it.
    let d = edited_sample(DELTA_PARENTS, |t| {
        t.replace("<id>7003</id>", "<id>7999</id>")
    });
    assert_refused(
        d.path(),
        DELTA_PARENTS,
        Some(20),
        "modify of unknown PersRelEleve 7999",
    );
}

#[test]
fn delete_of_an_unknown_id_is_refused() {
    let d = edited_sample(DELTA_ELEVE, |t| t.replace("<id>5006</id>", "<id>5998</id>"));
    assert_refused(
        d.path(),
        DELTA_ELEVE,
        Some(16),
        "delete of unknown Eleve 5998",
    );
}

#[test]
fn broken_reference_is_refused() {
    let d = edited_sample(DELTA_ELEVE, |t| {
        t.replace(
            "<attr name=\"ENTPersonStructRattach\"><value>9001</value></attr>",
            "<attr name=\"ENTPersonStructRattach\"><value>9009</value></attr>",
        )
    });
    assert_refused(
        d.path(),
        DELTA_ELEVE,
        Some(20),
        "structure 9009, which is not in the directory",
    );
    // A parent that never comes.
    let d = edited_sample(DELTA_ELEVE, |t| {
        t.replace("7005$1$1$1$1$0", "7777$1$1$1$1$0")
    });
    assert_refused(d.path(), DELTA_ELEVE, Some(20), "parent 7777");
}

#[test]
fn internal_dtd_subset_is_refused() {
    let d = edited_sample(DELTA_ELEVE, |t| {
        t.replace(
            "<!DOCTYPE ficAlimMENESR SYSTEM \"ficAlimMENESR.dtd\">",
            "<!DOCTYPE ficAlimMENESR [\n<!ENTITY lol \"lol\">\n<!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">\n]>",
        )
        .replace("<id>5006</id>", "<id>&lol2;</id>")
    });
    assert_refused(
        d.path(),
        DELTA_ELEVE,
        Some(2),
        "internal DTD subset refused",
    );
}

#[test]
fn bad_file_name_is_refused() {
    let d = copy_sample("");
    std::fs::write(
        d.path().join("ENTDEMO_Delta_20260908_Eleve.xml"),
        "<ficAlimMENESR/>",
    )
    .unwrap();
    assert_refused(
        d.path(),
        "ENTDEMO_Delta_20260908_Eleve.xml",
        None,
        "not an AAF file name",
    );
    // An .md5 beside the files is only a warning.
    let d = copy_sample("");
    std::fs::write(
        d.path().join("ENTDEMO_Delta_20260908_Eleve_0000.xml.md5"),
        "0",
    )
    .unwrap();
    let env = new_directory();
    let report = import(&env, &[d.path().to_owned()], DELTA_DAY).unwrap();
    assert!(report
        .warnings
        .iter()
        .any(|w| w.contains(".md5") && w.contains("ignored")));
}

/// What an import decides, without the random parts (GAR ids, activation codes).
fn projection(env: &Env) -> Vec<String> {
    let (persons, refs) = scan(env);
    persons
        .iter()
        .map(|p| {
            format!(
                "{} {:?} {} {:?} {:?} {} {}",
                p.key, p.category, p.login, p.state, p.attributes, p.created_on, p.updated_on
            )
        })
        .chain(refs.iter().map(|r| format!("{:?}", r)))
        .collect()
}

#[test]
fn zip_and_tar_gz_import_like_the_folder() {
    let folder = new_directory();
    import(&folder, &[sample_dir()], DELTA_DAY).unwrap();
    let expected = projection(&folder);

    let tmp = tempfile::tempdir().unwrap();
    // zip, with an .md5 beside the files as académies ship them.
    let zip_path = tmp.path().join("ENTDEMO.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        for f in sample_files().iter().rev() {
            zip.start_file(format!("export/{}", file_name(f)), options)
                .unwrap();
            std::io::copy(&mut std::fs::File::open(f).unwrap(), &mut zip).unwrap();
        }
        zip.start_file("export/checksums.md5", options).unwrap();
        zip.finish().unwrap();
    }
    let env = new_directory();
    let report = import(&env, &[zip_path], DELTA_DAY).unwrap();
    assert_eq!(projection(&env), expected);
    assert!(report
        .files
        .iter()
        .all(|f| f.file.contains("ENTDEMO.zip!export/")));

    // tar.gz
    let tgz_path = tmp.path().join("ENTDEMO.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tgz_path).unwrap(),
            flate2::Compression::default(),
        );
        let mut tar = tar::Builder::new(gz);
        for f in sample_files() {
            tar.append_path_with_name(&f, file_name(&f)).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap();
    }
    let env = new_directory();
    import(&env, &[tgz_path], DELTA_DAY).unwrap();
    assert_eq!(projection(&env), expected);

    // A broken file inside an archive is named as archive!member.
    let bad_zip = tmp.path().join("bad.zip");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&bad_zip).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file(DELTA_ELEVE, options).unwrap();
        std::io::Write::write_all(&mut zip, b"<?xml version=\"1.0\"?>\n<ficAlimMENESR>\n<!-- codeAcademieExport=\"02\" -->\n<addRequest>\n</ficAlimMENESR>\n").unwrap();
        zip.finish().unwrap();
    }
    let env = new_directory();
    let msg = import(&env, &[bad_zip], DELTA_DAY).unwrap_err().to_string();
    assert!(
        msg.contains(&format!("bad.zip!{DELTA_ELEVE}, line 5")),
        "{msg}"
    );
}

/// ISO-8859-15 encoding of `s` (Latin-1 plus the eight characters that differ).
fn to_iso_8859_15(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            '€' => 0xA4,
            'Š' => 0xA6,
            'š' => 0xA8,
            'Ž' => 0xB4,
            'ž' => 0xB8,
            'Œ' => 0xBC,
            'œ' => 0xBD,
            'Ÿ' => 0xBE,
            c if (c as u32) < 0x100 => c as u32 as u8,
            c => panic!("{c} is not in ISO-8859-15"),
        })
        .collect()
}

#[test]
fn iso_8859_15_files_import_with_correct_accents() {
    let dir = copy_sample("_Complet_");
    let name = "ENTDEMO_Complet_20260907_Eleve_0001.xml";
    let text = std::fs::read_to_string(dir.path().join(name))
        .unwrap()
        .replace("encoding=\"UTF-8\"", "encoding=\"ISO-8859-15\"")
        .replace(
            "<attr name=\"ENTPersonAutresPrenoms\"><value>Zoé</value></attr>",
            "<attr name=\"ENTPersonAutresPrenoms\"><value>Zoé Cœur €</value></attr>",
        );
    assert!(text.contains("Cœur"));
    std::fs::write(dir.path().join(name), to_iso_8859_15(&text)).unwrap();
    let env = new_directory();
    import(&env, &[dir.path().to_owned()], COMPLET_DAY).unwrap();
    let zoe = &by_jointure(&env)["5005"];
    assert_eq!(zoe.surname(), "GARCÍA-LÓPEZ");
    assert_eq!(zoe.given_name(), "Zoé");
    assert_eq!(
        zoe.attributes.first("ENTPersonAutresPrenoms"),
        Some("Zoé Cœur €")
    );
    assert_eq!(zoe.login, "zoe.garcia-lopez");
}

#[test]
fn academie_comes_from_the_header_or_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(sample_dir().join("ENTDEMO_Complet_20260907_EtabEducNat_0000.xml"))
            .unwrap()
            .replace("<!-- codeAcademieExport=\"02\" -->\n", "");
    std::fs::write(
        dir.path().join("X_Complet_20260907_EtabEducNat_0000.xml"),
        text,
    )
    .unwrap();
    let env = new_directory();
    let msg = import(&env, &[dir.path().to_owned()], COMPLET_DAY)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("--academie"), "{msg}");
    let mut o = opts(COMPLET_DAY);
    o.academie = Some("AC-RENNES".into());
    import_paths(&env.dir, &[dir.path().to_owned()], &o).unwrap();
    let (_, refs) = scan(&env);
    assert!(refs.iter().all(|r| r.key.academie == "AC-RENNES"));
    // A header that disagrees with the option is an error.
    let msg = import_paths(&env.dir, &[copy_sample("_Complet_").path().to_owned()], &o)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("académie 02") && msg.contains("AC-RENNES"),
        "{msg}"
    );
}

#[test]
fn activation_code_export_lists_who_has_to_activate_by_structure_and_class() {
    let env = new_directory();
    import(&env, &[sample_dir()], DELTA_DAY).unwrap();
    let people = by_jointure(&env);
    // Aïssatou has set her password: no code to hand out any more.
    rt().block_on(env.dir.set_password(
        &PersonKey::new("02", "5003"),
        "$argon2id$x".into(),
        time::OffsetDateTime::UNIX_EPOCH,
    ))
    .unwrap();

    let mut out = Vec::new();
    let n = export_activation_codes(&env.dir, Some("0139999Y"), Some("2NDE B"), &mut out).unwrap();
    let csv = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "uai,structure,class,category,surname,given_name,login,activation_code"
    );
    let code = |j: &str| people[j].credentials.activation_code.clone().unwrap();
    let expected = [
        ("Eleve", "MARTIN", "Hugo", "hugo.martin", "5002"),
        ("PersRelEleve", "MARTIN", "Sophie", "sophie.martin", "7003"),
        ("PersRelEleve", "N'DIAYE", "Moussa", "moussa.ndiaye", "7004"),
        ("PersEducNat", "PETIT", "Nathalie", "nathalie.petit", "3002"),
    ];
    let expected: Vec<String> = expected
        .iter()
        .map(|(cat, sn, given, login, j)| {
            format!(
                "0139999Y,LYCEE MARIE CURIE (MARSEILLE),2NDE B,{cat},{sn},{given},{login},{}",
                code(j)
            )
        })
        .collect();
    assert_eq!(
        &lines[1..],
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(n, 4);

    // The whole collège: Léo, Zoé and the parents of its pupils; nobody who left (5006).
    let mut out = Vec::new();
    export_activation_codes(&env.dir, Some("0130998P"), None, &mut out).unwrap();
    let csv = String::from_utf8(out).unwrap();
    let logins: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(6).unwrap())
        .collect();
    assert_eq!(
        logins,
        vec![
            "zoe.garcia-lopez",
            "sophie.martin",
            "nathalie.petit",
            "claire.dupont",
            "leo.dupont",
            "marc.dupont"
        ]
    );
}

#[test]
fn a_delta_deleting_a_pupil_warns_about_the_parents_still_naming_them() {
    let env = new_directory();
    import(
        &env,
        &[copy_sample("_Complet_").path().to_owned()],
        COMPLET_DAY,
    )
    .unwrap();
    let delta = tempfile::tempdir().unwrap();
    let name = "ENTDEMO_Delta_20260910_Eleve_0000.xml";
    std::fs::write(
        delta.path().join(name),
        DELTA_HEAD.to_owned()
            + "<deleteRequest>\n<operationalAttributes><attr name=\"categoriePersonne\"><value>Eleve</value></attr></operationalAttributes>\n<identifier><id>5003</id></identifier>\n</deleteRequest>\n</ficAlimMENESR>\n",
    )
    .unwrap();
    let report = import(&env, &[delta.path().to_owned()], date!(2026 - 09 - 10)).unwrap();
    assert_eq!(report.counts("Eleve").deleted, 1);
    assert_eq!(report.warnings_total, 1, "{:?}", report.warnings);
    let w = &report.warnings[0];
    assert!(
        w.contains(&format!(
            "{name}, line 5: 02$7004 references child 5003, who has left"
        )),
        "{w}"
    );
    // Deleting someone who already left changes nothing.
    let before = scan(&env);
    let again = tempfile::tempdir().unwrap();
    std::fs::copy(
        delta.path().join(name),
        again.path().join("ENTDEMO_Delta_20260911_Eleve_0000.xml"),
    )
    .unwrap();
    let report = import(&env, &[again.path().to_owned()], date!(2026 - 09 - 11)).unwrap();
    assert_eq!(report.total_changes(), 0);
    assert_eq!(scan(&env), before);
}
