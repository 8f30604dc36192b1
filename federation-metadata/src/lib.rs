//! The federation registry of one or more trust domains.
//!
//! Federation administrators edit human-readable source files (the agreement annex as data:
//! parties, perimeter, commitments, attributes released to each service and why, dates,
//! costs, and each service's SAML or CAS side). This crate loads and validates them
//! (`source`, `validate`), manages membership over time (`lifecycle`), and compiles them into
//! the artefacts everyone else trusts: a signed SAML metadata aggregate, a signed compact
//! registry the IdP loads (SAML and CAS services), and the readable annex (`compile`,
//! `annex`). `verify` checks a compiled artefact against the federation certificate.

pub mod model;
