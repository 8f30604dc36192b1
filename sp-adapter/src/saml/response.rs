//! The HTTP-POST Response (SAML profiles 4.1.4.3): every check a strict SP makes, in an
//! order where nothing from an unverified part decides who logs in.
//!
//! The Response element itself is not signed by our IdP (only the Assertion is), so what
//! it says (Destination, InResponseTo, Status) is only ever used to refuse. The one
//! Assertion must be a direct child of the Response and the only `saml:Assertion` in the
//! whole document; it is cut out (with the namespace declarations in scope) and verified
//! on its own by `xmlsig`, whose structure checks refuse wrapping inside it. The person,
//! the audience, the recipient, the times and the request it answers are then read from
//! that verified document only.

use base64::Engine as _;
use time::OffsetDateTime;

use super::xml::{self, Element, ASSERTION_NS, PROTOCOL_NS};
use super::{optional_instant, status_label, SamlError, SamlPrincipal, ServiceProvider};

const BEARER: &str = "urn:oasis:names:tc:SAML:2.0:cm:bearer";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
/// Largest `SAMLResponse` form value accepted (base64).
const MAX_ENCODED: usize = xml::MAX_XML * 4 / 3 + 4096;

fn malformed(why: &str) -> SamlError {
    SamlError::Malformed(why.to_owned())
}

/// The text of the one child `ns:name` of `e`.
fn child_text<'a>(e: &'a Element, ns: &str, name: &str) -> Result<Option<&'a str>, SamlError> {
    Ok(e.child(ns, name)?.map(|c| c.text.as_str()))
}

impl ServiceProvider {
    /// Checks the base64 `SAMLResponse` of a POST to our ACS and returns who logged in.
    /// The AuthnRequest it answers is used up, and so is the assertion ID.
    pub fn accept_response(
        &self,
        saml_response: &str,
        now: OffsetDateTime,
    ) -> Result<SamlPrincipal, SamlError> {
        if saml_response.len() > MAX_ENCODED {
            return Err(malformed("message too large"));
        }
        let cleaned: String = saml_response
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .map_err(|_| malformed("not valid base64"))?;
        let doc = String::from_utf8(raw).map_err(|_| malformed("not UTF-8"))?;
        self.accept_response_xml(&doc, now)
    }

    /// [`Self::accept_response`] on the decoded document.
    pub fn accept_response_xml(
        &self,
        doc: &str,
        now: OffsetDateTime,
    ) -> Result<SamlPrincipal, SamlError> {
        let root = xml::parse(doc)?;
        if !root.is(PROTOCOL_NS, "Response") {
            return Err(malformed("not a samlp:Response"));
        }
        if root.attr("Version") != Some("2.0") {
            return Err(malformed("Version is not 2.0"));
        }
        if root.attr("Destination") != Some(self.sp.acs_url.as_str()) {
            return Err(SamlError::WrongDestination);
        }
        if let Some(issuer) = child_text(&root, ASSERTION_NS, "Issuer")? {
            if issuer != self.idp.entity_id {
                return Err(SamlError::WrongIssuer);
            }
        }
        let status = root
            .child(PROTOCOL_NS, "Status")?
            .ok_or_else(|| malformed("no Status"))?;
        let code = status
            .child(PROTOCOL_NS, "StatusCode")?
            .ok_or_else(|| malformed("no StatusCode"))?;
        let top = code.attr("Value").unwrap_or_default();
        if top != SUCCESS {
            let second = code
                .child(PROTOCOL_NS, "StatusCode")?
                .and_then(|c| c.attr("Value"));
            return Err(SamlError::Status(status_label(top, second)));
        }
        if root.count(ASSERTION_NS, "EncryptedAssertion") > 0 {
            return Err(SamlError::Refused(
                "encrypted assertions are not supported".into(),
            ));
        }
        // Exactly one assertion in the whole document, and it is the Response's child:
        // no second copy anywhere for a reader to pick by mistake.
        if root.count(ASSERTION_NS, "Assertion") != 1 {
            return Err(SamlError::BadSignature(
                "the response must hold exactly one assertion".into(),
            ));
        }
        let assertion = root
            .child(ASSERTION_NS, "Assertion")?
            .ok_or_else(|| SamlError::BadSignature("the assertion is misplaced".into()))?;
        let standalone = xml::extract(doc, assertion, &[&root])?;
        let verified =
            federation_metadata::xmlsig::verify_enveloped(&standalone, &self.idp.certificate)
                .map_err(|e| SamlError::BadSignature(e.to_string()))?;
        // From here on, only the verified document.
        let a = xml::parse(&verified.xml)?;
        if !a.is(ASSERTION_NS, "Assertion") || verified.root_name != "Assertion" {
            return Err(malformed("the signed element is not an Assertion"));
        }
        let principal = self.check_assertion(&a, root.attr("InResponseTo"), now)?;
        Ok(principal)
    }

    fn check_assertion(
        &self,
        a: &Element,
        response_irt: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<SamlPrincipal, SamlError> {
        let skew = self.sp.clock_skew;
        if a.attr("Version") != Some("2.0") {
            return Err(malformed("assertion Version is not 2.0"));
        }
        let id = a
            .attr("ID")
            .ok_or_else(|| malformed("assertion without ID"))?;
        if child_text(a, ASSERTION_NS, "Issuer")? != Some(self.idp.entity_id.as_str()) {
            return Err(SamlError::WrongIssuer);
        }

        // Subject: the NameID and a bearer confirmation for us, for our request, in time.
        let subject = a
            .child(ASSERTION_NS, "Subject")?
            .ok_or_else(|| malformed("no Subject"))?;
        let name_id = subject
            .child(ASSERTION_NS, "NameID")?
            .ok_or_else(|| malformed("no NameID"))?;
        if name_id.text.is_empty() {
            return Err(malformed("empty NameID"));
        }
        let mut confirmation = None;
        for sc in subject.children_named(ASSERTION_NS, "SubjectConfirmation") {
            if sc.attr("Method") == Some(BEARER) {
                if confirmation.is_some() {
                    return Err(malformed("more than one bearer SubjectConfirmation"));
                }
                confirmation = Some(
                    sc.child(ASSERTION_NS, "SubjectConfirmationData")?
                        .ok_or_else(|| malformed("no SubjectConfirmationData"))?,
                );
            }
        }
        let scd = confirmation.ok_or_else(|| malformed("no bearer SubjectConfirmation"))?;
        if scd.attr("Recipient") != Some(self.sp.acs_url.as_str()) {
            return Err(SamlError::WrongRecipient);
        }
        match optional_instant(scd.attr("NotOnOrAfter"))? {
            None => return Err(malformed("SubjectConfirmationData without NotOnOrAfter")),
            Some(t) if now >= t + skew => {
                return Err(SamlError::Expired("SubjectConfirmationData NotOnOrAfter"))
            }
            Some(_) => {}
        }
        if let Some(t) = optional_instant(scd.attr("NotBefore"))? {
            if now + skew < t {
                return Err(SamlError::NotYetValid("SubjectConfirmationData NotBefore"));
            }
        }

        // Conditions: in time, and every AudienceRestriction names us.
        let conditions = a
            .child(ASSERTION_NS, "Conditions")?
            .ok_or_else(|| malformed("no Conditions"))?;
        if let Some(t) = optional_instant(conditions.attr("NotBefore"))? {
            if now + skew < t {
                return Err(SamlError::NotYetValid("Conditions NotBefore"));
            }
        }
        let not_on_or_after = optional_instant(conditions.attr("NotOnOrAfter"))?
            .ok_or_else(|| malformed("Conditions without NotOnOrAfter"))?;
        if now >= not_on_or_after + skew {
            return Err(SamlError::Expired("Conditions NotOnOrAfter"));
        }
        let mut restrictions = 0;
        for r in conditions.children_named(ASSERTION_NS, "AudienceRestriction") {
            restrictions += 1;
            if !r
                .children_named(ASSERTION_NS, "Audience")
                .any(|au| au.text == self.sp.entity_id)
            {
                return Err(SamlError::WrongAudience);
            }
        }
        if restrictions == 0 {
            return Err(SamlError::WrongAudience);
        }

        // The authentication statement: the IdP session's index and end.
        let authn = a
            .child(ASSERTION_NS, "AuthnStatement")?
            .ok_or_else(|| malformed("no AuthnStatement"))?;
        let session_not_on_or_after = optional_instant(authn.attr("SessionNotOnOrAfter"))?;
        if session_not_on_or_after.is_some_and(|t| now >= t + skew) {
            return Err(SamlError::Expired("AuthnStatement SessionNotOnOrAfter"));
        }

        let mut attributes = std::collections::BTreeMap::new();
        for statement in a.children_named(ASSERTION_NS, "AttributeStatement") {
            for attr in statement.children_named(ASSERTION_NS, "Attribute") {
                let name = attr
                    .attr("Name")
                    .ok_or_else(|| malformed("Attribute without Name"))?;
                let values: &mut Vec<String> = attributes.entry(name.to_owned()).or_default();
                for v in attr.children_named(ASSERTION_NS, "AttributeValue") {
                    values.push(v.text.clone());
                }
            }
        }

        // Last, the checks that use something up: our request (once), the assertion
        // (once, remembered until it expires anyway), the replay checked first so that a
        // second copy of an accepted response says so.
        let irt = scd
            .attr("InResponseTo")
            .ok_or(SamlError::UnknownInResponseTo)?;
        if response_irt.is_some_and(|r| r != irt) {
            return Err(SamlError::UnknownInResponseTo);
        }
        let mut memory = self.memory();
        if !memory.assertions.first_use(id, not_on_or_after + skew, now) {
            return Err(SamlError::Replayed("assertion ID"));
        }
        if !memory.authn.take(irt, now) {
            return Err(SamlError::UnknownInResponseTo);
        }
        drop(memory);

        Ok(SamlPrincipal {
            name_id: name_id.text.clone(),
            name_id_format: name_id.attr("Format").map(str::to_owned),
            name_qualifier: name_id.attr("NameQualifier").map(str::to_owned),
            sp_name_qualifier: name_id.attr("SPNameQualifier").map(str::to_owned),
            session_index: authn.attr("SessionIndex").map(str::to_owned),
            session_not_on_or_after,
            attributes,
        })
    }
}
