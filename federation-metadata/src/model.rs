//! The registry's data model: one trust domain as data.
//!
//! The same types are read from the human-edited source files (`source`), checked by
//! `validate`, and written into the compiled, signed registry the IdP trusts. So they stay
//! plain serde structs with no behaviour beyond what the agreement itself defines (the
//! membership status over time, [`Service::status_at`]). Every struct denies unknown fields:
//! a misspelt key in a source file is an error with its line, not a silently ignored setting.
//! No field is skipped when serialising (no `skip_serializing_if`, no `flatten`, no internally
//! tagged enum) so that the model also round-trips through non-self-describing formats
//! (postcard) for the compact signed registry.

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

pub mod dates;

/// The version of this model written into every compiled registry. Bump on incompatible
/// changes; additive changes (new optional fields) keep it.
pub const FORMAT_VERSION: u32 = 1;

/// One compiled trust domain: everything the IdP needs to decide whom to trust and what to
/// release, and everything the annex says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    /// [`FORMAT_VERSION`] at compile time.
    pub format_version: u32,
    pub federation: Federation,
    pub identity_provider: IdentityProvider,
    /// The attribute catalogue: what the IdP can produce. Releases refer to it by id.
    pub attributes: Vec<AttributeDefinition>,
    /// Every member, whatever its status; the IdP filters with [`Service::grants_access_at`].
    pub services: Vec<Service>,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// After this instant the registry must not be trusted any more.
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
}

impl Registry {
    /// The catalogue entry with this id.
    pub fn attribute(&self, id: &str) -> Option<&AttributeDefinition> {
        self.attributes.iter().find(|a| a.id == id)
    }

    /// The service with this id (slug).
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The SAML service with this entityID.
    pub fn saml_service(&self, entity_id: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.saml().is_some_and(|saml| saml.entity_id == entity_id))
    }
}

// ---------------------------------------------------------------------------------------
// The federation (trust domain)
// ---------------------------------------------------------------------------------------

/// The trust domain itself: parties, perimeter, rules, publication. Source: `federation.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Federation {
    /// Slug of the trust domain (`[a-z0-9-]+`), e.g. `region-demo`; also names its folder.
    pub id: String,
    /// Human name, e.g. "Fédération ENT de la Région Démo".
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The organisation that runs the federation (publishes and signs the registry).
    pub operator: Organisation,
    /// Annex part 1: the parties (collectivity, académies, DRAAF...).
    #[serde(default)]
    pub parties: Vec<Party>,
    /// Annex part 2: the perimeter.
    pub perimeter: Perimeter,
    /// Technical standards agreed on (e.g. "SAML 2.0 (saml2int)", "CAS 3.0").
    #[serde(default)]
    pub standards: Vec<String>,
    /// Security rules every member follows.
    #[serde(default)]
    pub security_rules: Vec<String>,
    /// Governance: who handles joins and leaves, rule changes, checks.
    #[serde(default)]
    pub governance: Vec<String>,
    /// Annex part 6: mutual commitments.
    #[serde(default)]
    pub mutual_commitments: Vec<String>,
    /// Annex part 8: costs, for the federation as a whole (each service may add its own).
    #[serde(default)]
    pub costs: String,
    /// Agreement terms copied into a service's file when it joins.
    pub default_terms: AgreementTerms,
    pub publication: Publication,
    /// The federation's signing certificate (PEM). In the source, usually read from
    /// `signing_certificate_file` (relative to the domain folder) by the loader.
    #[serde(default)]
    pub signing_certificate_pem: String,
    /// Source only: the file the PEM above was read from (kept for the record).
    #[serde(default)]
    pub signing_certificate_file: Option<String>,
    /// A demonstration domain: `http://` endpoints are accepted. Never in production.
    #[serde(default)]
    pub demo: bool,
}

/// A party to the agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub role: PartyRole,
    pub name: String,
    /// Who signs for it (e.g. "le Président du Conseil régional").
    #[serde(default)]
    pub represented_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    Collectivity,
    Academie,
    Draaf,
    Operator,
    Other,
}

/// Annex part 2: who the federation covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Perimeter {
    #[serde(default)]
    pub description: String,
    /// Académies, by name (e.g. "Académie de Rennes").
    #[serde(default)]
    pub academies: Vec<String>,
    /// Establishments, by UAI.
    #[serde(default)]
    pub establishments: Vec<Establishment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Establishment {
    /// UAI (RNE): 7 digits and a letter, e.g. `0350001A`.
    pub uai: String,
    pub name: String,
}

/// How the aggregate is published (SAML MDRPI, validUntil, cacheDuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Publication {
    /// `EntitiesDescriptor/@Name`, a URI, e.g. `urn:fr:ent:region-demo`.
    pub aggregate_name: String,
    /// MDRPI `registrationAuthority` / `publisher`: a URI naming the operator.
    pub registration_authority: String,
    /// MDRPI `RegistrationPolicy`: where the registration policy is published.
    pub registration_policy_url: String,
    /// Language of the texts (xml:lang of MDUI/MDRPI), default `fr`.
    #[serde(default = "default_lang")]
    pub lang: String,
    /// `validUntil` = issue instant + this many days.
    pub validity_days: u32,
    /// `cacheDuration`, in hours.
    pub cache_duration_hours: u32,
    /// Where the aggregate will be published, if anywhere (informational).
    #[serde(default)]
    pub url: Option<String>,
}

fn default_lang() -> String {
    "fr".to_owned()
}

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Legal name.
    pub name: String,
    /// Name to show to users, if different.
    #[serde(default)]
    pub display_name: Option<String>,
    pub url: String,
}

impl Organisation {
    pub fn shown_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub kind: ContactKind,
    #[serde(default)]
    pub name: String,
    pub email: String,
    #[serde(default)]
    pub phone: Option<String>,
}

/// Contact kinds. SAML's `contactType` has technical, support, administrative, billing,
/// other; security is REFEDS' `other` + `remd:contactType` security, and the data protection
/// officer is `other` too (the metadata writer maps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Technical,
    Security,
    DataProtectionOfficer,
    Support,
    Administrative,
}

impl ContactKind {
    /// The SAML `ContactPerson/@contactType` for this kind.
    pub fn saml_contact_type(self) -> &'static str {
        match self {
            Self::Technical => "technical",
            Self::Support => "support",
            Self::Administrative => "administrative",
            Self::Security | Self::DataProtectionOfficer => "other",
        }
    }

    /// French label for the annex.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::Technical => "technique",
            Self::Security => "sécurité",
            Self::DataProtectionOfficer => "délégué à la protection des données",
            Self::Support => "assistance",
            Self::Administrative => "administratif",
        }
    }
}

// ---------------------------------------------------------------------------------------
// The identity provider
// ---------------------------------------------------------------------------------------

/// The IdP of the trust domain. Source: `idp.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    /// SAML entityID.
    pub entity_id: String,
    /// Public base URL; SAML and CAS endpoints are under it (`/saml/...`, `/cas/...`).
    pub base_url: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub organisation: Organisation,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Annex part 3.
    pub commitments: IdpCommitments,
    /// The IdP's own SAML signing certificate (PEM); in the source usually read from
    /// `signing_certificate_file`. May be empty when the IdP does SAML with the federation key
    /// (the metadata writer then uses the federation certificate).
    #[serde(default)]
    pub signing_certificate_pem: String,
    /// Source only: the file the PEM above was read from.
    #[serde(default)]
    pub signing_certificate_file: Option<String>,
}

/// What the IdP commits to (ATRIUM annex 2, part 3). Free texts, shown in the annex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdpCommitments {
    /// The unique identifier over the perimeter and its form.
    pub identifier_policy: String,
    /// Logging of every use of the identification/authentication service.
    pub logging: String,
    /// The legal traceability duty.
    pub traceability: String,
    /// How long logs and personal data are kept.
    pub retention: String,
    #[serde(default)]
    pub data_protection: String,
    #[serde(default)]
    pub security: String,
    #[serde(default)]
    pub additional: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// The attribute catalogue
// ---------------------------------------------------------------------------------------

/// One attribute the IdP can produce. Source: `attributes.toml`, `[[attribute]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeDefinition {
    /// Catalogue id (`[a-z0-9_]+`), referred to by `Release::source`.
    pub id: String,
    pub description: String,
    /// What it is computed from in the IdP's directory model.
    pub derives_from: AttributeSource,
    #[serde(default)]
    pub multi_valued: bool,
    /// Personal data under the GDPR (shown in the annex; an anonymous attribute is not).
    pub personal_data: bool,
    /// `urn:oid:...` name, used when a release asks for the `uri` NameFormat without a name.
    #[serde(default)]
    pub oid: Option<String>,
}

/// Where an attribute's values come from in the directory model (`idp::model::Person`).
/// In TOML: `derives_from = "surname"`, or `derives_from = { constant = "ENT-DEMO" }`, or
/// `derives_from = { aaf = "ENTEleveMEF" }` (an AAF attribute kept verbatim on the person).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeSource {
    /// The login the IdP assigned.
    Login,
    /// The stable opaque GAR identifier (`ENTPersonGARIdentifiant`).
    GarId,
    /// The AAF jointure key (`ENTPersonJointure`).
    Jointure,
    Surname,
    GivenName,
    DisplayName,
    /// Birth date (format it with [`ValueFormat`]).
    BirthDate,
    Email,
    /// National profiles, `National_ELV`... (multi-valued).
    Profiles,
    /// The older numeric codes Pronote uses: `National_1` pupil, `_2` parent, `_3` teacher,
    /// `_4` staff.
    ProfilesNumeric,
    /// UAI of the structures the person belongs to.
    StructureUai,
    Classes,
    Groups,
    Mefs,
    Functions,
    PostalCode,
    /// A constant, e.g. the ENT code GAR assigned (`idEnt`).
    Constant(String),
    /// An AAF attribute kept verbatim on the person, by its AAF name.
    Aaf(String),
}

// ---------------------------------------------------------------------------------------
// Services (members)
// ---------------------------------------------------------------------------------------

/// One service provider and its agreement. Source: `services/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Slug (`[a-z0-9-]+`), equal to the file's stem.
    pub id: String,
    /// Display name (also MDUI DisplayName).
    pub name: String,
    /// Description (also MDUI Description).
    #[serde(default)]
    pub description: String,
    pub organisation: Organisation,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Annex part 5.
    pub commitments: ServiceCommitments,
    /// Pending until the federation approves it.
    pub membership: MembershipState,
    pub agreement: Agreement,
    /// Annex part 8, for this service.
    #[serde(default)]
    pub costs: String,
    #[serde(default)]
    pub ui: UiInfo,
    pub protocol: Protocol,
    /// Attributes released to this service (Shibboleth's "filter": only these, ever).
    #[serde(default)]
    pub releases: Vec<Release>,
}

impl Service {
    pub fn saml(&self) -> Option<&SamlSettings> {
        match &self.protocol {
            Protocol::Saml(s) => Some(s),
            Protocol::Cas(_) => None,
        }
    }

    pub fn cas(&self) -> Option<&CasSettings> {
        match &self.protocol {
            Protocol::Cas(c) => Some(c),
            Protocol::Saml(_) => None,
        }
    }

    /// Where this member stands on `date` under its agreement (see [`MemberStatus`]).
    ///
    /// Rules: pending until approved; not started before `agreement.start`; then active for
    /// the initial duration, renewed tacitly period after period when the agreement says so
    /// (otherwise only by explicit renewals); after a leave request it is leaving until
    /// [`Agreement::termination_end`], gone the day after; an agreement without tacit renewal
    /// that reached its end is gone the day after its last day.
    pub fn status_at(&self, date: Date) -> MemberStatus {
        if self.membership == MembershipState::Pending {
            return MemberStatus::Pending;
        }
        let Some(start) = self.agreement.start else {
            // Approved without a start date is invalid (validate says so); grant nothing.
            return MemberStatus::Pending;
        };
        if date < start {
            return MemberStatus::NotStarted;
        }
        let term_end = self.agreement.term_last_day();
        let termination_end = self.agreement.termination_end();
        let last_day = match (term_end, termination_end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(last) = last_day {
            if date > last {
                return MemberStatus::Gone {
                    since: last.next_day().unwrap_or(last),
                };
            }
        }
        match (&self.agreement.termination, termination_end) {
            (Some(t), Some(until)) if date >= t.requested_on => MemberStatus::Leaving {
                until: last_day.unwrap_or(until),
            },
            _ => MemberStatus::Active,
        }
    }

    /// Whether the IdP may serve this member on `date`: only when active or leaving.
    pub fn grants_access_at(&self, date: Date) -> bool {
        matches!(
            self.status_at(date),
            MemberStatus::Active | MemberStatus::Leaving { .. }
        )
    }
}

/// A member's status on a given date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Asked to join, not approved yet.
    Pending,
    /// Approved, agreement not started yet.
    NotStarted,
    Active,
    /// Leave requested; access stays open up to and including `until`.
    Leaving {
        until: Date,
    },
    /// No access from `since` on.
    Gone {
        since: Date,
    },
}

impl std::fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending => f.write_str("pending"),
            Self::NotStarted => f.write_str("not started"),
            Self::Active => f.write_str("active"),
            Self::Leaving { until } => write!(f, "leaving (access until {until})"),
            Self::Gone { since } => write!(f, "gone since {since}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipState {
    Pending,
    Approved,
}

/// What a service commits to (annex part 5). Free texts, shown in the annex.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceCommitments {
    /// Use of the attributes only for the stated purposes, GDPR role, access requests.
    #[serde(default)]
    pub data_protection: String,
    #[serde(default)]
    pub security: String,
    /// Where the data is hosted (France / EU preferred).
    #[serde(default)]
    pub hosting: String,
    #[serde(default)]
    pub retention: String,
    /// Breach notification to the DPOs (within 24 h in the agreements seen).
    #[serde(default)]
    pub breach_notification: String,
    #[serde(default)]
    pub additional: Vec<String>,
}

/// Duration terms, as agreed (annex part 7). Also the federation's defaults for new members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgreementTerms {
    /// Initial duration, in months (ATRIUM: 36).
    pub initial_duration_months: u32,
    /// Tacit renewal by periods of this many months (ATRIUM: 36; communes: 12); `None`: no
    /// tacit renewal, only explicit `renew`.
    #[serde(default)]
    pub tacit_renewal_months: Option<u32>,
    /// Notice a party must give before leaving, in months (ATRIUM: 6).
    pub notice_months: u32,
    /// When a party leaves, access stays open until the end of the school year (31 August)
    /// in which the leave takes effect (ATRIUM art. 4 and 17).
    #[serde(default)]
    pub access_until_end_of_school_year: bool,
}

/// The agreement of one member: its terms and its dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agreement {
    pub terms: AgreementTerms,
    /// When the service asked to join.
    #[serde(default, with = "dates::option")]
    pub requested_on: Option<Date>,
    /// When the agreement was signed.
    #[serde(default, with = "dates::option")]
    pub signed_on: Option<Date>,
    /// First day of access. Required once approved.
    #[serde(default, with = "dates::option")]
    pub start: Option<Date>,
    /// Explicit renewals (for agreements without tacit renewal), in order.
    #[serde(default)]
    pub renewals: Vec<Renewal>,
    /// Set by `leave`.
    #[serde(default)]
    pub termination: Option<Termination>,
}

impl Agreement {
    /// The last day covered by the agreement's own term (initial duration plus explicit
    /// renewals), or `None` while it renews tacitly (it then ends only by a termination).
    pub fn term_last_day(&self) -> Option<Date> {
        if self.terms.tacit_renewal_months.is_some() {
            return None;
        }
        let start = self.start?;
        let months = self.terms.initial_duration_months
            + self.renewals.iter().map(|r| r.months).sum::<u32>();
        add_months(start, months).previous_day()
    }

    /// The end of the current period at `date` (initial duration, then each tacit period), for
    /// display: the date from which the agreement would renew.
    pub fn current_period_end(&self, date: Date) -> Option<Date> {
        let start = self.start?;
        let mut end = add_months(start, self.terms.initial_duration_months);
        if let Some(period) = self.terms.tacit_renewal_months.filter(|p| *p > 0) {
            while end <= date {
                end = add_months(end, period);
            }
        } else {
            end = add_months(
                start,
                self.terms.initial_duration_months
                    + self.renewals.iter().map(|r| r.months).sum::<u32>(),
            );
        }
        end.previous_day()
    }

    /// The last day of access after a leave request, or `None` without one.
    ///
    /// The notice period runs from the request: the leave takes effect on the later of the
    /// requested date and request + notice. Where `access_until_end_of_school_year` holds,
    /// access then stays open until the 31 August that ends the school year containing that
    /// day (a school year runs from 1 September to 31 August; a leave taking effect on
    /// 1 September therefore keeps access for the whole new school year, which is what the
    /// ATRIUM wording gives and is the safer reading for pupils).
    pub fn termination_end(&self) -> Option<Date> {
        let t = self.termination.as_ref()?;
        Some(effective_leave_end(
            t.requested_on,
            t.on,
            self.terms.notice_months,
            self.terms.access_until_end_of_school_year,
        ))
    }
}

/// See [`Agreement::termination_end`]; the leave takes effect at the end of `effective`
/// (`effective` is the last day of access before the school-year rule).
pub fn effective_leave_end(
    requested_on: Date,
    on: Date,
    notice_months: u32,
    until_end_of_school_year: bool,
) -> Date {
    let after_notice = add_months(requested_on, notice_months);
    let effective = on.max(after_notice);
    if until_end_of_school_year {
        end_of_school_year(effective)
    } else {
        effective
    }
}

/// 31 August of the school year containing `date` (school years run 1 September – 31 August).
pub fn end_of_school_year(date: Date) -> Date {
    let year = if date.month() >= Month::September {
        date.year() + 1
    } else {
        date.year()
    };
    Date::from_calendar_date(year, Month::August, 31).unwrap_or(date)
}

/// `date` plus `months` calendar months, the day clamped to the target month's length
/// (31 January + 1 month = 28/29 February).
pub fn add_months(date: Date, months: u32) -> Date {
    let total = date.year() as i64 * 12 + (date.month() as i64 - 1) + months as i64;
    let year = (total.div_euclid(12)) as i32;
    let Ok(month) = Month::try_from((total.rem_euclid(12) + 1) as u8) else {
        return date;
    };
    let day = date.day().min(month.length(year));
    Date::from_calendar_date(year, month, day).unwrap_or(date)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renewal {
    /// When it was decided.
    #[serde(with = "dates::required")]
    pub on: Date,
    /// How many months it adds to the term.
    pub months: u32,
}

/// A leave request (`fedmeta leave`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Termination {
    /// When the leave was requested (the notice runs from here).
    #[serde(with = "dates::required")]
    pub requested_on: Date,
    /// The date the party asked to leave on.
    #[serde(with = "dates::required")]
    pub on: Date,
    #[serde(default)]
    pub reason: String,
}

/// User-facing information (SAML MDUI).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiInfo {
    #[serde(default)]
    pub information_url: Option<String>,
    #[serde(default)]
    pub privacy_statement_url: Option<String>,
    #[serde(default)]
    pub logo: Option<Logo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logo {
    pub url: String,
    pub width: u32,
    pub height: u32,
}

/// The protocol side of a service. In TOML: a `[protocol.saml]` or a `[protocol.cas]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Saml(SamlSettings),
    Cas(CasSettings),
}

/// A SAML 2.0 service provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlSettings {
    pub entity_id: String,
    /// The only places a response may be sent to.
    pub assertion_consumer_services: Vec<IndexedEndpoint>,
    #[serde(default)]
    pub single_logout_services: Vec<Endpoint>,
    /// PEM certificates the SP signs with (requests, logout messages).
    #[serde(default)]
    pub signing_certificates: Vec<String>,
    /// PEM certificates to encrypt assertions for this SP.
    #[serde(default)]
    pub encryption_certificates: Vec<String>,
    /// The SP signs its AuthnRequests (SPSSODescriptor/@AuthnRequestsSigned): the IdP then
    /// rejects unsigned ones.
    #[serde(default)]
    pub authn_requests_signed: bool,
    /// SPSSODescriptor/@WantAssertionsSigned.
    #[serde(default)]
    pub want_assertions_signed: bool,
    /// Sign the Assertion (default: yes).
    #[serde(default = "yes")]
    pub sign_assertion: bool,
    /// Sign the Response too.
    #[serde(default)]
    pub sign_response: bool,
    #[serde(default)]
    pub signature_algorithm: SignatureAlgorithm,
    /// RSA-SHA1 is refused unless this is set for this partner.
    #[serde(default)]
    pub allow_sha1: bool,
    /// Encrypt the Assertion (needs an encryption certificate).
    #[serde(default)]
    pub encrypt_assertion: bool,
    #[serde(default)]
    pub name_id_format: NameIdFormat,
    /// For `unspecified` and `email` NameIDs: the catalogue attribute whose value is sent.
    #[serde(default)]
    pub name_id_attribute: Option<String>,
    /// Accept unsolicited (IdP-initiated) SSO towards this SP.
    #[serde(default)]
    pub allow_idp_initiated: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexedEndpoint {
    pub binding: Binding,
    pub location: String,
    pub index: u16,
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    pub binding: Binding,
    pub location: String,
    #[serde(default)]
    pub response_location: Option<String>,
}

/// SAML bindings, by short name in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Binding {
    HttpPost,
    HttpRedirect,
    HttpArtifact,
    Soap,
    Paos,
}

impl Binding {
    pub fn urn(self) -> &'static str {
        match self {
            Self::HttpPost => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            Self::HttpRedirect => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            Self::HttpArtifact => "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact",
            Self::Soap => "urn:oasis:names:tc:SAML:2.0:bindings:SOAP",
            Self::Paos => "urn:oasis:names:tc:SAML:2.0:bindings:PAOS",
        }
    }

    pub fn from_urn(urn: &str) -> Option<Self> {
        [
            Self::HttpPost,
            Self::HttpRedirect,
            Self::HttpArtifact,
            Self::Soap,
            Self::Paos,
        ]
        .into_iter()
        .find(|b| b.urn() == urn)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureAlgorithm {
    #[default]
    RsaSha256,
    RsaSha512,
    /// Only with `allow_sha1 = true`.
    RsaSha1,
}

impl SignatureAlgorithm {
    pub fn uri(self) -> &'static str {
        match self {
            Self::RsaSha256 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            Self::RsaSha512 => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
            Self::RsaSha1 => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameIdFormat {
    /// A new opaque value per session (GAR).
    #[default]
    Transient,
    /// A stable opaque value per person and SP.
    Persistent,
    /// The value of `name_id_attribute` (Moodle's default policy).
    Unspecified,
    /// The value of `name_id_attribute`, an e-mail address.
    Email,
}

impl NameIdFormat {
    pub fn urn(self) -> &'static str {
        match self {
            Self::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            Self::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            Self::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
            Self::Email => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        }
    }

    pub fn from_urn(urn: &str) -> Option<Self> {
        [
            Self::Transient,
            Self::Persistent,
            Self::Unspecified,
            Self::Email,
        ]
        .into_iter()
        .find(|f| f.urn() == urn)
    }

    /// Whether the NameID value is taken from `name_id_attribute`.
    pub fn needs_attribute(self) -> bool {
        matches!(self, Self::Unspecified | Self::Email)
    }
}

/// A CAS client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasSettings {
    /// The service URLs this member may ask tickets for. At least one.
    pub service_patterns: Vec<ServiceUrlPattern>,
    /// Exact HTTPS URLs allowed as `pgtUrl`; empty: no proxy tickets.
    #[serde(default)]
    pub proxy_callbacks: Vec<String>,
    /// Catalogue attribute sent as `cas:user` (Pronote: `login`).
    #[serde(default = "default_cas_user")]
    pub user_attribute: String,
    /// Back-channel single logout (POST of a `logoutRequest` to the service URL).
    #[serde(default = "yes")]
    pub single_logout: bool,
}

fn default_cas_user() -> String {
    "login".to_owned()
}

/// How a CAS `service` parameter is matched. In TOML: `{ exact = "https://..." }`,
/// `{ prefix = "https://host/path/" }` or `{ regex = "^https://host/path/.*$" }`.
///
/// - `exact`: the whole URL, byte for byte.
/// - `prefix`: the URL starts with it; the prefix must hold a scheme, a host and a path
///   ending in `/` (validated), so no other host (`host.evil`) or sibling path
///   (`/pronote-evil`) can match.
/// - `regex`: a `regex`-crate expression matched against the whole URL; it must start with
///   `^https://` (or `^http://` in a demo domain) and end with `$` (validated).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceUrlPattern {
    Exact(String),
    Prefix(String),
    Regex(String),
}

impl ServiceUrlPattern {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Exact(s) | Self::Prefix(s) | Self::Regex(s) => s,
        }
    }

    /// Whether `url` matches (a regex that does not compile matches nothing). The IdP may
    /// prefer to compile the regexes once; this is the reference semantics.
    pub fn matches(&self, url: &str) -> bool {
        match self {
            Self::Exact(s) => s == url,
            Self::Prefix(p) => url.starts_with(p.as_str()),
            Self::Regex(r) => regex::Regex::new(r).is_ok_and(|re| re.is_match(url)),
        }
    }
}

/// One attribute released to one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The name on the wire (SAML Attribute/@Name, CAS attribute element name).
    pub name: String,
    /// The catalogue id it is produced from.
    pub source: String,
    #[serde(default)]
    pub format: ValueFormat,
    /// Join a multi-valued source into one value with this separator (Pronote: `;`).
    #[serde(default)]
    pub join_with: Option<String>,
    /// SAML Attribute/@NameFormat (ignored for CAS). Default `basic`: ENT attribute names
    /// (`idEnt`, `uid`) are plain names, not URIs.
    #[serde(default)]
    pub name_format: NameFormat,
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// Why the service needs it (required: it goes into the annex).
    pub purpose: String,
    /// Required (`isRequired="true"` in the RequestedAttribute) or optional.
    #[serde(default = "yes")]
    pub required: bool,
}

/// How each value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueFormat {
    #[default]
    AsIs,
    /// Dates as `dd/mm/yyyy` (Pronote's `dateNaissance`).
    DateDdMmYyyy,
    /// Dates as `yyyy-mm-dd`.
    DateIso,
    Lowercase,
    Uppercase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameFormat {
    #[default]
    Basic,
    Uri,
    Unspecified,
}

impl NameFormat {
    pub fn urn(self) -> &'static str {
        match self {
            Self::Basic => "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
            Self::Uri => "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
            Self::Unspecified => "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
        }
    }

    pub fn from_urn(urn: &str) -> Option<Self> {
        [Self::Basic, Self::Uri, Self::Unspecified]
            .into_iter()
            .find(|f| f.urn() == urn)
    }
}

#[cfg(test)]
mod tests;
