//! The AAF drop folder the running server imports from: a delivery is taken only once its
//! files stop changing, then moved to `done/`; a refused one goes to `failed/` with the
//! reason, and the directory stays as it was.

use std::path::{Path, PathBuf};

use idp::backends::directory::embedded::EmbeddedDirectory;
use idp::feeds::aaf::ImportOptions;
use idp::feeds::incoming::{DropFolder, IncomingError, ScanOutcome};
use idp::ports::Directory;
use time::macros::{date, datetime};

fn sample_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/aaf-sample"
    ))
}

fn copy_complet(to: &Path) {
    for e in std::fs::read_dir(sample_dir()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("_Complet_") {
            std::fs::copy(&p, to.join(name)).unwrap();
        }
    }
}

fn opts() -> ImportOptions {
    ImportOptions {
        academie: None,
        today: date!(2026 - 09 - 07),
        retention_days: 365,
        progress: false,
    }
}

#[tokio::test]
async fn settled_delivery_is_imported_and_moved_to_done() {
    let tmp = tempfile::tempdir().unwrap();
    let incoming = tmp.path().join("aaf/incoming");
    let dir = EmbeddedDirectory::open(&tmp.path().join("d.redb")).unwrap();
    let mut folder = DropFolder::new(incoming.clone());
    let now = datetime!(2026-09-07 03:30 UTC);

    assert!(matches!(
        folder.scan(&dir, &opts(), now).unwrap(),
        ScanOutcome::Empty
    ));
    copy_complet(&incoming);
    // A hidden file is a transfer in progress: never taken.
    std::fs::write(incoming.join(".ENTDEMO_Delta.part"), "partial").unwrap();
    // First sight: the files may still be arriving.
    assert!(matches!(
        folder.scan(&dir, &opts(), now).unwrap(),
        ScanOutcome::Settling
    ));
    assert!(dir.person_by_login("lea.dupont").await.unwrap().is_none());
    // Unchanged since the last scan: imported.
    match folder.scan(&dir, &opts(), now).unwrap() {
        ScanOutcome::Imported(report) => assert!(report.total_changes() > 0),
        other => panic!("expected an import, got {other:?}"),
    }
    assert!(dir.person_by_login("lea.dupont").await.unwrap().is_some());
    let done = tmp.path().join("aaf/done/20260907T033000");
    assert!(done
        .join("ENTDEMO_Complet_20260907_Eleve_0000.xml")
        .is_file());
    let left: Vec<_> = std::fs::read_dir(&incoming)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from(".ENTDEMO_Delta.part")]);
}

#[tokio::test]
async fn changing_files_are_left_alone_until_they_settle() {
    let tmp = tempfile::tempdir().unwrap();
    let incoming = tmp.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let dir = EmbeddedDirectory::open(&tmp.path().join("d.redb")).unwrap();
    let mut folder = DropFolder::new(incoming.clone());
    let now = datetime!(2026-09-07 03:30 UTC);
    copy_complet(&incoming);
    assert!(matches!(
        folder.scan(&dir, &opts(), now).unwrap(),
        ScanOutcome::Settling
    ));
    // Another file arrives before the next scan: still settling.
    let extra = sample_dir().join("ENTDEMO_Delta_20260908_Eleve_0000.xml");
    std::fs::copy(
        &extra,
        incoming.join("ENTDEMO_Delta_20260908_Eleve_0000.xml"),
    )
    .unwrap();
    assert!(matches!(
        folder.scan(&dir, &opts(), now).unwrap(),
        ScanOutcome::Settling
    ));
    assert!(dir.person_by_login("lea.dupont").await.unwrap().is_none());
}

#[tokio::test]
async fn refused_delivery_goes_to_failed_with_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let incoming = tmp.path().join("aaf/incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    let dir = EmbeddedDirectory::open(&tmp.path().join("d.redb")).unwrap();
    copy_complet(&incoming);
    let eleve = incoming.join("ENTDEMO_Complet_20260907_Eleve_0001.xml");
    let broken = std::fs::read_to_string(&eleve)
        .unwrap()
        .replace("</addRequest>", "</addRequst>");
    std::fs::write(&eleve, broken).unwrap();
    let mut folder = DropFolder::new(incoming.clone());
    let now = datetime!(2026-09-07 03:30 UTC);
    assert!(matches!(
        folder.scan(&dir, &opts(), now).unwrap(),
        ScanOutcome::Settling
    ));
    match folder.scan(&dir, &opts(), now) {
        Err(IncomingError::Refused(why)) => assert!(why.contains("Eleve_0001.xml"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let failed = tmp.path().join("aaf/failed/20260907T033000");
    let error = std::fs::read_to_string(failed.join("error.txt")).unwrap();
    assert!(
        error.contains("ENTDEMO_Complet_20260907_Eleve_0001.xml, line"),
        "{error}"
    );
    assert!(failed
        .join("ENTDEMO_Complet_20260907_Eleve_0000.xml")
        .is_file());
    // Nothing of the refused delivery was applied, not even its valid files.
    assert!(dir.person_by_login("lea.dupont").await.unwrap().is_none());
    assert_eq!(std::fs::read_dir(&incoming).unwrap().count(), 0);
}
