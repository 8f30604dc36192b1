#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use base64::Engine as _;
use federation_metadata::keys::generate_self_signed;
use federation_metadata::xmlsig::{sign_enveloped, signature_template};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use time::{Duration, OffsetDateTime};

use super::*;

const IDP: &str = "http://idp.test/saml/metadata";
const SP: &str = "http://sp.test/saml/metadata";
const ACS: &str = "http://sp.test/saml/acs";
const SLO: &str = "http://sp.test/saml/slo";
const IDP_SLO: &str = "http://idp.test/saml/slo";
const NOW: i64 = 1_790_000_000;

type Pair = (PKey<Private>, X509);

/// (IdP, SP, an unrelated party), made once: RSA key generation is slow.
fn keys() -> &'static (Pair, Pair, Pair) {
    static KEYS: OnceLock<(Pair, Pair, Pair)> = OnceLock::new();
    KEYS.get_or_init(|| {
        (
            generate_self_signed("test idp", 2).unwrap(),
            generate_self_signed("test sp", 2).unwrap(),
            generate_self_signed("someone else", 2).unwrap(),
        )
    })
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).unwrap()
}

fn sp() -> ServiceProvider {
    let (idp, sp, _) = keys();
    ServiceProvider::new(
        SpConfig {
            entity_id: SP.into(),
            acs_url: ACS.into(),
            slo_url: SLO.into(),
            key: sp.0.clone(),
            certificate: sp.1.clone(),
            clock_skew: Duration::seconds(60),
        },
        IdpDescriptor {
            entity_id: IDP.into(),
            sso_url: "http://idp.test/saml/sso".into(),
            slo_url: IDP_SLO.into(),
            certificate: idp.1.clone(),
        },
    )
}

/// The query of a redirect URL, and the message it carries (checked with `cert`).
fn read_redirect(url: &str, param: &str, cert: &X509) -> (String, xml::Element) {
    let query = url.split_once('?').unwrap().1.to_owned();
    let received = redirect::decode_verified(&query, param, cert).unwrap();
    let root = xml::parse(&received.xml).unwrap();
    (query, root)
}

/// A fresh AuthnRequest of `sp`: its ID.
fn request_id(sp: &ServiceProvider) -> String {
    let url = sp.authn_request_url(Some("/"), now()).unwrap();
    let (_, root) = read_redirect(&url, "SAMLRequest", &keys().1 .1);
    assert!(root.is(xml::PROTOCOL_NS, "AuthnRequest"));
    assert_eq!(root.attr("AssertionConsumerServiceURL"), Some(ACS));
    root.attr("ID").unwrap().to_owned()
}

/// What goes into a test assertion; each test changes one thing.
#[derive(Clone)]
struct A {
    id: String,
    issuer: String,
    irt: Option<String>,
    audience: String,
    recipient: String,
    not_before: OffsetDateTime,
    not_on_or_after: OffsetDateTime,
    /// SubjectConfirmationData/@NotOnOrAfter.
    confirm_until: OffsetDateTime,
}

impl A {
    fn new(irt: &str) -> Self {
        Self {
            id: new_id(),
            issuer: IDP.into(),
            irt: Some(irt.into()),
            audience: SP.into(),
            recipient: ACS.into(),
            not_before: now() - Duration::seconds(30),
            not_on_or_after: now() + Duration::minutes(5),
            confirm_until: now() + Duration::minutes(5),
        }
    }

    fn unsigned(&self, signature: &str) -> String {
        let irt = self
            .irt
            .as_ref()
            .map(|i| format!(" InResponseTo=\"{i}\""))
            .unwrap_or_default();
        format!(
            "<saml:Assertion xmlns:saml=\"{ns}\" ID=\"{id}\" IssueInstant=\"{t}\" Version=\"2.0\">\
<saml:Issuer>{issuer}</saml:Issuer>{signature}<saml:Subject>\
<saml:NameID Format=\"{TRANSIENT}\" NameQualifier=\"{IDP}\" SPNameQualifier=\"{SP}\">_nid42</saml:NameID>\
<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData{irt} NotOnOrAfter=\"{until}\" Recipient=\"{rcpt}\"/></saml:SubjectConfirmation></saml:Subject>\
<saml:Conditions NotBefore=\"{nb}\" NotOnOrAfter=\"{end}\"><saml:AudienceRestriction><saml:Audience>{aud}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
<saml:AuthnStatement AuthnInstant=\"{t}\" SessionIndex=\"_s1\"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>\
<saml:AttributeStatement><saml:Attribute Name=\"GARPersonIdentifiant\"><saml:AttributeValue>gar-1 &amp; 2</saml:AttributeValue></saml:Attribute>\
<saml:Attribute Name=\"GARPersonProfils\"><saml:AttributeValue>National_ELV</saml:AttributeValue><saml:AttributeValue>National_TUT</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>\
</saml:Assertion>",
            ns = xml::ASSERTION_NS,
            id = self.id,
            t = instant(now()),
            issuer = self.issuer,
            end = instant(self.not_on_or_after),
            until = instant(self.confirm_until),
            nb = instant(self.not_before),
            rcpt = self.recipient,
            aud = self.audience,
        )
    }

    fn signed_by(&self, key: &PKey<Private>) -> String {
        let doc = self.unsigned(&signature_template(&self.id, None));
        let signed = sign_enveloped(&doc, key).unwrap();
        // libxmlsec1 writes an XML declaration: not wanted inside a Response.
        match signed.trim_start().strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").unwrap().1.trim_start().to_owned(),
            None => signed,
        }
    }

    fn signed(&self) -> String {
        self.signed_by(&keys().0 .0)
    }
}

fn response(assertion: &str, destination: &str, irt: Option<&str>) -> String {
    let irt = irt
        .map(|i| format!(" InResponseTo=\"{i}\""))
        .unwrap_or_default();
    format!(
        "<samlp:Response xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\" Destination=\"{destination}\" ID=\"{id}\"{irt} IssueInstant=\"{t}\" Version=\"2.0\">\
<saml:Issuer>{IDP}</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/></samlp:Status>{assertion}</samlp:Response>",
        p = xml::PROTOCOL_NS,
        a = xml::ASSERTION_NS,
        id = new_id(),
        t = instant(now()),
    )
}

fn post(doc: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(doc)
}

#[test]
fn a_good_response_logs_in_with_what_the_signed_assertion_says() {
    let sp = sp();
    let irt = request_id(&sp);
    let doc = response(&A::new(&irt).signed(), ACS, Some(&irt));
    let p = sp.accept_response(&post(&doc), now()).unwrap();
    assert_eq!(p.name_id, "_nid42");
    assert_eq!(p.name_id_format.as_deref(), Some(TRANSIENT));
    assert_eq!(p.name_qualifier.as_deref(), Some(IDP));
    assert_eq!(p.sp_name_qualifier.as_deref(), Some(SP));
    assert_eq!(p.session_index.as_deref(), Some("_s1"));
    assert_eq!(p.attributes["GARPersonIdentifiant"], vec!["gar-1 & 2"]);
    assert_eq!(
        p.attributes["GARPersonProfils"],
        vec!["National_ELV", "National_TUT"]
    );
}

#[test]
fn the_assertion_verifies_with_namespaces_declared_on_the_response_only() {
    // An IdP that declares `saml` once on the Response: the cut-out assertion gets the
    // declaration back and its signature still verifies.
    let sp = sp();
    let irt = request_id(&sp);
    let a = A::new(&irt);
    let signed = a.signed();
    let bare = signed.replacen(&format!(" xmlns:saml=\"{}\"", xml::ASSERTION_NS), "", 1);
    assert_ne!(signed, bare);
    let doc = response(&bare, ACS, Some(&irt));
    sp.accept_response(&post(&doc), now()).unwrap();
}

#[test]
fn a_tampered_or_foreign_or_missing_signature_is_refused() {
    let sp = sp();
    let irt = request_id(&sp);
    let a = A::new(&irt);
    let tampered = a.signed().replace("_nid42", "_nid43");
    let err = sp
        .accept_response(&post(&response(&tampered, ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
    let foreign = a.signed_by(&keys().2 .0);
    let err = sp
        .accept_response(&post(&response(&foreign, ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
    let unsigned = a.unsigned("");
    let err = sp
        .accept_response(&post(&response(&unsigned, ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
    // None of these used up the request: the genuine response is still accepted.
    sp.accept_response(&post(&response(&a.signed(), ACS, Some(&irt))), now())
        .unwrap();
}

#[test]
fn wrapped_assertions_are_refused() {
    let sp = sp();
    let irt = request_id(&sp);
    let genuine = A::new(&irt);
    let signed = genuine.signed();
    let mut evil = genuine.clone();
    evil.id = new_id();
    let evil_xml = evil.unsigned("").replace("_nid42", "_admin");
    // 1. The genuine signed assertion hidden in Extensions, an evil one as the child.
    let hidden = format!("<samlp:Extensions>{signed}</samlp:Extensions>{evil_xml}");
    let doc = response(&hidden, ACS, Some(&irt));
    let err = sp.accept_response(&post(&doc), now()).unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
    // 2. The genuine one as the child, an evil one nested inside it (in its Subject).
    let nested = signed.replacen("<saml:Subject>", &format!("<saml:Subject>{evil_xml}"), 1);
    let err = sp
        .accept_response(&post(&response(&nested, ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
    // 3. An evil assertion carrying the genuine one's ID and signature.
    let sig_start = signed.find("<ds:Signature").unwrap();
    let sig_end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let mut copy = genuine.clone();
    copy.audience = "http://evil.test".into();
    let forged = copy.unsigned(&signed[sig_start..sig_end]);
    let err = sp
        .accept_response(&post(&response(&forged, ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
    // 4. Two assertions side by side, both children of the Response.
    let doc = response(&format!("{signed}{}", evil.signed()), ACS, Some(&irt));
    let err = sp.accept_response(&post(&doc), now()).unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
}

#[test]
fn audience_destination_recipient_and_issuer_must_be_ours() {
    let sp = sp();
    let irt = request_id(&sp);
    let mut a = A::new(&irt);
    a.audience = "http://other-sp.test/metadata".into();
    let err = sp
        .accept_response(&post(&response(&a.signed(), ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(matches!(err, SamlError::WrongAudience), "{err}");

    let a = A::new(&irt);
    let doc = response(&a.signed(), "http://other-sp.test/acs", Some(&irt));
    let err = sp.accept_response(&post(&doc), now()).unwrap_err();
    assert!(matches!(err, SamlError::WrongDestination), "{err}");

    let mut a = A::new(&irt);
    a.recipient = "http://other-sp.test/acs".into();
    let err = sp
        .accept_response(&post(&response(&a.signed(), ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(matches!(err, SamlError::WrongRecipient), "{err}");

    let mut a = A::new(&irt);
    a.issuer = "http://other-idp.test/metadata".into();
    let err = sp
        .accept_response(&post(&response(&a.signed(), ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(matches!(err, SamlError::WrongIssuer), "{err}");
    // Still unused: the request is answered by a good response.
    sp.accept_response(
        &post(&response(&A::new(&irt).signed(), ACS, Some(&irt))),
        now(),
    )
    .unwrap();
}

#[test]
fn expired_and_early_assertions_are_refused_beyond_the_skew() {
    let sp = sp();
    let irt = request_id(&sp);
    let a = A::new(&irt);
    let doc = post(&response(&a.signed(), ACS, Some(&irt)));
    let late = a.not_on_or_after + Duration::seconds(61);
    let err = sp.accept_response(&doc, late).unwrap_err();
    assert!(matches!(err, SamlError::Expired(_)), "{err}");
    let early = a.not_before - Duration::seconds(61);
    let err = sp.accept_response(&doc, early).unwrap_err();
    assert!(matches!(err, SamlError::NotYetValid(_)), "{err}");
    // Each window on its own: the Conditions, then the bearer confirmation.
    let mut c = A::new(&irt);
    c.not_on_or_after = now() - Duration::seconds(61);
    let err = sp
        .accept_response(&post(&response(&c.signed(), ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(
        matches!(err, SamlError::Expired("Conditions NotOnOrAfter")),
        "{err}"
    );
    let mut c = A::new(&irt);
    c.confirm_until = now() - Duration::seconds(61);
    let err = sp
        .accept_response(&post(&response(&c.signed(), ACS, Some(&irt))), now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            SamlError::Expired("SubjectConfirmationData NotOnOrAfter")
        ),
        "{err}"
    );
    // Within the 60 s skew: accepted (NotBefore 30 s ahead).
    let mut b = A::new(&irt);
    b.not_before = now() + Duration::seconds(30);
    let within = post(&response(&b.signed(), ACS, Some(&irt)));
    sp.accept_response(&within, now()).unwrap();
}

#[test]
fn a_replayed_response_and_an_unknown_or_missing_in_response_to_are_refused() {
    let sp = sp();
    let irt = request_id(&sp);
    let doc = post(&response(&A::new(&irt).signed(), ACS, Some(&irt)));
    sp.accept_response(&doc, now()).unwrap();
    let err = sp.accept_response(&doc, now()).unwrap_err();
    assert!(matches!(err, SamlError::Replayed(_)), "{err}");
    // The request was answered: a second, fresh assertion for it is refused too.
    let again = post(&response(&A::new(&irt).signed(), ACS, Some(&irt)));
    let err = sp.accept_response(&again, now()).unwrap_err();
    assert!(matches!(err, SamlError::UnknownInResponseTo), "{err}");
    // A request this SP never sent.
    let doc = post(&response(&A::new("_never").signed(), ACS, Some("_never")));
    let err = sp.accept_response(&doc, now()).unwrap_err();
    assert!(matches!(err, SamlError::UnknownInResponseTo), "{err}");
    // Unsolicited (no InResponseTo): this SP asks first.
    let irt = request_id(&sp);
    let mut a = A::new(&irt);
    a.irt = None;
    let err = sp
        .accept_response(&post(&response(&a.signed(), ACS, None)), now())
        .unwrap_err();
    assert!(matches!(err, SamlError::UnknownInResponseTo), "{err}");
    // A request too old to be answered.
    let irt = request_id(&sp);
    let later = now() + Duration::minutes(11);
    let mut a = A::new(&irt);
    a.not_before = later;
    a.not_on_or_after = later + Duration::minutes(5);
    a.confirm_until = a.not_on_or_after;
    let err = sp
        .accept_response(&post(&response(&a.signed(), ACS, Some(&irt))), later)
        .unwrap_err();
    assert!(matches!(err, SamlError::UnknownInResponseTo), "{err}");
}

#[test]
fn statuses_dtds_and_garbage_are_refused() {
    let sp = sp();
    let irt = request_id(&sp);
    let denied = response("", ACS, Some(&irt)).replace(
        "<samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Success\"/>",
        "<samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:Responder\"><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:RequestDenied\"/></samlp:StatusCode>",
    );
    match sp.accept_response(&post(&denied), now()) {
        Err(SamlError::Status(s)) => assert_eq!(s, "Responder/RequestDenied"),
        other => panic!("{other:?}"),
    }
    let dtd = format!(
        "<!DOCTYPE x [<!ENTITY a \"b\">]>{}",
        response(&A::new(&irt).signed(), ACS, Some(&irt))
    );
    let err = sp.accept_response(&post(&dtd), now()).unwrap_err();
    assert!(matches!(err, SamlError::Malformed(_)), "{err}");
    assert!(sp.accept_response("%%%", now()).is_err());
    assert!(sp.accept_response(&post("<a>"), now()).is_err());
    let huge = "A".repeat(400 * 1024);
    assert!(matches!(
        sp.accept_response(&huge, now()),
        Err(SamlError::Malformed(_))
    ));
}

fn principal() -> SamlPrincipal {
    SamlPrincipal {
        name_id: "_nid42".into(),
        name_id_format: Some(TRANSIENT.into()),
        name_qualifier: Some(IDP.into()),
        sp_name_qualifier: Some(SP.into()),
        session_index: Some("_s1".into()),
        session_not_on_or_after: None,
        attributes: Default::default(),
    }
}

/// A signed Redirect URL from the IdP to our SLO endpoint, signed by `key`.
fn from_idp(param: &str, xml: &str, key: &PKey<Private>) -> String {
    let url = redirect::signed_url(SLO, param, xml, None, key).unwrap();
    url.split_once('?').unwrap().1.to_owned()
}

fn logout_response_xml(irt: &str, status: &str) -> String {
    format!(
        "<samlp:LogoutResponse xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{t}\" Destination=\"{SLO}\" InResponseTo=\"{irt}\">\
<saml:Issuer>{IDP}</saml:Issuer><samlp:Status><samlp:StatusCode Value=\"urn:oasis:names:tc:SAML:2.0:status:{status}\"/></samlp:Status></samlp:LogoutResponse>",
        p = xml::PROTOCOL_NS,
        a = xml::ASSERTION_NS,
        id = new_id(),
        t = instant(now()),
    )
}

#[test]
fn sp_initiated_logout_sends_the_session_and_accepts_only_the_idps_answer() {
    let sp = sp();
    let url = sp
        .logout_request_url(&principal(), Some("/"), now())
        .unwrap();
    assert!(url.starts_with(&format!("{IDP_SLO}?SAMLRequest=")), "{url}");
    let (query, root) = read_redirect(&url, "SAMLRequest", &keys().1 .1);
    assert!(query.contains("&RelayState=%2F&SigAlg="), "{query}");
    assert!(root.is(xml::PROTOCOL_NS, "LogoutRequest"));
    assert_eq!(root.attr("Destination"), Some(IDP_SLO));
    let name_id = root.child(xml::ASSERTION_NS, "NameID").unwrap().unwrap();
    assert_eq!(name_id.text, "_nid42");
    assert_eq!(name_id.attr("NameQualifier"), Some(IDP));
    assert_eq!(name_id.attr("SPNameQualifier"), Some(SP));
    assert_eq!(name_id.attr("Format"), Some(TRANSIENT));
    let index = root
        .child(xml::PROTOCOL_NS, "SessionIndex")
        .unwrap()
        .unwrap();
    assert_eq!(index.text, "_s1");
    let id = root.attr("ID").unwrap();

    let (idp_key, other_key) = (&keys().0 .0, &keys().2 .0);
    // Signed by someone else, or not signed: refused, and the request stays open.
    let forged = from_idp(
        "SAMLResponse",
        &logout_response_xml(id, "Success"),
        other_key,
    );
    let err = sp.accept_logout_response(&forged, now()).unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
    let unsigned = forged.split("&SigAlg=").next().unwrap();
    let err = sp.accept_logout_response(unsigned, now()).unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
    let stranger = from_idp(
        "SAMLResponse",
        &logout_response_xml("_other", "Success"),
        idp_key,
    );
    let err = sp.accept_logout_response(&stranger, now()).unwrap_err();
    assert!(matches!(err, SamlError::UnknownInResponseTo), "{err}");

    let good = from_idp("SAMLResponse", &logout_response_xml(id, "Success"), idp_key);
    let result = sp.accept_logout_response(&good, now()).unwrap();
    assert!(result.success);
    assert_eq!(result.status, "Success");
    // Once only.
    let err = sp.accept_logout_response(&good, now()).unwrap_err();
    assert!(matches!(err, SamlError::UnknownInResponseTo), "{err}");

    // A failure status is reported as such.
    let url = sp.logout_request_url(&principal(), None, now()).unwrap();
    let (_, root) = read_redirect(&url, "SAMLRequest", &keys().1 .1);
    let id = root.attr("ID").unwrap();
    let failed = from_idp(
        "SAMLResponse",
        &logout_response_xml(id, "Requester"),
        idp_key,
    );
    let result = sp.accept_logout_response(&failed, now()).unwrap();
    assert!(!result.success);
    assert_eq!(result.status, "Requester");
}

fn idp_logout_request(id: &str, destination: &str, sp_qualifier: &str) -> String {
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"{p}\" xmlns:saml=\"{a}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{t}\" Destination=\"{destination}\">\
<saml:Issuer>{IDP}</saml:Issuer><saml:NameID Format=\"{TRANSIENT}\" NameQualifier=\"{IDP}\" SPNameQualifier=\"{sp_qualifier}\">_nid42</saml:NameID>\
<samlp:SessionIndex>_s1</samlp:SessionIndex></samlp:LogoutRequest>",
        p = xml::PROTOCOL_NS,
        a = xml::ASSERTION_NS,
        t = instant(now()),
    )
}

#[test]
fn idp_initiated_logout_is_verified_matched_and_answered_signed() {
    let sp = sp();
    let (idp_key, other_key) = (&keys().0 .0, &keys().2 .0);
    let forged = from_idp(
        "SAMLRequest",
        &idp_logout_request("_l1", SLO, SP),
        other_key,
    );
    let err = sp.accept_logout_request(&forged, now()).unwrap_err();
    assert!(matches!(err, SamlError::BadSignature(_)), "{err}");
    let elsewhere = from_idp(
        "SAMLRequest",
        &idp_logout_request("_l2", "http://other.test/slo", SP),
        idp_key,
    );
    let err = sp.accept_logout_request(&elsewhere, now()).unwrap_err();
    assert!(matches!(err, SamlError::WrongDestination), "{err}");
    let other_sp = from_idp(
        "SAMLRequest",
        &idp_logout_request("_l3", SLO, "http://other.test/sp"),
        idp_key,
    );
    let err = sp.accept_logout_request(&other_sp, now()).unwrap_err();
    assert!(matches!(err, SamlError::WrongAudience), "{err}");
    let good = from_idp("SAMLRequest", &idp_logout_request("_l4", SLO, SP), idp_key);
    let stale = now() + Duration::minutes(10);
    let err = sp.accept_logout_request(&good, stale).unwrap_err();
    assert!(matches!(err, SamlError::Expired(_)), "{err}");

    let req = sp.accept_logout_request(&good, now()).unwrap();
    assert_eq!(req.id, "_l4");
    assert!(req.matches(&principal()));
    let mut other_session = principal();
    other_session.session_index = Some("_s2".into());
    assert!(!req.matches(&other_session));
    let err = sp.accept_logout_request(&good, now()).unwrap_err();
    assert!(matches!(err, SamlError::Replayed(_)), "{err}");

    for (ended, status) in [
        (true, "urn:oasis:names:tc:SAML:2.0:status:Success"),
        (false, "urn:oasis:names:tc:SAML:2.0:status:Requester"),
    ] {
        let url = sp.logout_response_url(&req, ended, now()).unwrap();
        assert!(
            url.starts_with(&format!("{IDP_SLO}?SAMLResponse=")),
            "{url}"
        );
        let (_, root) = read_redirect(&url, "SAMLResponse", &keys().1 .1);
        assert_eq!(root.attr("InResponseTo"), Some("_l4"));
        assert_eq!(root.attr("Destination"), Some(IDP_SLO));
        let code = root
            .child(xml::PROTOCOL_NS, "Status")
            .unwrap()
            .unwrap()
            .child(xml::PROTOCOL_NS, "StatusCode")
            .unwrap()
            .unwrap();
        assert_eq!(code.attr("Value"), Some(status));
    }
}

#[test]
fn metadata_is_what_fedmeta_join_reads() {
    let sp = sp();
    let xml = sp.metadata().unwrap();
    let domain = federation_metadata::source::load_domain(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/federation/demo"
    )))
    .unwrap();
    let imported = federation_metadata::saml_import::import_sp_metadata(
        &xml,
        "sp-test",
        &domain.federation,
        time::macros::date!(2026 - 01 - 05),
    )
    .unwrap();
    let federation_metadata::model::Protocol::Saml(s) = &imported.service.protocol else {
        panic!("not a SAML service");
    };
    assert_eq!(s.entity_id, SP);
    assert_eq!(s.assertion_consumer_services.len(), 1);
    assert_eq!(s.assertion_consumer_services[0].location, ACS);
    assert_eq!(s.single_logout_services[0].location, SLO);
    assert!(s.authn_requests_signed && s.want_assertions_signed);
    let registered = X509::from_pem(s.signing_certificates[0].as_bytes()).unwrap();
    assert_eq!(registered.to_der().unwrap(), keys().1 .1.to_der().unwrap());
}
