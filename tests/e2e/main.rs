//! End-to-end tests: one binary, one module per topic, each test against a real IdP over
//! HTTP (see `idp_tests::TestIdp`).
//!
//! - `aaf`: the AAF directory feed
//! - `aaf_incoming`: the drop folder the running server imports from
//! - `activation`: first login with an activation code
//! - `audit`: the audit trail and its JSON-lines file
//! - `browser`: the SAML flows in headless Chromium (WebDriver) with the real SPs
//! - `cas`: the CAS server over HTTP: flows, attributes, error codes, proxies, logout
//! - `cas_clients`: the CAS server with real clients (mod_auth_cas, phpCAS, python-cas)
//! - `demo`: `idp demo` data
//! - `demo_service`: the demo CAS service (sp-adapter) against the IdP
//! - `demo_saml`: the demo federation as `idp demo` runs it, with its SAML service
//!   (sp-adapter's SP): SSO across SAML and CAS, single logout both ways
//! - `federation`: signed registries loaded, refused and followed; published metadata
//! - `ldap`: the LDAP directory (real slapd): contract shared with embedded, injection,
//!   corrupt entries, outages, schema forms, AAF import, a CAS login over LDAP
//! - `login`: login, refusals, throttling, CSRF
//! - `pages`: pages, languages, headers, probes, error pages
//! - `redis`: the Redis stores (real redis-server): contract shared with memory, outages, a flow
//! - `saml`: the SAML IdP (Web Browser SSO) with pysaml2, and its refusals
//! - `saml_slo`: SAML single logout with scripted SPs (SOAP back channel, statuses, refusals)
//! - `saml_sps`: the SAML IdP with real SPs (Shibboleth SP 3, mod_auth_mellon), SSO and SLO
//! - `session`: SSO session lifecycle
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod aaf;
mod aaf_incoming;
mod activation;
mod audit;
mod browser;
mod cas;
mod cas_clients;
mod demo;
mod demo_saml;
mod demo_service;
mod federation;
mod ldap;
mod login;
mod pages;
mod redis;
mod saml;
mod saml_slo;
mod saml_sps;
mod session;
