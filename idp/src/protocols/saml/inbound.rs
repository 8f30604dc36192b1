//! The trust checks every SAML request the IdP receives from an SP goes through, written
//! once so that the AuthnRequest and LogoutRequest paths cannot drift apart: decode (the
//! binding's size bounds), parse (`shallow`: no DTD, only the root and its direct children),
//! Issuer, an active SAML service of the registry, then the signature with that SP's
//! registered certificates only — HTTP-Redirect over the raw query bytes, HTTP-POST
//! enveloped through `xmlsig`'s wrapping-safe verifier, off the async executor — with
//! RSA-SHA1 only where the SP's entry says `allow_sha1` ([`verify_signature`], also used for
//! the LogoutResponses SPs send back). After its own freshness checks each caller uses the
//! request ID once ([`Saml::first_use`]), in a key space per message kind so that an
//! AuthnRequest ID cannot burn (or be burnt by) a LogoutRequest ID.
//!
//! What each kind checks next (Version, Destination, IssueInstant, ACS, NameIDPolicy...) and
//! how it answers a refusal (error page or SAML status) stays with its caller.

use std::sync::Arc;
use std::time::Duration;

use federation_metadata::model::Service;

use super::error::Refusal;
use super::logout::LogoutRequest;
use super::request::AuthnRequest;
use super::slo::LogoutRejection;
use super::{bindings, Incoming, Rejection, Saml};

/// The kinds of request an SP sends us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AuthnRequest,
    LogoutRequest,
}

impl Kind {
    /// Prefix of the replay keys in the `CounterStore`: one key space per kind.
    pub fn replay_prefix(self) -> &'static str {
        match self {
            Self::AuthnRequest => "saml-authn-request-id:",
            Self::LogoutRequest => "saml-logout-request-id:",
        }
    }

    /// Why an unsigned request is refused when a signature is required.
    fn unsigned(self) -> &'static str {
        match self {
            Self::AuthnRequest => "the request is not signed and this SP must sign its requests",
            Self::LogoutRequest => "a LogoutRequest must be signed",
        }
    }
}

/// A request message as `shallow` reads it.
pub trait Message: Sized {
    const KIND: Kind;
    fn parse(xml: &str) -> Result<Self, Refusal>;
    fn issuer(&self) -> Option<&str>;
    /// A `ds:Signature` is a direct child of the root.
    fn signed_enveloped(&self) -> bool;
}

impl Message for AuthnRequest {
    const KIND: Kind = Kind::AuthnRequest;
    fn parse(xml: &str) -> Result<Self, Refusal> {
        super::request::parse_authn_request(xml)
    }
    fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }
    fn signed_enveloped(&self) -> bool {
        self.signed_enveloped
    }
}

impl Message for LogoutRequest {
    const KIND: Kind = Kind::LogoutRequest;
    fn parse(xml: &str) -> Result<Self, Refusal> {
        super::logout::parse_logout_request(xml)
    }
    fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }
    fn signed_enveloped(&self) -> bool {
        self.signed_enveloped
    }
}

/// A request from an active SAML service whose signature (if any) verified.
#[derive(Debug)]
pub struct Received<M> {
    pub message: M,
    /// The Issuer: the SP's entityID.
    pub issuer: String,
    /// The SP's registry entry, as in force when the request arrived (a SAML service).
    pub service: Arc<Service>,
    pub relay_state: Option<String>,
    /// A signature was present and verified (an unsigned request only gets here when
    /// neither the kind, the SP's entry nor `saml.require_signed_requests` needs one).
    pub signed: bool,
}

/// Why a request ID cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.reason())]
pub enum ReplayError {
    Replayed,
    Unavailable,
}

impl ReplayError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Replayed => "request ID already used (replay)",
            Self::Unavailable => "replay cache unavailable",
        }
    }
}

/// A request refused before anything in it could be trusted: an error page (never an
/// answer to an address the request names). Each kind turns it into its own rejection.
#[derive(Debug)]
pub struct Untrusted {
    pub refusal: Refusal,
    /// The Issuer is not an active SAML service.
    pub unknown_sp: bool,
}

fn page(refusal: Refusal) -> Untrusted {
    Untrusted {
        refusal,
        unknown_sp: false,
    }
}

impl From<Untrusted> for Rejection {
    fn from(u: Untrusted) -> Self {
        Self {
            refusal: u.refusal,
            answer_to: None,
            unknown_sp: u.unknown_sp,
        }
    }
}

impl From<Untrusted> for LogoutRejection {
    fn from(u: Untrusted) -> Self {
        Self {
            refusal: u.refusal,
            answer_to: None,
            unknown_sp: u.unknown_sp,
        }
    }
}

impl Saml {
    /// Decodes `incoming`, reads it as an `M`, finds its Issuer among the active SAML
    /// services and verifies its signature (required for LogoutRequests, and for
    /// AuthnRequests when the SP's entry or the settings say so). `sp_name` gets the Issuer
    /// as soon as it is known, for the audit trail. Every refusal here is an error page:
    /// nothing is trusted yet to answer to.
    pub(super) async fn receive_signed<M: Message>(
        &self,
        incoming: Incoming,
        sp_name: &mut String,
    ) -> Result<Received<M>, Untrusted> {
        let (xml, relay_state, redirect_sig, post) = match incoming {
            Incoming::Redirect(query) => {
                let m = bindings::decode_redirect(&query, "SAMLRequest").map_err(page)?;
                (m.xml, m.relay_state, m.signature, false)
            }
            Incoming::Post {
                saml_request,
                relay_state,
            } => {
                let xml =
                    bindings::decode_post(&saml_request, relay_state.as_deref()).map_err(page)?;
                (xml, relay_state, None, true)
            }
        };
        let message = M::parse(&xml).map_err(page)?;
        let issuer = message
            .issuer()
            .filter(|i| !i.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| page(Refusal::page("the request has no Issuer")))?;
        sp_name.clone_from(&issuer);
        let now = self.clock.now();
        let Some((_, service)) = self.federation.saml_service_with_registry(&issuer, now) else {
            return Err(Untrusted {
                refusal: Refusal::page("the Issuer is not an active SAML service of the registry"),
                unknown_sp: true,
            });
        };
        let sp = service
            .saml()
            .ok_or_else(|| page(Refusal::page("not a SAML service")))?;
        let signed = verify_signature(
            xml,
            redirect_sig,
            post && message.signed_enveloped(),
            &sp.signing_certificates,
            sp.allow_sha1,
        )
        .await
        .map_err(page)?;
        let required = match M::KIND {
            Kind::LogoutRequest => true,
            Kind::AuthnRequest => sp.authn_requests_signed || self.require_signed,
        };
        if required && !signed {
            return Err(page(Refusal::page(M::KIND.unsigned())));
        }
        Ok(Received {
            message,
            issuer,
            service,
            relay_state,
            signed,
        })
    }

    /// Records request `id` of `issuer` as used; refused when it already was within the
    /// time such a request can still be accepted (`request_max_age_secs` + twice the skew).
    pub(super) async fn first_use(
        &self,
        kind: Kind,
        issuer: &str,
        id: &str,
    ) -> Result<(), ReplayError> {
        let window =
            Duration::try_from(self.max_age + self.skew * 2).unwrap_or(Duration::from_secs(600));
        let key = replay_key(kind, issuer, id);
        match self.counters.hit(&key, window).await {
            Ok(1) => Ok(()),
            Ok(_) => Err(ReplayError::Replayed),
            Err(e) => {
                tracing::error!(error = %e, "SAML replay cache unavailable");
                Err(ReplayError::Unavailable)
            }
        }
    }
}

/// The signature of a message from an SP, with its registered `certs` only (RSA-SHA1 only
/// with `allow_sha1`): the HTTP-Redirect query signature `redirect_sig` (algorithm,
/// signature, signed bytes) when there is one, else the enveloped one of `xml` when
/// `post_signed` (a POSTed message with a `ds:Signature` child of its root), verified off
/// the async executor. `Ok(false)`: unsigned; whether that is acceptable is the caller's.
pub(super) async fn verify_signature(
    xml: String,
    redirect_sig: Option<(String, Vec<u8>, Vec<u8>)>,
    post_signed: bool,
    certs: &[String],
    allow_sha1: bool,
) -> Result<bool, Refusal> {
    if let Some((alg, sig, signed_bytes)) = &redirect_sig {
        bindings::verify_redirect_signature(alg, sig, signed_bytes, certs, allow_sha1)?;
        return Ok(true);
    }
    if !post_signed {
        return Ok(false);
    }
    // libxmlsec1 is synchronous CPU work.
    let certs = certs.to_vec();
    tokio::task::spawn_blocking(move || bindings::verify_post_signature(&xml, &certs, allow_sha1))
        .await
        .map_err(|_| Refusal::page("verification task failed"))??;
    Ok(true)
}

/// The `CounterStore` key of request `id` from `issuer` (length-prefixed, so that no two
/// pairs hash the same input).
pub fn replay_key(kind: Kind, issuer: &str, id: &str) -> String {
    format!(
        "{}{}",
        kind.replay_prefix(),
        crate::federation::sha1_hex(&format!("{}:{issuer}\n{id}", issuer.len()))
    )
}
