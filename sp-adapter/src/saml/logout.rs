//! Single logout over HTTP-Redirect (SAML profiles 4.4), both directions.
//!
//! SP-initiated: our signed LogoutRequest names the NameID as the assertion gave it (with
//! its qualifiers and format) and the SessionIndex; its ID is remembered, and the IdP's
//! LogoutResponse must be signed, answer that ID (once), come from the IdP and be for our
//! SLO endpoint. IdP-initiated: the IdP's LogoutRequest must be signed, come from the IdP,
//! be for our SLO endpoint, be recent and new (its ID is remembered), and name a NameID;
//! our LogoutResponse is signed the same way.

use time::OffsetDateTime;

use super::xml::{self, esc, Element, ASSERTION_NS, PROTOCOL_NS};
use super::{
    instant, new_id, optional_instant, redirect, status_label, SamlError, SamlPrincipal,
    ServiceProvider, MAX_MESSAGE_AGE, REQUEST_LIFETIME,
};

const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const REQUESTER: &str = "urn:oasis:names:tc:SAML:2.0:status:Requester";
const UNKNOWN_PRINCIPAL: &str = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal";

/// A verified LogoutRequest from the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpLogoutRequest {
    pub id: String,
    pub name_id: String,
    pub name_id_format: Option<String>,
    pub session_indexes: Vec<String>,
    pub relay_state: Option<String>,
}

impl IdpLogoutRequest {
    /// Whether this request names the session of `p`: the same NameID (and format when
    /// both say one), and its SessionIndex when the request lists any.
    pub fn matches(&self, p: &SamlPrincipal) -> bool {
        let format_ok = match (&self.name_id_format, &p.name_id_format) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        format_ok
            && self.name_id == p.name_id
            && (self.session_indexes.is_empty()
                || p.session_index
                    .as_ref()
                    .is_some_and(|i| self.session_indexes.contains(i)))
    }
}

/// The IdP's answer to our LogoutRequest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutResult {
    /// Top-level `Success`.
    pub success: bool,
    /// The status codes without their URN prefix (`Success`, `Requester/UnknownPrincipal`).
    pub status: String,
    pub relay_state: Option<String>,
}

fn malformed(why: &str) -> SamlError {
    SamlError::Malformed(why.to_owned())
}

fn text<'a>(e: &'a Element, ns: &str, name: &str) -> Result<Option<&'a str>, SamlError> {
    Ok(e.child(ns, name)?.map(|c| c.text.as_str()))
}

impl ServiceProvider {
    /// Issuer (when present: the IdP), Version, Destination (ours), IssueInstant (not in
    /// the future beyond the skew, not older than `MAX_MESSAGE_AGE`).
    fn check_envelope(&self, root: &Element, now: OffsetDateTime) -> Result<(), SamlError> {
        if root.attr("Version") != Some("2.0") {
            return Err(malformed("Version is not 2.0"));
        }
        if text(root, ASSERTION_NS, "Issuer")? != Some(self.idp.entity_id.as_str()) {
            return Err(SamlError::WrongIssuer);
        }
        if root.attr("Destination") != Some(self.sp.slo_url.as_str()) {
            return Err(SamlError::WrongDestination);
        }
        let issued = optional_instant(root.attr("IssueInstant"))?
            .ok_or_else(|| malformed("no IssueInstant"))?;
        if issued > now + self.sp.clock_skew {
            return Err(SamlError::NotYetValid("IssueInstant"));
        }
        if issued + MAX_MESSAGE_AGE + self.sp.clock_skew <= now {
            return Err(SamlError::Expired("IssueInstant"));
        }
        Ok(())
    }

    /// SP-initiated logout: the IdP's SLO URL with our signed LogoutRequest for the
    /// session `p` (its ID remembered for the answer).
    pub fn logout_request_url(
        &self,
        p: &SamlPrincipal,
        relay_state: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<String, SamlError> {
        let id = new_id();
        let mut name_id_attrs = String::new();
        for (name, value) in [
            ("Format", &p.name_id_format),
            ("NameQualifier", &p.name_qualifier),
            ("SPNameQualifier", &p.sp_name_qualifier),
        ] {
            if let Some(v) = value {
                name_id_attrs.push_str(&format!(" {name}=\"{}\"", esc(v)));
            }
        }
        let session_index = p
            .session_index
            .as_ref()
            .map(|i| format!("<samlp:SessionIndex>{}</samlp:SessionIndex>", esc(i)))
            .unwrap_or_default();
        let xml = format!(
            "<samlp:LogoutRequest xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" Version=\"2.0\" \
IssueInstant=\"{now}\" Destination=\"{dest}\"><saml:Issuer>{issuer}</saml:Issuer>\
<saml:NameID{name_id_attrs}>{name_id}</saml:NameID>{session_index}</samlp:LogoutRequest>",
            now = instant(now),
            dest = esc(&self.idp.slo_url),
            issuer = esc(&self.sp.entity_id),
            name_id = esc(&p.name_id),
        );
        let url = redirect::signed_url(
            &self.idp.slo_url,
            "SAMLRequest",
            &xml,
            relay_state,
            &self.sp.key,
        )?;
        self.memory()
            .logout
            .first_use(&id, now + REQUEST_LIFETIME, now);
        Ok(url)
    }

    /// The IdP's LogoutResponse (the raw query of a GET to our SLO endpoint) to our
    /// LogoutRequest.
    pub fn accept_logout_response(
        &self,
        raw_query: &str,
        now: OffsetDateTime,
    ) -> Result<LogoutResult, SamlError> {
        let received = redirect::decode_verified(raw_query, "SAMLResponse", &self.idp.certificate)?;
        let root = xml::parse(&received.xml)?;
        if !root.is(PROTOCOL_NS, "LogoutResponse") {
            return Err(malformed("not a samlp:LogoutResponse"));
        }
        self.check_envelope(&root, now)?;
        let irt = root
            .attr("InResponseTo")
            .ok_or(SamlError::UnknownInResponseTo)?;
        if !self.memory().logout.take(irt, now) {
            return Err(SamlError::UnknownInResponseTo);
        }
        let code = root
            .child(PROTOCOL_NS, "Status")?
            .and_then(|s| s.children_named(PROTOCOL_NS, "StatusCode").next())
            .ok_or_else(|| malformed("no StatusCode"))?;
        let top = code.attr("Value").unwrap_or_default();
        let second = code
            .children_named(PROTOCOL_NS, "StatusCode")
            .next()
            .and_then(|c| c.attr("Value"));
        Ok(LogoutResult {
            success: top == SUCCESS,
            status: status_label(top, second),
            relay_state: received.relay_state,
        })
    }

    /// IdP-initiated logout: the IdP's LogoutRequest (the raw query of a GET to our SLO
    /// endpoint), verified and checked. The caller ends the matching local sessions
    /// ([`IdpLogoutRequest::matches`]) and answers with [`Self::logout_response_url`].
    pub fn accept_logout_request(
        &self,
        raw_query: &str,
        now: OffsetDateTime,
    ) -> Result<IdpLogoutRequest, SamlError> {
        let received = redirect::decode_verified(raw_query, "SAMLRequest", &self.idp.certificate)?;
        let root = xml::parse(&received.xml)?;
        if !root.is(PROTOCOL_NS, "LogoutRequest") {
            return Err(malformed("not a samlp:LogoutRequest"));
        }
        self.check_envelope(&root, now)?;
        let id = root
            .attr("ID")
            .filter(|i| !i.is_empty())
            .ok_or_else(|| malformed("no ID"))?;
        if let Some(t) = optional_instant(root.attr("NotOnOrAfter"))? {
            if now >= t + self.sp.clock_skew {
                return Err(SamlError::Expired("LogoutRequest NotOnOrAfter"));
            }
        }
        let name_id = root
            .child(ASSERTION_NS, "NameID")?
            .ok_or_else(|| malformed("no NameID (an encrypted one is not supported)"))?;
        if name_id.text.is_empty() {
            return Err(malformed("empty NameID"));
        }
        if name_id
            .attr("NameQualifier")
            .is_some_and(|q| q != self.idp.entity_id)
            || name_id
                .attr("SPNameQualifier")
                .is_some_and(|q| q != self.sp.entity_id)
        {
            return Err(SamlError::WrongAudience);
        }
        let session_indexes = root
            .children_named(PROTOCOL_NS, "SessionIndex")
            .map(|s| s.text.clone())
            .collect();
        let until = now + MAX_MESSAGE_AGE + self.sp.clock_skew * 2;
        if !self.memory().idp_logouts.first_use(id, until, now) {
            return Err(SamlError::Replayed("LogoutRequest ID"));
        }
        Ok(IdpLogoutRequest {
            id: id.to_owned(),
            name_id: name_id.text.clone(),
            name_id_format: name_id.attr("Format").map(str::to_owned),
            session_indexes,
            relay_state: received.relay_state,
        })
    }

    /// Our signed LogoutResponse to `req`, as the IdP's SLO URL to redirect to: `Success`
    /// when a local session ended, else `Requester/UnknownPrincipal`.
    pub fn logout_response_url(
        &self,
        req: &IdpLogoutRequest,
        ended: bool,
        now: OffsetDateTime,
    ) -> Result<String, SamlError> {
        let status = if ended {
            format!("<samlp:StatusCode Value=\"{SUCCESS}\"/>")
        } else {
            format!(
                "<samlp:StatusCode Value=\"{REQUESTER}\"><samlp:StatusCode Value=\"{UNKNOWN_PRINCIPAL}\"/></samlp:StatusCode>"
            )
        };
        let xml = format!(
            "<samlp:LogoutResponse xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" Version=\"2.0\" \
IssueInstant=\"{now}\" Destination=\"{dest}\" InResponseTo=\"{irt}\"><saml:Issuer>{issuer}</saml:Issuer>\
<samlp:Status>{status}</samlp:Status></samlp:LogoutResponse>",
            id = new_id(),
            now = instant(now),
            dest = esc(&self.idp.slo_url),
            irt = esc(&req.id),
            issuer = esc(&self.sp.entity_id),
        );
        redirect::signed_url(
            &self.idp.slo_url,
            "SAMLResponse",
            &xml,
            req.relay_state.as_deref(),
            &self.sp.key,
        )
    }
}
