//! Checking a loaded trust domain for meaning, every error with its file and line.
//!
//! Loading (`source`) already rejected what does not parse or has the wrong type; this
//! checks what the agreement and the protocols require: unique ids and entityIDs, HTTPS
//! endpoints outside a demo domain, certificates that parse and are valid on the given date,
//! released attributes that exist in the catalogue, consistent dates, CAS patterns that are
//! safe and compile, signing options that make sense. All problems are collected and
//! returned together so that one run lists everything to fix.

use std::collections::{HashMap, HashSet};

use openssl::asn1::Asn1Time;
use openssl::x509::X509;
use time::Date;

use crate::diagnostic::Diagnostic;
use crate::model::{
    AttributeSource, Binding, Contact, Organisation, Protocol, Service, ServiceUrlPattern,
    SignatureAlgorithm, ValueFormat,
};
use crate::source::{LoadedDomain, SourceFile};

/// A validation problem: file, line, message.
pub type ValidationError = Diagnostic;

/// Checks `domain` as of `today` (certificates must be valid on that day). Returns every
/// problem found, in file order.
pub fn validate(domain: &LoadedDomain, today: Date) -> Result<(), Vec<ValidationError>> {
    let mut v = Validator {
        domain,
        today,
        errors: Vec::new(),
    };
    v.federation();
    v.identity_provider();
    v.attributes();
    v.services();
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(v.errors)
    }
}

struct Validator<'a> {
    domain: &'a LoadedDomain,
    today: Date,
    errors: Vec<Diagnostic>,
}

/// What a URL is used for decides whether `http://` is tolerated in a demo domain.
#[derive(Clone, Copy, PartialEq)]
enum UrlKind {
    /// A protocol endpoint: HTTPS, or HTTP in a demo domain.
    Endpoint,
    /// Always HTTPS (CAS proxy callbacks: the protocol requires it).
    HttpsOnly,
    /// Informational web page: http or https.
    Page,
}

impl Validator<'_> {
    fn err(&mut self, file: &SourceFile, path: &str, message: impl Into<String>) {
        self.errors.push(file.error(path, message));
    }

    fn demo(&self) -> bool {
        self.domain.federation.demo
    }

    fn federation(&mut self) {
        let d = self.domain;
        let f = &d.federation;
        let file = &d.files.federation;
        if !is_slug(&f.id, '-') {
            self.err(
                file,
                "id",
                format!(
                    "federation id {:?} must be lowercase letters, digits and '-'",
                    f.id
                ),
            );
        }
        self.non_empty(file, "name", &f.name);
        self.organisation(file, "operator", &f.operator);
        let mut uais = HashSet::new();
        for (i, e) in f.perimeter.establishments.iter().enumerate() {
            let path = format!("perimeter.establishments[{i}].uai");
            if !is_uai(&e.uai) {
                self.err(
                    file,
                    &path,
                    format!(
                        "{:?} is not a UAI (7 digits and a letter, e.g. 0350001A)",
                        e.uai
                    ),
                );
            }
            if !uais.insert(e.uai.to_ascii_uppercase()) {
                self.err(
                    file,
                    &path,
                    format!("establishment {} is listed twice", e.uai),
                );
            }
        }
        let p = &f.publication;
        self.non_empty(file, "publication.aggregate_name", &p.aggregate_name);
        if !p.registration_authority.contains(':') {
            self.err(
                file,
                "publication.registration_authority",
                "the registration authority must be a URI",
            );
        }
        self.url(
            file,
            "publication.registration_policy_url",
            &p.registration_policy_url,
            UrlKind::Page,
        );
        if p.validity_days == 0 || p.validity_days > 366 {
            self.err(
                file,
                "publication.validity_days",
                "validity_days must be between 1 and 366",
            );
        }
        if p.cache_duration_hours == 0
            || u64::from(p.cache_duration_hours) > u64::from(p.validity_days) * 24
        {
            self.err(
                file,
                "publication.cache_duration_hours",
                "cache_duration_hours must be at least 1 and within the validity",
            );
        }
        self.terms(file, "default_terms", &f.default_terms);
        if f.signing_certificate_pem.trim().is_empty() {
            self.err(
                file,
                "signing_certificate_file",
                "the federation signing certificate is missing (signing_certificate_file)",
            );
        } else {
            let key = if f.signing_certificate_file.is_some() {
                "signing_certificate_file"
            } else {
                "signing_certificate_pem"
            };
            self.certificate(
                file,
                key,
                &f.signing_certificate_pem,
                "federation signing certificate",
            );
        }
    }

    fn identity_provider(&mut self) {
        let d = self.domain;
        let idp = &d.identity_provider;
        let file = &d.files.identity_provider;
        if !idp.entity_id.contains(':') {
            self.err(file, "entity_id", "the entityID must be a URI");
        }
        self.url(file, "base_url", &idp.base_url, UrlKind::Endpoint);
        self.non_empty(file, "name", &idp.name);
        self.organisation(file, "organisation", &idp.organisation);
        self.contacts(file, &idp.contacts);
        let c = &idp.commitments;
        for (key, text) in [
            ("identifier_policy", &c.identifier_policy),
            ("logging", &c.logging),
            ("traceability", &c.traceability),
            ("retention", &c.retention),
        ] {
            self.non_empty(file, &format!("commitments.{key}"), text);
        }
        if !idp.signing_certificate_pem.trim().is_empty() {
            let key = if idp.signing_certificate_file.is_some() {
                "signing_certificate_file"
            } else {
                "signing_certificate_pem"
            };
            self.certificate(
                file,
                key,
                &idp.signing_certificate_pem,
                "IdP signing certificate",
            );
        }
    }

    fn attributes(&mut self) {
        let d = self.domain;
        let file = &d.files.attributes;
        let mut seen = HashSet::new();
        for (i, a) in d.attributes.iter().enumerate() {
            let path = format!("attribute[{i}]");
            if !is_slug(&a.id, '_') {
                self.err(
                    file,
                    &format!("{path}.id"),
                    format!(
                        "attribute id {:?} must be lowercase letters, digits and '_'",
                        a.id
                    ),
                );
            }
            if !seen.insert(a.id.as_str()) {
                self.err(
                    file,
                    &format!("{path}.id"),
                    format!("duplicate attribute id {:?}", a.id),
                );
            }
            self.non_empty(file, &format!("{path}.description"), &a.description);
            match &a.derives_from {
                AttributeSource::Constant(v) | AttributeSource::Aaf(v) if v.trim().is_empty() => {
                    self.err(
                        file,
                        &format!("{path}.derives_from"),
                        "empty constant or AAF attribute name",
                    );
                }
                _ => {}
            }
            if let Some(oid) = &a.oid {
                if !oid.starts_with("urn:oid:") {
                    self.err(
                        file,
                        &format!("{path}.oid"),
                        "an OID name starts with urn:oid:",
                    );
                }
            }
        }
    }

    fn services(&mut self) {
        let d = self.domain;
        let mut ids: HashSet<&str> = HashSet::new();
        let mut entity_ids: HashMap<&str, &str> = HashMap::new();
        for (service, file) in d.services.iter().zip(&d.files.services) {
            if !ids.insert(service.id.as_str()) {
                self.err(file, "id", format!("duplicate service id {:?}", service.id));
            }
            if let Some(saml) = service.saml() {
                if saml.entity_id == d.identity_provider.entity_id {
                    self.err(
                        file,
                        "protocol.saml.entity_id",
                        "a service cannot use the IdP's entityID",
                    );
                }
                if let Some(other) = entity_ids.insert(saml.entity_id.as_str(), service.id.as_str())
                {
                    self.err(
                        file,
                        "protocol.saml.entity_id",
                        format!(
                            "entityID {:?} is already used by service {:?}",
                            saml.entity_id, other
                        ),
                    );
                }
            }
            self.service(service, file);
        }
    }

    fn service(&mut self, s: &Service, file: &SourceFile) {
        if !is_slug(&s.id, '-') {
            self.err(
                file,
                "id",
                format!(
                    "service id {:?} must be lowercase letters, digits and '-'",
                    s.id
                ),
            );
        }
        let stem = file
            .path
            .file_stem()
            .and_then(|x| x.to_str())
            .unwrap_or_default();
        if stem != s.id {
            self.err(
                file,
                "id",
                format!(
                    "service id {:?} differs from its file name {stem:?}.toml",
                    s.id
                ),
            );
        }
        self.non_empty(file, "name", &s.name);
        self.organisation(file, "organisation", &s.organisation);
        self.contacts(file, &s.contacts);
        self.agreement(s, file);
        if let Some(u) = &s.ui.information_url {
            self.url(file, "ui.information_url", u, UrlKind::Page);
        }
        if let Some(u) = &s.ui.privacy_statement_url {
            self.url(file, "ui.privacy_statement_url", u, UrlKind::Page);
        }
        if let Some(logo) = &s.ui.logo {
            self.url(file, "ui.logo.url", &logo.url, UrlKind::Endpoint);
        }
        match &s.protocol {
            Protocol::Saml(_) => self.saml(s, file),
            Protocol::Cas(_) => self.cas(s, file),
        }
        self.releases(s, file);
    }

    fn agreement(&mut self, s: &Service, file: &SourceFile) {
        let a = &s.agreement;
        self.terms(file, "agreement.terms", &a.terms);
        if s.membership == crate::model::MembershipState::Approved && a.start.is_none() {
            self.err(
                file,
                "agreement",
                "an approved service needs agreement.start",
            );
        }
        if let (Some(requested), Some(signed)) = (a.requested_on, a.signed_on) {
            if signed < requested {
                self.err(
                    file,
                    "agreement.signed_on",
                    format!("signed on {signed}, before it was requested ({requested})"),
                );
            }
        }
        if let (Some(signed), Some(start)) = (a.signed_on, a.start) {
            if start < signed {
                self.err(
                    file,
                    "agreement.start",
                    format!("starts on {start}, before it was signed ({signed})"),
                );
            }
        }
        if !a.renewals.is_empty() && a.terms.tacit_renewal_months.is_some() {
            self.err(
                file,
                "agreement.renewals",
                "explicit renewals only apply to agreements without tacit renewal",
            );
        }
        let mut previous = a.start;
        for (i, r) in a.renewals.iter().enumerate() {
            let path = format!("agreement.renewals[{i}]");
            if r.months == 0 {
                self.err(
                    file,
                    &format!("{path}.months"),
                    "a renewal adds at least one month",
                );
            }
            if let Some(p) = previous {
                if r.on < p {
                    self.err(
                        file,
                        &format!("{path}.on"),
                        format!("renewal on {} before {p}", r.on),
                    );
                }
            }
            previous = Some(r.on);
        }
        if let Some(t) = &a.termination {
            if t.on < t.requested_on {
                self.err(
                    file,
                    "agreement.termination.on",
                    format!(
                        "leave date {} before the request ({})",
                        t.on, t.requested_on
                    ),
                );
            }
            if let Some(start) = a.start {
                if t.requested_on < start {
                    self.err(
                        file,
                        "agreement.termination.requested_on",
                        format!(
                            "leave requested on {}, before the start ({start})",
                            t.requested_on
                        ),
                    );
                }
            }
            if s.membership == crate::model::MembershipState::Pending {
                self.err(
                    file,
                    "agreement.termination",
                    "a pending service cannot leave (withdraw its file instead)",
                );
            }
        }
    }

    fn terms(&mut self, file: &SourceFile, path: &str, t: &crate::model::AgreementTerms) {
        if t.initial_duration_months == 0 {
            self.err(
                file,
                &format!("{path}.initial_duration_months"),
                "the initial duration must be at least one month",
            );
        }
        if t.tacit_renewal_months == Some(0) {
            self.err(
                file,
                &format!("{path}.tacit_renewal_months"),
                "a tacit renewal period must be at least one month (omit it for none)",
            );
        }
        if t.notice_months > 120 {
            self.err(
                file,
                &format!("{path}.notice_months"),
                "notice over ten years looks like a mistake",
            );
        }
    }

    fn saml(&mut self, s: &Service, file: &SourceFile) {
        let Protocol::Saml(saml) = &s.protocol else {
            return;
        };
        const P: &str = "protocol.saml";
        if !saml.entity_id.contains(':') {
            self.err(
                file,
                &format!("{P}.entity_id"),
                "the entityID must be a URI",
            );
        }
        if saml.assertion_consumer_services.is_empty() {
            self.err(
                file,
                &format!("{P}.assertion_consumer_services"),
                "at least one AssertionConsumerService is needed",
            );
        }
        let mut indexes = HashSet::new();
        let mut defaults = 0;
        for (i, acs) in saml.assertion_consumer_services.iter().enumerate() {
            let path = format!("{P}.assertion_consumer_services[{i}]");
            self.url(
                file,
                &format!("{path}.location"),
                &acs.location,
                UrlKind::Endpoint,
            );
            if !matches!(
                acs.binding,
                Binding::HttpPost | Binding::HttpArtifact | Binding::Paos
            ) {
                self.err(
                    file,
                    &format!("{path}.binding"),
                    "an AssertionConsumerService binding is http-post, http-artifact or paos",
                );
            }
            if !indexes.insert(acs.index) {
                self.err(
                    file,
                    &format!("{path}.index"),
                    format!("index {} is used twice", acs.index),
                );
            }
            defaults += usize::from(acs.is_default);
        }
        if defaults > 1 {
            self.err(
                file,
                &format!("{P}.assertion_consumer_services"),
                "at most one AssertionConsumerService is the default",
            );
        }
        for (i, slo) in saml.single_logout_services.iter().enumerate() {
            let path = format!("{P}.single_logout_services[{i}]");
            self.url(
                file,
                &format!("{path}.location"),
                &slo.location,
                UrlKind::Endpoint,
            );
            if let Some(r) = &slo.response_location {
                self.url(
                    file,
                    &format!("{path}.response_location"),
                    r,
                    UrlKind::Endpoint,
                );
            }
        }
        for (i, pem) in saml.signing_certificates.iter().enumerate() {
            self.certificate(
                file,
                &format!("{P}.signing_certificates[{i}]"),
                pem,
                "SP signing certificate",
            );
        }
        for (i, pem) in saml.encryption_certificates.iter().enumerate() {
            self.certificate(
                file,
                &format!("{P}.encryption_certificates[{i}]"),
                pem,
                "SP encryption certificate",
            );
        }
        if saml.authn_requests_signed && saml.signing_certificates.is_empty() {
            self.err(
                file,
                &format!("{P}.authn_requests_signed"),
                "signed AuthnRequests need a signing certificate",
            );
        }
        if saml.encrypt_assertion && saml.encryption_certificates.is_empty() {
            self.err(
                file,
                &format!("{P}.encrypt_assertion"),
                "encrypting assertions needs an encryption certificate",
            );
        }
        if !saml.sign_assertion && !saml.sign_response {
            self.err(
                file,
                &format!("{P}.sign_assertion"),
                "sign the assertion, the response or both",
            );
        }
        if saml.want_assertions_signed && !saml.sign_assertion {
            self.err(
                file,
                &format!("{P}.sign_assertion"),
                "the SP wants signed assertions (want_assertions_signed)",
            );
        }
        if saml.signature_algorithm == SignatureAlgorithm::RsaSha1 && !saml.allow_sha1 {
            self.err(
                file,
                &format!("{P}.signature_algorithm"),
                "rsa-sha1 is refused unless allow_sha1 = true is set for this partner",
            );
        }
        match (
            &saml.name_id_attribute,
            saml.name_id_format.needs_attribute(),
        ) {
            (None, true) => self.err(
                file,
                &format!("{P}.name_id_format"),
                "this NameID format needs name_id_attribute (a catalogue attribute)",
            ),
            (Some(a), _) if self.domain.attributes.iter().all(|x| &x.id != a) => self.err(
                file,
                &format!("{P}.name_id_attribute"),
                format!("unknown attribute {a:?}: not in the catalogue (attributes.toml)"),
            ),
            _ => {}
        }
    }

    fn cas(&mut self, s: &Service, file: &SourceFile) {
        let Protocol::Cas(cas) = &s.protocol else {
            return;
        };
        const P: &str = "protocol.cas";
        if cas.service_patterns.is_empty() {
            self.err(
                file,
                &format!("{P}.service_patterns"),
                "at least one service URL pattern is needed",
            );
        }
        let scheme = if self.demo() { "https?" } else { "https" };
        for (i, p) in cas.service_patterns.iter().enumerate() {
            let path = format!("{P}.service_patterns[{i}]");
            match p {
                ServiceUrlPattern::Exact(u) => self.url(file, &path, u, UrlKind::Endpoint),
                ServiceUrlPattern::Prefix(u) => {
                    self.url(file, &path, u, UrlKind::Endpoint);
                    if !prefix_is_safe(u) {
                        self.err(file, &path, format!("prefix {u:?} must hold a host and a path ending in '/' (so no other host or sibling path matches)"));
                    }
                }
                ServiceUrlPattern::Regex(r) => {
                    if let Err(e) = regex::Regex::new(r) {
                        self.err(file, &path, format!("regex does not compile: {e}"));
                    } else if !(r.starts_with("^https://")
                        || (self.demo() && r.starts_with("^http://")))
                        || !r.ends_with('$')
                    {
                        self.err(
                            file,
                            &path,
                            format!(
                                "regex must be anchored: start with ^{scheme}:// and end with $"
                            ),
                        );
                    } else if r.starts_with("^https://.") || r.starts_with("^http://.") {
                        self.err(file, &path, "regex must name the host, not match any host");
                    }
                }
            }
        }
        for (i, u) in cas.proxy_callbacks.iter().enumerate() {
            self.url(
                file,
                &format!("{P}.proxy_callbacks[{i}]"),
                u,
                UrlKind::HttpsOnly,
            );
        }
        if self
            .domain
            .attributes
            .iter()
            .all(|a| a.id != cas.user_attribute)
        {
            self.err(
                file,
                &format!("{P}.user_attribute"),
                format!(
                    "unknown attribute {:?}: not in the catalogue (attributes.toml)",
                    cas.user_attribute
                ),
            );
        }
    }

    fn releases(&mut self, s: &Service, file: &SourceFile) {
        let mut names = HashSet::new();
        for (i, r) in s.releases.iter().enumerate() {
            let path = format!("releases[{i}]");
            if r.name.trim().is_empty() {
                self.err(file, &format!("{path}.name"), "empty attribute name");
            }
            if !names.insert(r.name.as_str()) {
                self.err(
                    file,
                    &format!("{path}.name"),
                    format!("attribute {:?} released twice", r.name),
                );
            }
            if r.purpose.trim().is_empty() {
                self.err(
                    file,
                    &format!("{path}.purpose"),
                    "every released attribute needs its purpose (it goes into the annex)",
                );
            }
            match self.domain.attributes.iter().find(|a| a.id == r.source) {
                None => self.err(
                    file,
                    &format!("{path}.source"),
                    format!(
                        "unknown attribute {:?}: not in the catalogue (attributes.toml)",
                        r.source
                    ),
                ),
                Some(def) => {
                    let is_date = matches!(def.derives_from, AttributeSource::BirthDate);
                    if matches!(r.format, ValueFormat::DateDdMmYyyy | ValueFormat::DateIso)
                        && !is_date
                    {
                        self.err(
                            file,
                            &format!("{path}.format"),
                            format!("a date format on {:?}, which is not a date", r.source),
                        );
                    }
                    if r.join_with.is_some() && !def.multi_valued {
                        self.err(
                            file,
                            &format!("{path}.join_with"),
                            format!("join_with on {:?}, which is single-valued", r.source),
                        );
                    }
                }
            }
            if s.saml().is_some()
                && r.name_format == crate::model::NameFormat::Uri
                && !r.name.contains(':')
            {
                self.err(
                    file,
                    &format!("{path}.name_format"),
                    "the uri NameFormat needs a URI name (urn:oid:...)",
                );
            }
        }
    }

    fn organisation(&mut self, file: &SourceFile, path: &str, o: &Organisation) {
        self.non_empty(file, &format!("{path}.name"), &o.name);
        self.url(file, &format!("{path}.url"), &o.url, UrlKind::Page);
    }

    fn contacts(&mut self, file: &SourceFile, contacts: &[Contact]) {
        for (i, c) in contacts.iter().enumerate() {
            let at = c.email.find('@');
            if at.is_none_or(|at| at == 0 || at + 1 == c.email.len())
                || c.email.contains(char::is_whitespace)
            {
                self.err(
                    file,
                    &format!("contacts[{i}].email"),
                    format!("{:?} is not an e-mail address", c.email),
                );
            }
        }
    }

    fn non_empty(&mut self, file: &SourceFile, path: &str, text: &str) {
        if text.trim().is_empty() {
            self.err(file, path, format!("{path} must not be empty"));
        }
    }

    fn url(&mut self, file: &SourceFile, path: &str, url: &str, kind: UrlKind) {
        let https = url.strip_prefix("https://");
        let http = url.strip_prefix("http://");
        let rest = match (https, http, kind) {
            (Some(r), _, _) => r,
            (None, Some(r), UrlKind::Page) => r,
            (None, Some(r), UrlKind::Endpoint) if self.demo() => r,
            (None, Some(_), _) => {
                let why = if kind == UrlKind::HttpsOnly {
                    ""
                } else {
                    " outside a demo domain"
                };
                self.err(file, path, format!("{url:?} must use https://{why}"));
                return;
            }
            _ => {
                self.err(file, path, format!("{url:?} is not an http(s) URL"));
                return;
            }
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || url.contains(char::is_whitespace) || host.contains('@') {
            self.err(
                file,
                path,
                format!("{url:?} is not a valid URL (host missing, spaces or credentials)"),
            );
        }
    }

    fn certificate(&mut self, file: &SourceFile, path: &str, pem: &str, what: &str) {
        match check_certificate(pem, self.today) {
            Ok(()) => {}
            Err(message) => self.err(file, path, format!("{what}: {message}")),
        }
    }
}

/// Parses a PEM certificate and checks it is valid on the day `today` (UTC): not expired
/// before the day starts, and already valid when it ends (a certificate made this morning
/// validates today, whatever the hour).
pub fn check_certificate(pem: &str, today: Date) -> Result<(), String> {
    let cert = X509::from_pem(pem.trim().as_bytes())
        .map_err(|e| format!("not a PEM certificate ({e})"))?;
    let start = today.midnight().assume_utc().unix_timestamp();
    let day_start = Asn1Time::from_unix(start).map_err(|e| e.to_string())?;
    let day_end = Asn1Time::from_unix(start + 86_399).map_err(|e| e.to_string())?;
    if cert.not_after() < day_start {
        return Err(format!("expired on {}", cert.not_after()));
    }
    if cert.not_before() > day_end {
        return Err(format!("not valid before {}", cert.not_before()));
    }
    Ok(())
}

fn is_slug(s: &str, sep: char) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == sep)
        && !s.starts_with(sep)
}

/// A UAI: seven digits then a letter (Corsica's are numeric too: 620..., 720...).
fn is_uai(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8 && b[..7].iter().all(u8::is_ascii_digit) && b[7].is_ascii_alphabetic()
}

/// A prefix must name a host and end its path with '/', so that neither `host.evil` nor
/// `/path-evil` can extend it.
fn prefix_is_safe(prefix: &str) -> bool {
    let rest = prefix
        .strip_prefix("https://")
        .or_else(|| prefix.strip_prefix("http://"))
        .unwrap_or_default();
    match rest.find('/') {
        Some(slash) => slash > 0 && prefix.ends_with('/') && !rest.contains(['?', '#']),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uai_and_prefix_rules() {
        assert!(is_uai("0350001A"));
        assert!(is_uai("6200001G"));
        assert!(!is_uai("2A00001X"));
        assert!(!is_uai("035001A"));
        assert!(prefix_is_safe("https://h.example/pronote/"));
        assert!(!prefix_is_safe("https://h.example"));
        assert!(!prefix_is_safe("https://h.example/pronote"));
    }
}
