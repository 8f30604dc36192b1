//! Membership over time: approve, leave (notice, end of school year), tacit and explicit
//! renewal, on chosen dates; files keep their comments; the CLI reports statuses.

use federation_metadata::lifecycle::{self, LifecycleError};
use federation_metadata::model::MemberStatus;
use federation_metadata::source::load_domain;
use time::macros::date;
use time::Date;

use super::common::*;

fn status(d: &Domain, id: &str, at: Date) -> MemberStatus {
    let domain = load_domain(&d.dir).unwrap();
    domain
        .services
        .iter()
        .find(|s| s.id == id)
        .unwrap()
        .status_at(at)
}

#[test]
fn pending_until_approved_then_active_from_start() {
    let d = Domain::demo();
    assert_eq!(
        status(&d, "moodle", date!(2027 - 01 - 01)),
        MemberStatus::Pending
    );
    lifecycle::approve(&d.dir, "moodle", date!(2026 - 12 - 01)).unwrap();
    assert_eq!(
        status(&d, "moodle", date!(2026 - 11 - 30)),
        MemberStatus::NotStarted
    );
    assert_eq!(
        status(&d, "moodle", date!(2026 - 12 - 01)),
        MemberStatus::Active
    );
    let text = d.read("services/moodle.toml");
    assert!(text.contains("membership = \"approved\""));
    assert!(text.contains("start = 2026-12-01"), "{text}");
    assert!(text.contains("signed_on = 2026-12-01"));
    // Comments survive the edit.
    assert!(text.starts_with("# Moodle of the académie"), "{text}");
    assert!(matches!(
        lifecycle::approve(&d.dir, "moodle", date!(2026 - 12 - 02)),
        Err(LifecycleError::WrongState { .. })
    ));
    assert!(d.problems().is_empty());
}

#[test]
fn approval_refused_while_the_file_is_incomplete() {
    let d = Domain::demo();
    d.edit(
        "services/moodle.toml",
        "name_id_attribute = \"login\"\n",
        "",
    );
    let err = lifecycle::approve(&d.dir, "moodle", date!(2026 - 12 - 01)).unwrap_err();
    assert!(err.to_string().contains("name_id_attribute"), "{err}");
    assert!(d
        .read("services/moodle.toml")
        .contains("membership = \"pending\""));
}

#[test]
fn tacit_renewal_keeps_a_member_active() {
    let d = Domain::demo();
    // GAR: from 2025-09-01, 3 years then tacitly by 3 years.
    assert_eq!(
        status(&d, "gar", date!(2025 - 08 - 31)),
        MemberStatus::NotStarted
    );
    assert_eq!(
        status(&d, "gar", date!(2025 - 09 - 01)),
        MemberStatus::Active
    );
    assert_eq!(
        status(&d, "gar", date!(2028 - 09 - 01)),
        MemberStatus::Active
    );
    assert_eq!(
        status(&d, "gar", date!(2040 - 01 - 01)),
        MemberStatus::Active
    );
    assert!(matches!(
        lifecycle::renew(&d.dir, "gar", date!(2028 - 06 - 01), None),
        Err(LifecycleError::TacitRenewal(_))
    ));
}

#[test]
fn leave_with_notice_and_end_of_school_year() {
    let d = Domain::demo();
    // Asked on 10 January 2027 to leave on 1 February: six months' notice runs to 10 July,
    // and access stays open until the end of that school year, 31 August 2027.
    let last = lifecycle::leave(
        &d.dir,
        "pronote",
        date!(2027 - 01 - 10),
        date!(2027 - 02 - 01),
        "fin du marché",
    )
    .unwrap();
    assert_eq!(last, date!(2027 - 08 - 31));
    assert_eq!(
        status(&d, "pronote", date!(2027 - 01 - 09)),
        MemberStatus::Active
    );
    let leaving = MemberStatus::Leaving {
        until: date!(2027 - 08 - 31),
    };
    assert_eq!(status(&d, "pronote", date!(2027 - 01 - 10)), leaving);
    assert_eq!(status(&d, "pronote", date!(2027 - 07 - 11)), leaving);
    assert_eq!(status(&d, "pronote", date!(2027 - 08 - 31)), leaving);
    assert_eq!(
        status(&d, "pronote", date!(2027 - 09 - 01)),
        MemberStatus::Gone {
            since: date!(2027 - 09 - 01)
        }
    );
    let text = d.read("services/pronote.toml");
    assert!(text.starts_with("# Pronote (school life), a CAS client."));
    assert!(text.contains("[agreement.termination]"), "{text}");
    assert!(d.problems().is_empty());
    // A second leave is refused.
    assert!(lifecycle::leave(
        &d.dir,
        "pronote",
        date!(2027 - 02 - 01),
        date!(2027 - 03 - 01),
        ""
    )
    .is_err());
}

#[test]
fn leave_effective_in_september_keeps_access_for_that_school_year() {
    let d = Domain::demo();
    // Asked 1 June 2027 for 15 June: notice ends 1 December 2027, in school year 2027-2028.
    let last = lifecycle::leave(
        &d.dir,
        "gar",
        date!(2027 - 06 - 01),
        date!(2027 - 06 - 15),
        "",
    )
    .unwrap();
    assert_eq!(last, date!(2028 - 08 - 31));
}

#[test]
fn leave_without_the_school_year_rule_ends_after_notice() {
    let d = Domain::demo();
    d.edit(
        "services/gar.toml",
        "access_until_end_of_school_year = true",
        "access_until_end_of_school_year = false",
    );
    let last = lifecycle::leave(
        &d.dir,
        "gar",
        date!(2027 - 01 - 10),
        date!(2027 - 02 - 01),
        "",
    )
    .unwrap();
    assert_eq!(last, date!(2027 - 07 - 10));
    assert!(
        status(&d, "gar", date!(2027 - 07 - 10))
            == MemberStatus::Leaving {
                until: date!(2027 - 07 - 10)
            }
    );
    assert_eq!(
        status(&d, "gar", date!(2027 - 07 - 11)),
        MemberStatus::Gone {
            since: date!(2027 - 07 - 11)
        }
    );
    // A requested date beyond the notice wins.
    let d = Domain::demo();
    d.edit(
        "services/gar.toml",
        "access_until_end_of_school_year = true",
        "access_until_end_of_school_year = false",
    );
    let last = lifecycle::leave(
        &d.dir,
        "gar",
        date!(2027 - 01 - 10),
        date!(2027 - 12 - 31),
        "",
    )
    .unwrap();
    assert_eq!(last, date!(2027 - 12 - 31));
}

#[test]
fn a_pending_service_cannot_leave() {
    let d = Domain::demo();
    assert!(matches!(
        lifecycle::leave(
            &d.dir,
            "moodle",
            date!(2027 - 01 - 10),
            date!(2027 - 02 - 01),
            ""
        ),
        Err(LifecycleError::WrongState { .. })
    ));
}

#[test]
fn explicit_renewal_without_tacit_renewal() {
    let d = Domain::demo();
    // Communes' style: four years, no tacit renewal (here: removed), three months' notice.
    let text = d.read("services/gar.toml");
    let text = text.replace(
        "initial_duration_months = 36\ntacit_renewal_months = 36\nnotice_months = 6",
        "initial_duration_months = 48\nnotice_months = 3",
    );
    d.write("services/gar.toml", &text);
    assert_eq!(
        status(&d, "gar", date!(2029 - 08 - 31)),
        MemberStatus::Active
    );
    assert_eq!(
        status(&d, "gar", date!(2029 - 09 - 01)),
        MemberStatus::Gone {
            since: date!(2029 - 09 - 01)
        }
    );
    let last = lifecycle::renew(&d.dir, "gar", date!(2029 - 06 - 01), Some(12)).unwrap();
    assert_eq!(last, date!(2030 - 08 - 31));
    assert_eq!(
        status(&d, "gar", date!(2030 - 08 - 31)),
        MemberStatus::Active
    );
    assert_eq!(
        status(&d, "gar", date!(2030 - 09 - 01)),
        MemberStatus::Gone {
            since: date!(2030 - 09 - 01)
        }
    );
    assert!(d
        .read("services/gar.toml")
        .contains("[[agreement.renewals]]"));
    assert!(d.problems().is_empty());
}

#[test]
fn cli_status_approve_leave() {
    let d = Domain::demo();
    let out = d.fedmeta(&["status", "--at", "2026-11-27"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stdout(&out);
    assert!(s.contains("gar           SAML  access     active"), "{s}");
    assert!(s.contains("moodle        SAML  no access  pending"), "{s}");
    let out = d.fedmeta(&["approve", "moodle", "--on", "2026-12-01"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = d.fedmeta(&["status", "--at", "2026-12-01"]);
    assert!(
        stdout(&out).contains("moodle        SAML  access     active"),
        "{}",
        stdout(&out)
    );
    let out = d.fedmeta(&["leave", "nobody", "--on", "2030-01-01"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no service \"nobody\""),
        "{}",
        stderr(&out)
    );
}
