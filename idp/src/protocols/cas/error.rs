//! CAS protocol failures and their specification error codes. The description is for the
//! client's logs: it never holds a ticket, an internal detail or a backend message.

#[derive(Debug, thiserror::Error)]
pub enum CasError {
    #[error("INVALID_REQUEST: {0}")]
    InvalidRequest(&'static str),
    #[error("INVALID_TICKET_SPEC: {0}")]
    InvalidTicketSpec(&'static str),
    /// `/proxy`: the target service may not be proxied to.
    #[error("UNAUTHORIZED_SERVICE: {0}")]
    UnauthorizedService(&'static str),
    #[error("UNAUTHORIZED_SERVICE_PROXY: {0}")]
    UnauthorizedServiceProxy(&'static str),
    #[error("INVALID_PROXY_CALLBACK: {0}")]
    InvalidProxyCallback(&'static str),
    #[error("INVALID_TICKET: {0}")]
    InvalidTicket(&'static str),
    #[error("INVALID_SERVICE: {0}")]
    InvalidService(&'static str),
    /// The detail is logged, never sent.
    #[error("INTERNAL_ERROR: {0}")]
    Internal(String),
}

impl CasError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "INVALID_REQUEST",
            Self::InvalidTicketSpec(_) => "INVALID_TICKET_SPEC",
            Self::UnauthorizedService(_) => "UNAUTHORIZED_SERVICE",
            Self::UnauthorizedServiceProxy(_) => "UNAUTHORIZED_SERVICE_PROXY",
            Self::InvalidProxyCallback(_) => "INVALID_PROXY_CALLBACK",
            Self::InvalidTicket(_) => "INVALID_TICKET",
            Self::InvalidService(_) => "INVALID_SERVICE",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// What the client is told.
    pub fn description(&self) -> String {
        match self {
            Self::InvalidRequest(m)
            | Self::InvalidTicketSpec(m)
            | Self::UnauthorizedService(m)
            | Self::UnauthorizedServiceProxy(m)
            | Self::InvalidProxyCallback(m)
            | Self::InvalidTicket(m)
            | Self::InvalidService(m) => (*m).to_owned(),
            Self::Internal(_) => "internal error".to_owned(),
        }
    }

    /// The reason for the audit trail and the log (internal detail included).
    pub fn reason(&self) -> String {
        match self {
            Self::Internal(d) => d.clone(),
            other => other.description(),
        }
    }
}

impl From<crate::ports::BackendError> for CasError {
    fn from(e: crate::ports::BackendError) -> Self {
        Self::Internal(e.to_string())
    }
}
