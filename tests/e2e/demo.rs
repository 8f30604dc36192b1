//! `idp demo`: its AAF delivery imports and a printed account logs in.

use std::sync::Arc;

use idp::backends::directory::embedded::EmbeddedDirectory;
use idp::cli::demo::{self, Secret};
use idp::ports::{Clock, SystemClock};
use idp_tests::{test_settings, TestIdp};

#[test]
fn demo_data_loads_and_demo_accounts_log_in() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo-data");
    let settings = demo::settings_for(test_settings(), &data, "127.0.0.1:0");
    let (directory, accounts) = demo::prepare(&settings, SystemClock.today()).unwrap();
    assert!(accounts.len() >= 5);
    assert!(accounts
        .iter()
        .any(|a| matches!(a.secret, Secret::ActivationCode(_))));
    // A second run starts afresh in the same folder.
    drop(directory);
    let (directory, accounts) = demo::prepare(&settings, SystemClock.today()).unwrap();
    drop(directory);

    let dir = Arc::new(EmbeddedDirectory::open(&settings.directory.path).unwrap());
    let idp = TestIdp::serve(tmp, settings, dir);
    for a in &accounts {
        let b = idp.browser();
        match &a.secret {
            Secret::Password(p) => {
                let home = b.login_ok(&a.login, p);
                assert!(home.body.contains(&a.name), "{}", home.body);
                assert!(home.body.contains("VALBRUNE") || home.body.contains("SAINT-AUBIN"));
            }
            Secret::ActivationCode(c) => {
                let res = b.login(&a.login, c);
                assert_eq!(res.location(), Some("/activate"), "{}", res.body);
            }
        }
    }
    // The pupil's page shows the lycée, its UAI and the class.
    let lea = accounts.iter().find(|a| a.login == "lea.fontaine").unwrap();
    let Secret::Password(p) = &lea.secret else {
        panic!()
    };
    let home = idp.browser().login_ok(&lea.login, p);
    assert!(home.body.contains("0999001A"), "{}", home.body);
    assert!(home.body.contains("2NDE 1"));
    // The parent sees both children and their schools.
    let sophie = accounts
        .iter()
        .find(|a| a.login == "sophie.fontaine")
        .unwrap();
    let Secret::Password(p) = &sophie.secret else {
        panic!()
    };
    let home = idp.browser().login_ok(&sophie.login, p);
    assert!(home.body.contains("Parent ou responsable légal"));
    assert!(home.body.contains("Léa FONTAINE") && home.body.contains("Chloé FONTAINE"));
    assert!(home.body.contains("0999001A") && home.body.contains("0999002B"));
}
