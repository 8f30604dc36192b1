//! The federation registry of one or more trust domains.
//!
//! Federation administrators edit human-readable source files (the agreement annex as data:
//! parties, perimeter, commitments, attributes released to each service and why, dates,
//! costs, and each service's SAML or CAS side). This crate loads and validates them
//! (`source`, `validate`), manages membership over time (`lifecycle`), and compiles them into
//! the artefacts everyone else trusts: a signed SAML metadata aggregate, a signed compact
//! registry the IdP loads (SAML and CAS services), and the readable annex (`compile`,
//! `annex`). `verify` checks a compiled artefact against the federation certificate.
//!
//! Entry points for the compiler and the CLI:
//! - [`source::load_domain`]`(dir) -> Result<`[`source::LoadedDomain`]`, `[`source::SourceError`]`>`:
//!   parses a trust-domain folder (the model without compile timestamps, plus the files for
//!   error lines); [`source::LoadedDomain::to_registry`] stamps it into a [`model::Registry`].
//! - [`validate::validate`]`(&LoadedDomain, today) -> Result<(), Vec<`[`validate::ValidationError`]`>>`:
//!   every meaning error, each with file and line.
//! - [`model::Service::status_at`] / [`model::Service::grants_access_at`]: the agreement's
//!   membership rules over time.
//! - [`lifecycle`] (`approve`, `leave`, `renew`, `status`, `write_new_service`),
//!   [`saml_import::import_sp_metadata`] (join from SP metadata), [`diff::diff_paths`],
//!   [`annex::render_markdown`] / [`annex::render_html`].
//!
//! The administrator's workflow is in this crate's `README.md`.

pub mod annex;
pub mod compile;
pub mod detached;
pub mod diagnostic;
pub mod diff;
pub mod keys;
pub mod lifecycle;
pub mod metadata_writer;
pub mod model;
pub mod saml_import;
pub mod signed_registry;
pub mod source;
pub mod synthetic;
pub mod validate;
pub mod verify;
pub mod xmlsig;
pub mod xmlwrite;
