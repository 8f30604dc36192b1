//! The LDAP directory against a real `slapd` (started per test, see `idp_tests::slapd`,
//! under the ACLs deploy/ldap/README.md recommends): one contract body run against the
//! embedded and the LDAP directories so that the two cannot drift; filter injection through
//! the login; entries the IdP cannot decode; slapd stopped and started again; both schema
//! forms loading; the real AAF import into LDAP; and a CAS login through the real IdP
//! configured with `[directory] backend = "ldap"`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use idp::app::{self, Backends};
use idp::audit::MemoryAudit;
use idp::authn::PasswordHasher;
use idp::backends::directory::embedded::EmbeddedDirectory;
use idp::backends::directory::ldap::{LdapConfig, LdapDirectory};
use idp::feeds::aaf::{import_paths, ImportOptions};
use idp::model::{
    AccountState, Attributes, Category, Credentials, EntryKey, Person, PersonKey, ReferenceEntry,
    ReferenceKind,
};
use idp::ports::{BackendError, Directory, DirectoryScan, DirectoryWriter, SystemClock};
use idp::protocols::cas::url::encode;
use idp_tests::procs::{free_port, run_with_timeout};
use idp_tests::raw_get as get;
use idp_tests::registry::{CasService, TestRegistry};
use idp_tests::slapd::{self, Slapd};
use idp_tests::{ticket_in, Browser};
use time::macros::{date, datetime};

fn attrs(list: &[(&str, &[&str])]) -> Attributes {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect()
}

fn config(server: &Slapd, bind_dn: &str, password: &str) -> LdapConfig {
    LdapConfig {
        url: server.url(),
        bind_dn: bind_dn.into(),
        bind_password: password.into(),
        base_dn: slapd::BASE_DN.into(),
        connect_timeout: Duration::from_secs(2),
        op_timeout: Duration::from_secs(2),
        connections: 2,
        starttls: false,
    }
}

/// The IdP's view (its service account, under the ACLs) and the provisioning's (the
/// administrator, who writes the fixtures).
fn on_ldap(server: &Slapd) -> (LdapDirectory, LdapDirectory) {
    let idp = LdapDirectory::connect(config(server, slapd::IDP_DN, slapd::IDP_PASSWORD)).unwrap();
    let admin =
        LdapDirectory::connect(config(server, slapd::ROOT_DN, slapd::ROOT_PASSWORD)).unwrap();
    (idp, admin)
}

/// A person as the AAF import makes one (`ENTPersonJointure` is always delivered).
fn person(category: Category, jointure: &str, login: &str, extra: &[(&str, &[&str])]) -> Person {
    let mut attributes = attrs(extra);
    attributes.replace("ENTPersonJointure", vec![jointure.to_owned()]);
    Person {
        key: PersonKey::new("02", jointure),
        category,
        login: login.into(),
        gar_id: format!("gar-{jointure}"),
        state: AccountState::Active,
        attributes,
        credentials: Credentials::default(),
        created_on: date!(2026 - 09 - 07),
        updated_on: date!(2026 - 09 - 08),
    }
}

fn fixtures() -> (Vec<Person>, Vec<ReferenceEntry>) {
    let mut lea = person(
        Category::Eleve,
        "5001",
        "lea.dupont",
        &[
            ("cn", &["Léa DUPONT"]),
            ("sn", &["DUPONT"]),
            ("givenName", &["Léa"]),
            // Several values, in the AAF's order (not sorted): the order must survive.
            ("mail", &["lea@ent.test", "dupont.lea@ent.test"]),
            (
                "ENTElevePersRelEleve",
                &["7002$2$1$0$1$0", "7001$1$1$1$1$0"],
            ),
            ("ENTEleveClasses", &["9001$2NDE A"]),
            ("ENTPersonStructRattach", &["9001"]),
            ("ENTPersonDateNaissance", &["14/03/2010"]),
            ("personalTitle", &["Mme"]),
        ],
    );
    lea.credentials.activation_code = Some("K7MPQ2XW9R".into());
    let mut teacher = person(
        Category::PersEducNat,
        "3002",
        "nathalie.petit",
        &[
            ("cn", &["Nathalie PETIT"]),
            ("sn", &["PETIT"]),
            ("givenName", &["Nathalie"]),
            (
                "ENTPersonFonctions",
                &["9001$ENS$ENSEIGNEMENT$L0202$LETTRES MODERNES"],
            ),
            ("ENTAuxEnsClassesMatieres", &["9001$2NDE A$030201"]),
        ],
    );
    teacher.credentials.password_hash = Some("$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA".into());
    teacher.credentials.password_changed_at = Some(datetime!(2026-09-07 08:15:30.25 UTC));
    let parent = person(
        Category::PersRelEleve,
        "7001",
        "sophie.dupont",
        &[
            ("cn", &["Sophie DUPONT"]),
            ("sn", &["DUPONT"]),
            ("ENTAuxPersRelEleveEleve", &["5001"]),
            ("mobile", &["0600000000"]),
        ],
    );
    let mut left = person(
        Category::Eleve,
        "5002",
        "paul.martin",
        &[("cn", &["Paul MARTIN"]), ("sn", &["MARTIN"])],
    );
    left.state = AccountState::Left {
        since: date!(2026 - 09 - 08),
    };
    // A key with the characters a DN and a filter give a meaning to (escaped, both ways).
    let odd = person(
        Category::PersEducNat,
        "50,03+x=\\y*(z) #",
        "odd.key",
        &[("cn", &["Odd KEY"]), ("sn", &["KEY"])],
    );
    let structure = ReferenceEntry {
        key: EntryKey::new(ReferenceKind::Structure, "02", "9001"),
        attributes: attrs(&[
            ("ENTStructureJointure", &["9001"]),
            ("ENTStructureUAI", &["0139999Y"]),
            (
                "ENTStructureNomCourant",
                &["LYC$LYCEE MARIE CURIE$MARSEILLE"],
            ),
            ("postalCode", &["13001"]),
        ]),
    };
    let subject = ReferenceEntry {
        key: EntryKey::new(ReferenceKind::Subject, "02", "030201"),
        attributes: attrs(&[
            ("ENTMatJointure", &["030201"]),
            ("ENTLibelleMatiere", &["FRANCAIS"]),
        ]),
    };
    let mef = ReferenceEntry {
        key: EntryKey::new(ReferenceKind::Mef, "02", "20010018110"),
        attributes: attrs(&[
            ("ENTMefJointure", &["20010018110"]),
            ("ENTLibelleMef", &["2NDE GENERALE"]),
        ]),
    };
    (
        vec![lea, teacher, parent, left, odd],
        vec![structure, subject, mef],
    )
}

/// The same checks on either backend: `dir` is the IdP's view, already holding `fixtures()`.
async fn contract(dir: &dyn Directory, scan: &dyn DirectoryScan) {
    let (people, references) = fixtures();
    for p in &people {
        assert_eq!(dir.person(&p.key).await.unwrap().as_ref(), Some(p));
        assert_eq!(
            dir.person_by_login(&p.login).await.unwrap().as_ref(),
            Some(p)
        );
    }
    for e in &references {
        assert_eq!(dir.reference(&e.key).await.unwrap().as_ref(), Some(e));
    }
    // Unknown ones: nothing, no error.
    assert_eq!(
        dir.person(&PersonKey::new("02", "9999")).await.unwrap(),
        None
    );
    assert_eq!(
        dir.person(&PersonKey::new("03", "5001")).await.unwrap(),
        None
    );
    assert_eq!(dir.person_by_login("nobody").await.unwrap(), None);
    let other_kind = EntryKey::new(ReferenceKind::Subject, "02", "9001");
    assert_eq!(dir.reference(&other_kind).await.unwrap(), None);
    // Logins are exact.
    assert_eq!(dir.person_by_login("LEA.DUPONT").await.unwrap(), None);
    assert_eq!(dir.person_by_login("lea.dupon").await.unwrap(), None);
    // What a login form may receive to widen a filter finds nobody.
    for attack in [
        "",
        " ",
        "*",
        "lea*",
        "*)(uid=*",
        "*)(ENTPersonLogin=*",
        "lea.dupont)(|(objectClass=*",
        "lea.dupont)(ENTPersonLogin=*))(|(a=b",
        "\\2a",
        "(",
        "lea.dupont\0",
        // Equal to the login only under LDAP string preparation (RFC 4518: insignificant
        // spaces, Unicode normalisation): another login, and another throttle counter.
        "lea.dupont ",
        " lea.dupont",
        "lea. dupont",
        "lea.dupont\u{00AD}",
        "lea.dupont\u{200B}",
        "\u{FF4C}ea.dupont",
        "lea\u{FF0E}dupont",
    ] {
        assert_eq!(dir.person_by_login(attack).await.unwrap(), None, "{attack}");
    }
    let key_attack = PersonKey::new("02", "*");
    assert_eq!(dir.person(&key_attack).await.unwrap(), None);

    // First password: the hash and its time are kept, the activation code goes.
    let lea = &people[0];
    let at = datetime!(2026-09-09 10:11:12.5 +02:00);
    dir.set_password(&lea.key, "$argon2id$v=19$new".into(), at)
        .await
        .unwrap();
    let got = dir.person(&lea.key).await.unwrap().unwrap();
    assert_eq!(
        got.credentials.password_hash.as_deref(),
        Some("$argon2id$v=19$new")
    );
    assert_eq!(got.credentials.activation_code, None);
    assert_eq!(got.credentials.password_changed_at, Some(at));
    assert_eq!(got.attributes, lea.attributes, "the AAF data is untouched");
    // Again, with no activation code left to remove.
    dir.set_password(&lea.key, "$argon2id$v=19$newer".into(), at)
        .await
        .unwrap();
    let got = dir.person_by_login("lea.dupont").await.unwrap().unwrap();
    assert_eq!(
        got.credentials.password_hash.as_deref(),
        Some("$argon2id$v=19$newer")
    );

    // Lock, unlock.
    let locked = AccountState::Locked {
        reason: "compte compromis (ticket 42)".into(),
    };
    dir.set_state(&lea.key, locked.clone()).await.unwrap();
    assert_eq!(dir.person(&lea.key).await.unwrap().unwrap().state, locked);
    dir.set_state(&lea.key, AccountState::Active).await.unwrap();
    assert!(dir.person(&lea.key).await.unwrap().unwrap().is_active());

    // Changing someone who is not there is a conflict, on both backends.
    let ghost = PersonKey::new("02", "9999");
    assert!(matches!(
        dir.set_state(&ghost, AccountState::Active).await,
        Err(BackendError::Conflict(_))
    ));
    assert!(matches!(
        dir.set_password(&ghost, "h".into(), at).await,
        Err(BackendError::Conflict(_))
    ));

    dir.ping().await.unwrap();

    // Whole walks (exports) see everyone and every reference entry.
    let mut logins = Vec::new();
    scan.for_each_person(&mut |p| {
        logins.push(p.login.clone());
        Ok(())
    })
    .unwrap();
    logins.sort();
    assert_eq!(
        logins,
        [
            "lea.dupont",
            "nathalie.petit",
            "odd.key",
            "paul.martin",
            "sophie.dupont"
        ]
    );
    let mut keys = Vec::new();
    scan.for_each_reference(&mut |e| {
        keys.push(e.key.clone());
        Ok(())
    })
    .unwrap();
    keys.sort();
    let mut expected: Vec<EntryKey> = references.iter().map(|e| e.key.clone()).collect();
    expected.sort();
    assert_eq!(keys, expected);
    // A failing callback stops the walk with its error.
    let r = scan.for_each_person(&mut |_| Err(BackendError::Conflict("stop".into())));
    assert!(matches!(r, Err(BackendError::Conflict(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_directory_keeps_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = EmbeddedDirectory::open(&tmp.path().join("d.redb")).unwrap();
    let (people, references) = fixtures();
    let mut txn = dir.begin().unwrap();
    for p in &people {
        txn.put_person(p).unwrap();
    }
    for e in &references {
        txn.put_reference(e).unwrap();
    }
    txn.commit().unwrap();
    contract(&dir, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_directory_keeps_the_contract() {
    let server = Slapd::start();
    let (idp, admin) = on_ldap(&server);
    let (people, references) = fixtures();
    for p in &people {
        admin.put_person(p).await.unwrap();
    }
    for e in &references {
        admin.put_reference(e).await.unwrap();
    }
    contract(&idp, &idp).await;
}

/// The ACLs of the README: the IdP's account reads people (the hash it verifies included)
/// and changes its own attributes, not the AAF data; an anonymous client sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idp_account_writes_only_its_own_attributes() {
    let server = Slapd::start();
    let (idp, admin) = on_ldap(&server);
    let (people, _) = fixtures();
    let lea = &people[0];
    admin.put_person(lea).await.unwrap();
    let dn = format!("ENTIdpPersonKey=02$5001,ou=people,{}", slapd::BASE_DN);
    let as_idp = Some((slapd::IDP_DN, slapd::IDP_PASSWORD));
    assert!(server
        .ldapsearch_as(as_idp, &dn)
        .contains("ENTIdpActivationCode: K7MPQ2XW9R"));
    assert_eq!(server.ldapsearch_as(None, &dn), "");
    // Its own attributes: yes (through the directory and by hand).
    idp.set_state(&lea.key, AccountState::Active).await.unwrap();
    let own = format!(
        "dn: {dn}\nchangetype: modify\nreplace: ENTIdpAccountState\nENTIdpAccountState: active\n"
    );
    let (ok, out) = server.tool_as("ldapmodify", (slapd::IDP_DN, slapd::IDP_PASSWORD), &own);
    assert!(ok, "{out}");
    // AAF data, or a new entry: no.
    let aaf = format!("dn: {dn}\nchangetype: modify\nreplace: sn\nsn: PIRATE\n");
    let (ok, out) = server.tool_as("ldapmodify", (slapd::IDP_DN, slapd::IDP_PASSWORD), &aaf);
    assert!(!ok && out.contains("Insufficient access"), "{out}");
    assert!(idp.put_person(&people[1]).await.is_err());
    assert_eq!(idp.person(&lea.key).await.unwrap().as_ref(), Some(lea));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_the_idp_cannot_decode_are_corrupt() {
    let server = Slapd::start();
    let (idp, _) = on_ldap(&server);
    let base = slapd::BASE_DN;
    // A person the provisioning created without the IdP's account part.
    server.ldapadd(&format!(
        "dn: uid=ghost,ou=people,{base}\nobjectClass: inetOrgPerson\nobjectClass: ENTPerson\n\
         uid: ghost\ncn: Ghost\nsn: GHOST\nENTPersonLogin: ghost\nENTPersonJointure: 1\n"
    ));
    let r = idp.person_by_login("ghost").await;
    assert!(
        matches!(&r, Err(BackendError::Corrupt(m)) if m.contains("ENTIdpPersonKey")),
        "{r:?}"
    );
    // A state the IdP does not know.
    server.ldapadd(&format!(
        "dn: ENTIdpPersonKey=02$6001,ou=people,{base}\nobjectClass: inetOrgPerson\n\
         objectClass: ENTPerson\nobjectClass: ENTIdpAccount\ncn: X\nsn: X\n\
         ENTPersonLogin: frozen.x\nENTPersonJointure: 6001\nENTIdpPersonKey: 02$6001\n\
         ENTIdpCategory: Eleve\nENTIdpAccountState: frozen\nENTPersonGARIdentifiant: g\n\
         ENTIdpCreatedOn: 20260907000000Z\nENTIdpUpdatedOn: 20260907000000Z\n"
    ));
    let r = idp.person(&PersonKey::new("02", "6001")).await;
    assert!(
        matches!(&r, Err(BackendError::Corrupt(m)) if m.contains("frozen")),
        "{r:?}"
    );
    // Two entries with one login.
    server.ldapadd(&format!(
        "dn: uid=ghost2,ou=people,{base}\nobjectClass: inetOrgPerson\nobjectClass: ENTPerson\n\
         uid: ghost2\ncn: Ghost\nsn: GHOST\nENTPersonLogin: ghost\nENTPersonJointure: 2\n"
    ));
    let r = idp.person_by_login("ghost").await;
    assert!(
        matches!(&r, Err(BackendError::Corrupt(m)) if m.contains("2 LDAP entries")),
        "{r:?}"
    );
    // A walk stops at the undecodable entry with the same error.
    let r = idp.for_each_person(&mut |_| Ok(()));
    assert!(matches!(r, Err(BackendError::Corrupt(_))), "{r:?}");
}

/// Polls `check` until it holds, for at most 10 s (no assertion on how fast).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ldap_down_is_unavailable_and_its_return_is_picked_up() {
    let mut server = Slapd::start();
    let (idp, admin) = on_ldap(&server);
    let (people, _) = fixtures();
    admin.put_person(&people[0]).await.unwrap();
    assert!(idp.person_by_login("lea.dupont").await.unwrap().is_some());
    server.stop();
    assert!(matches!(
        idp.ping().await,
        Err(BackendError::Unavailable(_))
    ));
    assert!(matches!(
        idp.person_by_login("lea.dupont").await,
        Err(BackendError::Unavailable(_))
    ));
    assert!(matches!(
        idp.set_state(&people[0].key, AccountState::Active).await,
        Err(BackendError::Unavailable(_))
    ));
    server.restart();
    eventually("the directory answers again", || async {
        idp.ping().await.is_ok()
    })
    .await;
    let p = idp.person_by_login("lea.dupont").await.unwrap().unwrap();
    assert_eq!(p, people[0]);
}

/// From async code too (the directory's own runtime is dropped there on failure).
#[tokio::test]
async fn connecting_to_nothing_or_with_a_bad_password_is_an_error_not_a_panic() {
    let mut cfg = LdapConfig {
        url: format!("ldap://127.0.0.1:{}", free_port()),
        bind_dn: slapd::IDP_DN.into(),
        bind_password: "Wrong-Pass-Zq9".into(),
        base_dn: slapd::BASE_DN.into(),
        connect_timeout: Duration::from_millis(300),
        op_timeout: Duration::from_millis(300),
        connections: 1,
        starttls: false,
    };
    assert!(matches!(
        LdapDirectory::connect(cfg.clone()),
        Err(BackendError::Unavailable(_))
    ));
    let server = Slapd::start();
    cfg.url = server.url();
    let Err(BackendError::Unavailable(msg)) = LdapDirectory::connect(cfg.clone()) else {
        panic!("a wrong password was accepted");
    };
    assert!(msg.contains("bind"), "{msg}");
    assert!(!msg.contains(&cfg.bind_password), "{msg}");
    assert!(!format!("{cfg:?}").contains("Wrong-Pass-Zq9"));
    cfg.bind_password = slapd::IDP_PASSWORD.into();
    cfg.base_dn = "dc=elsewhere,dc=test".into();
    let Err(BackendError::Unavailable(msg)) = LdapDirectory::connect(cfg) else {
        panic!("a base that does not exist was accepted");
    };
    assert!(msg.contains("dc=elsewhere"), "{msg}");
}

/// `ent-idp.ldif` (cn=config form) loads, over Debian's core, cosine and inetorgperson.
#[test]
fn the_cn_config_schema_loads() {
    let slapadd = idp_tests::procs::require("/usr/sbin/slapadd", "slapd");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("slapd.d");
    std::fs::create_dir(&cfg).unwrap();
    let mut ldif = String::from(
        "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n\n\
         dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n",
    );
    let ours = slapd::schema_path().with_extension("ldif");
    for f in [
        std::path::PathBuf::from("/etc/ldap/schema/core.ldif"),
        "/etc/ldap/schema/cosine.ldif".into(),
        "/etc/ldap/schema/inetorgperson.ldif".into(),
        ours,
    ] {
        ldif.push_str(&std::fs::read_to_string(&f).unwrap());
        ldif.push('\n');
    }
    let file = tmp.path().join("config.ldif");
    std::fs::write(&file, ldif).unwrap();
    let mut cmd = std::process::Command::new(&slapadd);
    cmd.args(["-n0", "-F"]).arg(&cfg).arg("-l").arg(&file);
    let (ok, out, err) = run_with_timeout(cmd, Duration::from_secs(20));
    assert!(ok, "{out}\n{err}");
    let schema = cfg.join("cn=config/cn=schema");
    let loaded: Vec<String> = std::fs::read_dir(&schema)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        loaded.iter().any(|n| n.ends_with("ent-idp.ldif")),
        "{loaded:?}"
    );
    // Every definition of the slapd.conf form is in the cn=config form.
    let conf = std::fs::read_to_string(slapd::schema_path()).unwrap();
    let ldif = std::fs::read_to_string(slapd::schema_path().with_extension("ldif")).unwrap();
    assert_eq!(
        conf.matches("\nattributetype (").count(),
        ldif.matches("\nolcAttributeTypes: (").count()
    );
    assert_eq!(
        conf.matches("\nobjectclass (").count(),
        ldif.matches("\nolcObjectClasses: (").count()
    );
}

fn sample_files(kind: &str) -> tempfile::TempDir {
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/aaf-sample");
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&sample).unwrap() {
        let f = f.unwrap().path();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains(kind) && name.ends_with(".xml") {
            std::fs::copy(&f, dir.path().join(name)).unwrap();
        }
    }
    dir
}

fn import_opts(today: time::Date) -> ImportOptions {
    ImportOptions {
        academie: None,
        today,
        retention_days: 365,
        progress: false,
    }
}

/// People of a directory by key, with what each import draws at random (GAR identifier,
/// activation code) blanked, and `cn` left out when the entry only has it because
/// inetOrgPerson requires it.
fn people_of(scan: &dyn DirectoryScan) -> std::collections::BTreeMap<PersonKey, Person> {
    let mut out = std::collections::BTreeMap::new();
    scan.for_each_person(&mut |p| {
        let mut p = p.clone();
        p.gar_id.clear();
        p.credentials.activation_code = p.credentials.activation_code.map(|_| "code".into());
        if p.attributes.values("cn") == [p.display_name().trim().to_owned()] {
            p.attributes.replace("cn", Vec::new());
        }
        out.insert(p.key.clone(), p);
        Ok(())
    })
    .unwrap();
    out
}

fn references_of(scan: &dyn DirectoryScan) -> Vec<ReferenceEntry> {
    let mut out = Vec::new();
    scan.for_each_reference(&mut |e| {
        out.push(e.clone());
        Ok(())
    })
    .unwrap();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The real importer into LDAP gives what it gives into the embedded directory; a re-run
/// changes nothing; a Delta applies the same way and keeps a password set meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aaf_import_into_ldap_matches_the_embedded_import_and_converges() {
    let server = Slapd::start();
    let (idp, admin) = on_ldap(&server);
    let tmp = tempfile::tempdir().unwrap();
    let embedded = EmbeddedDirectory::open(&tmp.path().join("d.redb")).unwrap();
    let complet = sample_files("_Complet_");
    let delta = sample_files("_Delta_");
    let day1 = date!(2026 - 09 - 07);
    let day2 = date!(2026 - 09 - 08);
    let paths = [complet.path().to_owned()];

    let into_embedded = import_paths(&embedded, &paths, &import_opts(day1)).unwrap();
    let into_ldap =
        tokio::task::block_in_place(|| import_paths(&admin, &paths, &import_opts(day1)).unwrap());
    assert!(into_ldap.total_changes() >= 20, "{into_ldap}");
    assert_eq!(into_ldap.total_changes(), into_embedded.total_changes());
    assert_eq!(people_of(&idp), people_of(&embedded));
    assert_eq!(references_of(&idp), references_of(&embedded));

    // The same delivery again: nothing to do, nothing changed (GAR ids kept).
    let mut gar_before = Vec::new();
    idp.for_each_person(&mut |p| {
        gar_before.push(p.gar_id.clone());
        Ok(())
    })
    .unwrap();
    let again =
        tokio::task::block_in_place(|| import_paths(&admin, &paths, &import_opts(day1)).unwrap());
    assert_eq!(again.total_changes(), 0, "{again}");
    let mut gar_after = Vec::new();
    idp.for_each_person(&mut |p| {
        gar_after.push(p.gar_id.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(gar_before, gar_after);

    // A password set by the server, then the Delta: both directories alike, password kept.
    let someone = people_of(&idp).into_values().next().unwrap();
    let at = datetime!(2026-09-07 20:00 UTC);
    idp.set_password(&someone.key, "$argon2id$kept".into(), at)
        .await
        .unwrap();
    embedded
        .set_password(&someone.key, "$argon2id$kept".into(), at)
        .await
        .unwrap();
    let paths = [delta.path().to_owned()];
    let d_embedded = import_paths(&embedded, &paths, &import_opts(day2)).unwrap();
    let d_ldap =
        tokio::task::block_in_place(|| import_paths(&admin, &paths, &import_opts(day2)).unwrap());
    assert!(d_ldap.total_changes() > 0, "{d_ldap}");
    assert_eq!(d_ldap.total_changes(), d_embedded.total_changes());
    assert_eq!(people_of(&idp), people_of(&embedded));
    let kept = idp.person(&someone.key).await.unwrap().unwrap();
    assert_eq!(
        kept.credentials.password_hash.as_deref(),
        Some("$argon2id$kept")
    );
}

/// A purge deletes the entry and keeps its login: never given again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purged_login_stays_taken_in_ldap() {
    let server = Slapd::start();
    let (idp, admin) = on_ldap(&server);
    let (people, _) = fixtures();
    tokio::task::block_in_place(|| {
        let mut txn = admin.begin().unwrap();
        txn.put_person(&people[0]).unwrap();
        // A value delivered twice is written once (slapd refuses to add it again).
        let mut twice = people[1].clone();
        twice.key = PersonKey::new("03", "3002");
        twice
            .attributes
            .replace("mail", vec!["p@ent.test".into(), "p@ent.test".into()]);
        txn.put_person(&twice).unwrap();
        // One login, two people: refused, as embedded does.
        let mut thief = people[0].clone();
        thief.key = PersonKey::new("02", "4445");
        assert!(matches!(
            txn.put_person(&thief),
            Err(BackendError::Conflict(_))
        ));
        txn.set_meta("aaf.test", "one").unwrap();
        txn.commit().unwrap();
        let mut txn = admin.begin().unwrap();
        let stored = txn.person(&twice.key).unwrap().unwrap();
        assert_eq!(stored.attributes.values("mail"), ["p@ent.test"]);
        assert_eq!(txn.person_keys("02").unwrap(), vec![people[0].key.clone()]);
        assert_eq!(txn.meta("aaf.test").unwrap().as_deref(), Some("one"));
        txn.remove_person(&people[0].key).unwrap();
        txn.commit().unwrap();
        let txn = admin.begin().unwrap();
        assert!(txn.login_taken("lea.dupont").unwrap());
        assert!(!txn.login_taken("lea.dupont2").unwrap());
        // Exact, as embedded: not the same login under LDAP's string preparation.
        assert!(!txn.login_taken("lea.dupont ").unwrap());
        assert_eq!(txn.person(&people[0].key).unwrap(), None);
    });
    assert_eq!(idp.person_by_login("lea.dupont").await.unwrap(), None);
}

/// An entry where the import would add a person, but not the IdP's (no `ENTIdpAccount`):
/// the commit stops with a conflict and leaves it as it was, instead of replacing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_does_not_replace_an_entry_that_is_not_the_idps() {
    let server = Slapd::start();
    let (_, admin) = on_ldap(&server);
    let dn = format!("ENTIdpPersonKey=02$5001,ou=people,{}", slapd::BASE_DN);
    server.ldapadd(&format!(
        "dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: ENTPerson\n\
         objectClass: extensibleObject\nENTIdpPersonKey: 02$5001\ncn: P\nsn: PROVISIONED\n\
         ENTPersonLogin: provisioned\nENTPersonJointure: 5001\n"
    ));
    let (people, _) = fixtures();
    let r = tokio::task::block_in_place(|| {
        let mut txn = admin.begin().unwrap();
        txn.put_person(&people[0]).unwrap();
        txn.commit()
    });
    assert!(matches!(&r, Err(BackendError::Conflict(_))), "{r:?}");
    let as_admin = Some((slapd::ROOT_DN, slapd::ROOT_PASSWORD));
    let entry = server.ldapsearch_as(as_admin, &dn);
    assert!(entry.contains("sn: PROVISIONED"), "{entry}");
}

/// The real IdP over LDAP (settings → `app::open_directory`): a person a provisioning tool
/// wrote (plain LDIF) logs in through the form, and a CAS service ticket validates; slapd
/// down gives "unavailable" pages, and logins work again once it is back.
#[test]
fn a_cas_login_against_the_ldap_directory() {
    let mut server = Slapd::start();
    let app_url = "http://127.0.0.1:9/app/";
    let mut svc = CasService::pronote_like("app", app_url);
    svc.single_logout = false;
    let registry = TestRegistry::new();
    let domain = registry.publish(&[svc]);
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = idp_tests::test_settings();
    settings.federation.domains = vec![domain];
    settings.directory.path = tmp.path().join("directory.redb");
    settings.audit.path = tmp.path().join("audit.log");
    settings.directory.backend = "ldap".into();
    settings.directory.ldap_url = server.url();
    settings.directory.ldap_base_dn = slapd::BASE_DN.into();
    settings.directory.ldap_bind_dn = slapd::IDP_DN.into();
    settings.directory.ldap_bind_password = idp::settings::Secret::new(slapd::IDP_PASSWORD);
    settings.directory.ldap_timeout_ms = 1000;

    let password = "Cheval-Batterie-7";
    let hash = PasswordHasher::new(&settings.passwords)
        .unwrap()
        .hash(password)
        .unwrap();
    server.ldapadd(&format!(
        "dn: ENTIdpPersonKey=02$5001,ou=people,{base}\n\
         objectClass: inetOrgPerson\nobjectClass: ENTEleve\nobjectClass: ENTIdpAccount\n\
         cn: Léa DUPONT\nsn: DUPONT\ngivenName: Léa\n\
         ENTPersonLogin: lea.dupont\nENTPersonJointure: 5001\n\
         ENTPersonStructRattach: 9001\nENTEleveClasses: 9001$2NDE A\n\
         ENTIdpPersonKey: 02$5001\nENTIdpCategory: Eleve\nENTIdpAccountState: active\n\
         ENTPersonGARIdentifiant: 5d1c0b7e-gar\n\
         ENTIdpCreatedOn: 20260907000000Z\nENTIdpUpdatedOn: 20260907000000Z\n\
         ENTIdpPasswordHash: {hash}\n",
        base = slapd::BASE_DN
    ));

    let handles = app::open_directory(&settings).unwrap();
    let backends = Backends::with(
        handles.reader,
        Arc::new(MemoryAudit::default()),
        Arc::new(SystemClock),
    );
    let server_idp = app::spawn(&settings, backends, "127.0.0.1:0").unwrap();
    let url = server_idp.url();
    assert_eq!(get(&format!("{url}/readyz")).0, 200);

    let b = Browser::new(&url);
    let login_url = format!("/login?service={}", encode(app_url));
    let form = b.get(&login_url);
    assert_eq!(form.status, 200, "{}", form.body);
    // A wrong password, then a filter attempt: refused like any unknown login.
    for (login, pw) in [("lea.dupont", "wrong-password"), ("*", password)] {
        let res = b.post_form(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("login", login),
                ("password", pw),
                ("service", app_url),
            ],
        );
        assert_eq!(res.status, 200, "{login}: {}", res.body);
        assert!(!b.logged_in());
    }
    let form = b.get(&login_url);
    let res = b.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", "lea.dupont"),
            ("password", password),
            ("service", app_url),
        ],
    );
    assert_eq!(res.status, 302, "{}", res.body);
    let st = ticket_in(res.location().unwrap());
    let (status, body) = get(&format!(
        "{url}/p3/serviceValidate?service={}&ticket={}",
        encode(app_url),
        encode(&st)
    ));
    assert_eq!(status, 200);
    assert!(body.contains("<cas:user>lea.dupont</cas:user>"), "{body}");

    // slapd down: "unavailable" (503), not an error page; back: logins work again.
    server.stop();
    assert_eq!(get(&format!("{url}/readyz")).0, 503);
    let b2 = Browser::new(&url);
    let form = b2.get("/login");
    let res = b2.post_form(
        "/login",
        &[
            ("csrf", &form.csrf()),
            ("login", "lea.dupont"),
            ("password", password),
        ],
    );
    assert_eq!(res.status, 503, "{}", res.body);
    server.restart();
    let start = Instant::now();
    while get(&format!("{url}/readyz")).0 != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "slapd never came back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    b2.login_ok("lea.dupont", password);
}

/// A whole walk goes past slapd's default size limit (500 entries per search) a page at a
/// time, under the `limits` line of the README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_pages_past_the_size_limit() {
    let server = Slapd::start();
    let (idp, admin) = on_ldap(&server);
    let (people, _) = fixtures();
    for i in 0..1100 {
        let mut p = people[1].clone();
        p.key = PersonKey::new("02", format!("{}", 100_000 + i));
        p.login = format!("prof{i}");
        p.attributes
            .replace("ENTPersonJointure", vec![p.key.jointure.clone()]);
        admin.put_person(&p).await.unwrap();
    }
    let mut n = 0;
    tokio::task::block_in_place(|| {
        idp.for_each_person(&mut |_| {
            n += 1;
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(n, 1100);
}
