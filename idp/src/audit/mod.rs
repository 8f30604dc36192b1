//! The audit trail the federation agreement requires: every authentication attempt,
//! every session start and end, every CAS ticket issued and validated, every SAML
//! assertion issued and SAML request refused, as typed events written as JSON lines to a
//! dedicated log, apart from the application log. Events never carry passwords, codes or session ids:
//! sessions are named by a non-secret `session_ref`.

mod jsonl;

use std::sync::Mutex;

use serde::Serialize;
use time::OffsetDateTime;

pub use jsonl::JsonLinesAudit;

/// Why an authentication attempt failed. The user sees one message for the first two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    UnknownLogin,
    WrongPassword,
    WrongActivationCode,
    AccountLocked,
    AccountLeft,
    ThrottledAccount,
    ThrottledAddress,
    CsrfMismatch,
    WeakPassword,
    BackendError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEndReason {
    Logout,
    IdleTimeout,
    AbsoluteTimeout,
    AccountDisabled,
    /// Replaced by a new session at login (session ids are renewed at every login).
    Superseded,
}

/// One audited fact. `login` is what the person typed (or their login on success).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AuditEvent {
    AuthnSuccess {
        login: String,
        person: String,
        method: &'static str,
        client_ip: String,
    },
    AuthnFailure {
        login: String,
        reason: FailureReason,
        client_ip: String,
    },
    AccountActivated {
        login: String,
        person: String,
        client_ip: String,
    },
    /// Everything held on the person was exported (RGPD right of access), at their own
    /// request (`self`, from their session) or by an administrator (`admin`, the CLI).
    PersonalDataExported {
        login: String,
        person: String,
        requested_by: &'static str,
        client_ip: String,
    },
    SessionStart {
        session_ref: String,
        login: String,
        person: String,
        client_ip: String,
    },
    SessionEnd {
        session_ref: String,
        login: String,
        person: String,
        reason: SessionEndReason,
    },
    /// A trust domain's signed registry was verified and is now in force.
    RegistryLoaded {
        domain: String,
        services: usize,
        issued_at: String,
        valid_until: String,
    },
    /// A trust domain's registry was refused (bad or missing signature, expired, unreadable);
    /// the last good one, if any, stays in force.
    RegistryRefused { domain: String, reason: String },
    /// A CAS ticket was issued (never the ticket itself).
    CasTicketIssued {
        /// The registry id of the service.
        service: String,
        login: String,
        /// `ST`, `PT`, `PGT`.
        ticket_kind: &'static str,
        /// The SSO session it came from.
        session_ref: String,
    },
    /// A CAS ticket validation, successful or not.
    CasValidation {
        /// The registry id of the service when known, else the `service` URL as sent.
        service: String,
        /// The endpoint (`serviceValidate`, `p3/serviceValidate`, `samlValidate`...).
        endpoint: &'static str,
        /// `success` or the CAS error code.
        outcome: String,
        /// Why it failed (empty on success).
        reason: String,
        login: String,
        /// Names of the attributes released (never their values).
        attributes: Vec<String>,
    },
    /// A SAML assertion was issued (never the assertion itself).
    SamlAssertionIssued {
        /// The SP's entityID.
        sp: String,
        /// The registry id of the service.
        service: String,
        login: String,
        name_id_format: &'static str,
        /// The NameID sent (opaque for transient and persistent).
        name_id: String,
        /// Names of the attributes released (never their values).
        attributes: Vec<String>,
        session_ref: String,
        /// `sp` (answer to an AuthnRequest) or `idp` (unsolicited).
        initiated_by: &'static str,
    },
    /// A SAML request refused: with an error page, or a non-success status sent to a
    /// registered ACS.
    SamlRequestRefused {
        /// The Issuer when it could be read, else empty.
        sp: String,
        /// The SAML status sent, or `error_page`.
        outcome: String,
        reason: String,
    },
    /// An SP-initiated SAML logout answered (`Success`, `PartialLogout` or the refusal
    /// status).
    SamlLogout {
        sp: String,
        outcome: String,
        /// The ended session's reference (empty when none was ended).
        session_ref: String,
    },
    /// A CAS back-channel logout request sent to a service.
    CasLogoutNotice {
        service: String,
        session_ref: String,
        delivered: bool,
    },
}

/// Where audit events go.
pub trait AuditSink: Send + Sync {
    fn record(&self, at: OffsetDateTime, event: AuditEvent);
}

/// Keeps events in memory: for tests and for the demo's own checks.
#[derive(Default)]
pub struct MemoryAudit(Mutex<Vec<AuditEvent>>);

impl MemoryAudit {
    pub fn events(&self) -> Vec<AuditEvent> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl AuditSink for MemoryAudit {
    fn record(&self, _at: OffsetDateTime, event: AuditEvent) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(event);
    }
}
