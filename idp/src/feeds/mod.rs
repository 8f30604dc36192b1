//! Batch feeds that fill the directory from outside sources. Only the AAF for now.

pub mod aaf;
pub mod incoming;
