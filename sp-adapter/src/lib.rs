//! What a service provider needs to consume the IdP.
//!
//! - [`cas`]: a CAS 3 client — the login redirect and the `/p3/serviceValidate` call with
//!   its XML answer read safely.
//! - [`saml`]: a strict SAML 2.0 service provider — signed HTTP-Redirect AuthnRequests, the
//!   HTTP-POST Response verified wrapping-safe with the IdP's certificate only, single logout
//!   both ways, and the SP's metadata.
//! - [`demo`]: the demo federation's own CAS service, a small "school life" web application
//!   that logs people in through the IdP over CAS and shows what it received.
//! - [`demo_saml`]: the demo federation's own SAML service ("Ressources numériques"), the
//!   same over SAML 2.0 with single logout.

pub mod cas;
pub mod demo;
pub mod demo_saml;
pub mod saml;
