//! Why a SAML request is refused, and how: an error page (nothing trusted to answer to) or a
//! SAML status sent to a registered AssertionConsumerService.

use std::borrow::Cow;

/// Top-level and second-level SAML status codes used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `Requester` alone.
    Requester,
    /// `Responder` alone.
    Responder,
    /// `Requester` / `RequestDenied`.
    RequestDenied,
    /// `Requester` / `InvalidNameIDPolicy`.
    InvalidNameIdPolicy,
    /// `Responder` / `NoPassive`.
    NoPassive,
    /// `Responder` / `UnknownPrincipal`.
    UnknownPrincipal,
    /// `Responder` / `UnsupportedBinding`: a response binding other than HTTP-POST.
    UnsupportedBinding,
    /// `VersionMismatch`.
    VersionMismatch,
}

const P: &str = "urn:oasis:names:tc:SAML:2.0:status:";

impl Status {
    /// (top-level, second-level) status code URIs.
    pub fn codes(self) -> (String, Option<String>) {
        let (top, sub) = match self {
            Self::Requester => ("Requester", None),
            Self::Responder => ("Responder", None),
            Self::RequestDenied => ("Requester", Some("RequestDenied")),
            Self::InvalidNameIdPolicy => ("Requester", Some("InvalidNameIDPolicy")),
            Self::NoPassive => ("Responder", Some("NoPassive")),
            Self::UnknownPrincipal => ("Responder", Some("UnknownPrincipal")),
            Self::UnsupportedBinding => ("Responder", Some("UnsupportedBinding")),
            Self::VersionMismatch => ("VersionMismatch", None),
        };
        (format!("{P}{top}"), sub.map(|s| format!("{P}{s}")))
    }

    /// Short name for the audit trail.
    pub fn label(self) -> &'static str {
        match self {
            Self::Requester => "Requester",
            Self::Responder => "Responder",
            Self::RequestDenied => "RequestDenied",
            Self::InvalidNameIdPolicy => "InvalidNameIDPolicy",
            Self::NoPassive => "NoPassive",
            Self::UnknownPrincipal => "UnknownPrincipal",
            Self::UnsupportedBinding => "UnsupportedBinding",
            Self::VersionMismatch => "VersionMismatch",
        }
    }
}

/// A refused request. `status: None` means an error page.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{reason}")]
pub struct Refusal {
    pub status: Option<Status>,
    pub reason: Cow<'static, str>,
}

impl Refusal {
    pub fn page(reason: &'static str) -> Self {
        Self {
            status: None,
            reason: Cow::Borrowed(reason),
        }
    }

    pub fn page_owned(reason: String) -> Self {
        Self {
            status: None,
            reason: Cow::Owned(reason),
        }
    }

    pub fn status(status: Status, reason: &'static str) -> Self {
        Self {
            status: Some(status),
            reason: Cow::Borrowed(reason),
        }
    }
}
