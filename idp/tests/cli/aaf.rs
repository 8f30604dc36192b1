//! `idp aaf ...`.

use super::{idp, ok, sample};

#[test]
fn import_writes_a_report_and_codes_export_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("r.json");
    let sample = sample();
    let out = ok(
        tmp.path(),
        &[
            "aaf",
            "import",
            "--today",
            "2026-09-08",
            "--report",
            report.to_str().unwrap(),
            sample.to_str().unwrap(),
        ],
    );
    assert!(out.contains("applied: Delta 20260908"), "{out}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["counts"]["Eleve"]["added"], 7);
    assert_eq!(json["counts"]["Eleve"]["deleted"], 1);
    assert_eq!(json["person_records"], 21);

    // Without --report: a timestamped file in aaf.report_dir.
    ok(
        tmp.path(),
        &[
            "aaf",
            "import",
            "--today",
            "2026-09-08",
            sample.to_str().unwrap(),
        ],
    );
    let reports: Vec<_> = std::fs::read_dir(tmp.path().join("reports"))
        .unwrap()
        .collect();
    assert_eq!(reports.len(), 1);

    let csv = ok(
        tmp.path(),
        &["aaf", "codes", "--uai", "0139999Y", "--class", "2NDE A"],
    );
    let logins: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(6).unwrap())
        .collect();
    assert_eq!(
        logins,
        vec![
            "julien.bernard",
            "claire.dupont",
            "lea.dupont",
            "marc.dupont",
            "anne.lefevre",
            "chloe.lefevre"
        ]
    );
}

#[test]
fn a_refused_delivery_exits_non_zero_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let delivery = tmp.path().join("in");
    std::fs::create_dir(&delivery).unwrap();
    for f in std::fs::read_dir(sample()).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, delivery.join(f.file_name().unwrap())).unwrap();
    }
    let broken = delivery.join("ENTDEMO_Delta_20260908_Eleve_0000.xml");
    let text = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(&broken, text.replace("<id>5006</id>", "<id>5998</id>")).unwrap();
    let out = idp(
        tmp.path(),
        &[
            "aaf",
            "import",
            "--today",
            "2026-09-08",
            delivery.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "ENTDEMO_Delta_20260908_Eleve_0000.xml, line 16: delete of unknown Eleve 5998"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn a_generated_delivery_imports_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let gen = tmp.path().join("gen");
    let out = ok(
        tmp.path(),
        &[
            "aaf",
            "generate",
            "--persons",
            "3000",
            "--out",
            gen.to_str().unwrap(),
            "--seed",
            "7",
            "--date",
            "2026-09-07",
            "--part-size",
            "500",
            "--delta",
        ],
    );
    assert!(out.contains("2100 pupils"), "{out}");
    let names: Vec<String> = std::fs::read_dir(&gen)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"ENTGEN_Complet_20260907_Eleve_0004.xml".to_string()),
        "{names:?}"
    );
    assert!(names
        .iter()
        .any(|n| n.starts_with("ENTGEN_Delta_20260908_Eleve_")));

    let report = tmp.path().join("r.json");
    ok(
        tmp.path(),
        &[
            "aaf",
            "import",
            "--today",
            "2026-09-08",
            "--report",
            report.to_str().unwrap(),
            gen.to_str().unwrap(),
        ],
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["counts"]["Eleve"]["added"], 2100);
    assert_eq!(json["counts"]["PersRelEleve"]["added"], 720);
    assert_eq!(json["counts"]["PersEducNat"]["added"], 180);
    assert!(json["counts"]["Eleve"]["deleted"].as_u64().unwrap() > 0);
    assert!(json["counts"]["Eleve"]["modified"].as_u64().unwrap() > 0);
    // Homonyms got numbered logins.
    let csv = ok(tmp.path(), &["aaf", "codes"]);
    assert!(csv.lines().any(|l| l
        .split(',')
        .nth(6)
        .is_some_and(|login| login.ends_with('2'))));
}
