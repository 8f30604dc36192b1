//! Unit tests of the agreement's date rules.

use super::*;
use time::macros::date;

fn service(terms: AgreementTerms, start: Date) -> Service {
    Service {
        id: "s".into(),
        name: "S".into(),
        description: String::new(),
        organisation: Organisation {
            name: "O".into(),
            display_name: None,
            url: "https://o.example".into(),
        },
        contacts: vec![],
        commitments: ServiceCommitments::default(),
        membership: MembershipState::Approved,
        agreement: Agreement {
            terms,
            requested_on: None,
            signed_on: None,
            start: Some(start),
            renewals: vec![],
            termination: None,
        },
        costs: String::new(),
        ui: UiInfo::default(),
        protocol: Protocol::Cas(CasSettings {
            service_patterns: vec![ServiceUrlPattern::Exact("https://s.example/".into())],
            proxy_callbacks: vec![],
            user_attribute: "login".into(),
            single_logout: true,
        }),
        releases: vec![],
    }
}

const ATRIUM: AgreementTerms = AgreementTerms {
    initial_duration_months: 36,
    tacit_renewal_months: Some(36),
    notice_months: 6,
    access_until_end_of_school_year: true,
};

#[test]
fn add_months_clamps_to_month_end() {
    assert_eq!(add_months(date!(2025 - 01 - 31), 1), date!(2025 - 02 - 28));
    assert_eq!(add_months(date!(2024 - 01 - 31), 1), date!(2024 - 02 - 29));
    assert_eq!(add_months(date!(2025 - 09 - 01), 36), date!(2028 - 09 - 01));
    assert_eq!(add_months(date!(2025 - 11 - 15), 3), date!(2026 - 02 - 15));
}

#[test]
fn school_year_ends_on_31_august() {
    assert_eq!(
        end_of_school_year(date!(2026 - 03 - 10)),
        date!(2026 - 08 - 31)
    );
    assert_eq!(
        end_of_school_year(date!(2026 - 08 - 31)),
        date!(2026 - 08 - 31)
    );
    assert_eq!(
        end_of_school_year(date!(2026 - 09 - 01)),
        date!(2027 - 08 - 31)
    );
}

#[test]
fn pending_not_started_active_and_tacit_renewal() {
    let mut s = service(ATRIUM, date!(2025 - 09 - 01));
    assert_eq!(s.status_at(date!(2025 - 08 - 31)), MemberStatus::NotStarted);
    assert_eq!(s.status_at(date!(2025 - 09 - 01)), MemberStatus::Active);
    // Tacitly renewed well past the initial three years.
    assert_eq!(s.status_at(date!(2035 - 01 - 01)), MemberStatus::Active);
    assert_eq!(
        s.agreement.current_period_end(date!(2029 - 01 - 01)),
        Some(date!(2031 - 08 - 31))
    );
    s.membership = MembershipState::Pending;
    assert_eq!(s.status_at(date!(2026 - 01 - 01)), MemberStatus::Pending);
    assert!(!s.grants_access_at(date!(2026 - 01 - 01)));
}

#[test]
fn without_tacit_renewal_it_ends_unless_renewed() {
    let terms = AgreementTerms {
        initial_duration_months: 48,
        tacit_renewal_months: None,
        notice_months: 3,
        access_until_end_of_school_year: false,
    };
    let mut s = service(terms, date!(2022 - 09 - 01));
    assert_eq!(s.status_at(date!(2026 - 08 - 31)), MemberStatus::Active);
    assert_eq!(
        s.status_at(date!(2026 - 09 - 01)),
        MemberStatus::Gone {
            since: date!(2026 - 09 - 01)
        }
    );
    s.agreement.renewals.push(Renewal {
        on: date!(2026 - 06 - 01),
        months: 12,
    });
    assert_eq!(s.status_at(date!(2027 - 08 - 31)), MemberStatus::Active);
    assert!(!s.grants_access_at(date!(2027 - 09 - 01)));
}

#[test]
fn leave_honours_notice_and_school_year() {
    let mut s = service(ATRIUM, date!(2025 - 09 - 01));
    // Asked on 10 Jan 2026 to leave on 1 Feb 2026: notice runs to 10 Jul 2026, school year
    // to 31 Aug 2026.
    s.agreement.termination = Some(Termination {
        requested_on: date!(2026 - 01 - 10),
        on: date!(2026 - 02 - 01),
        reason: String::new(),
    });
    assert_eq!(s.status_at(date!(2026 - 01 - 09)), MemberStatus::Active);
    let leaving = MemberStatus::Leaving {
        until: date!(2026 - 08 - 31),
    };
    assert_eq!(s.status_at(date!(2026 - 01 - 10)), leaving);
    assert_eq!(s.status_at(date!(2026 - 08 - 31)), leaving);
    assert_eq!(
        s.status_at(date!(2026 - 09 - 01)),
        MemberStatus::Gone {
            since: date!(2026 - 09 - 01)
        }
    );

    // Without the school-year rule: the notice alone.
    s.agreement.terms.access_until_end_of_school_year = false;
    assert_eq!(
        s.status_at(date!(2026 - 07 - 10)),
        MemberStatus::Leaving {
            until: date!(2026 - 07 - 10)
        }
    );
    assert!(!s.grants_access_at(date!(2026 - 07 - 11)));

    // A requested date later than the notice wins.
    s.agreement.termination = Some(Termination {
        requested_on: date!(2026 - 01 - 10),
        on: date!(2026 - 12 - 31),
        reason: String::new(),
    });
    assert_eq!(s.agreement.termination_end(), Some(date!(2026 - 12 - 31)));
}

#[test]
fn service_url_patterns() {
    let p = ServiceUrlPattern::Prefix("https://pronote.example.fr/pronote/".into());
    assert!(p.matches("https://pronote.example.fr/pronote/eleve.html?x=1"));
    assert!(!p.matches("https://pronote.example.fr.evil/pronote/"));
    let r =
        ServiceUrlPattern::Regex(r"^https://moodle\.example\.fr/login/index\.php(\?.*)?$".into());
    assert!(r.matches("https://moodle.example.fr/login/index.php?authCAS=CAS"));
    assert!(!r.matches("https://moodle.example.fr/login/index.php.evil"));
}

#[test]
fn dates_read_from_bare_toml_dates_and_strings() {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(with = "dates::required")]
        a: Date,
        #[serde(default, with = "dates::option")]
        b: Option<Date>,
        #[serde(default, with = "dates::option")]
        c: Option<Date>,
    }
    let t: T = toml::from_str("a = 2025-09-01\nb = \"2026-01-02\"\n").unwrap();
    assert_eq!(t.a, date!(2025 - 09 - 01));
    assert_eq!(t.b, Some(date!(2026 - 01 - 02)));
    assert_eq!(t.c, None);
    assert!(toml::from_str::<T>("a = 2025-13-01").is_err());
}
