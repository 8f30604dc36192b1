//! The identity provider of an ENT federation.
//!
//! A request flows through: a protocol front-end (the login pages, `protocols::cas`; SAML
//! next) → authentication (`authn`) → the SSO session (`session`) → attribute release
//! (`release`: resolution, then per-service filtering that only removes) → the protocol's
//! encoding, with every step audited (`audit`). The core talks to its backends only through the
//! traits of `ports`; `backends` implements them (embedded redb directory, in-memory
//! stores) and `app` is the one place that chooses which. `feeds::aaf` fills the directory
//! from the académies' AAF deliveries. `federation` holds the trust domains' signed
//! registries (whom the IdP serves, what it releases) and the IdP's own SAML identity.

pub mod app;
pub mod audit;
pub mod authn;
pub mod backends;
pub mod cli;
pub mod federation;
pub mod feeds;
pub mod model;
pub mod ports;
pub mod protocols;
pub mod release;
pub mod right_of_access;
pub mod session;
pub mod settings;
pub mod web;
