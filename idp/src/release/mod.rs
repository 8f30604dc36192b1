//! Attribute release: one person and one service → the attributes that service receives,
//! protocol-neutral (the CAS front-end encodes them now, SAML later).
//!
//! Two stages, as in Shibboleth: `resolve` turns the directory's person into neutral values
//! keyed by the registry's attribute catalogue ids (`login`, `surname`, `profiles_numeric`...);
//! `filter` keeps only what the service's `releases` list names (data minimisation: it only
//! removes, never invents), renames to the service's wire names and writes each value in the
//! format the registry asks for (`dd/mm/yyyy` dates, values joined with `;`...). It uses the
//! `Directory` port (structure UAIs) and the registry model; it knows no protocol.

mod filter;
mod resolve;

pub use filter::{release, user_value, Released};
pub use resolve::{resolve, Resolved, Value};

#[cfg(test)]
mod tests;
