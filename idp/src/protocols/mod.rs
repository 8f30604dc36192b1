//! Protocol front-ends: each decodes its protocol's requests, asks the core (session,
//! release, audit, ports) and encodes its answers. `cas` and `saml` (SAML 2.0 Web Browser
//! SSO and Single Logout). A protocol module turns its own failures into its own error
//! codes; web pages and every other failure go through `web`. Front-ends never name a
//! backend, nor each other; what they share (`autopost`, the auto-submitting form page's
//! script and policy) sits beside them.

pub mod autopost;
pub mod cas;
pub mod saml;
