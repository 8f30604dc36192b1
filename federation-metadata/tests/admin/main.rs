//! The federation administrator's side, on a copy of the demo trust domain: malformed
//! source files give precise errors (file and line), membership dates give the right status,
//! SP metadata written by real SP software joins cleanly, `diff` lists exactly the changes,
//! and the `fedmeta` command line ties them together. One test binary, modules by topic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod diff;
mod join;
mod lifecycle;
mod malformed;
