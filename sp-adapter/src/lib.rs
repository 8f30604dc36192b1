//! What a service provider needs to consume the IdP.
//!
//! - [`cas`]: a CAS 3 client — the login redirect and the `/p3/serviceValidate` call with
//!   its XML answer read safely.
//! - [`demo`]: the demo federation's own service, a small "school life" web application that
//!   logs people in through the IdP over CAS and shows what it received.
//!
//! The SAML service-provider side comes with the SAML issue.

pub mod cas;
pub mod demo;
