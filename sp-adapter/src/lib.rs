//! Service-provider adapter (SAML SP, CAS client): to be built with the SAML and CAS issues.
