//! Session and counter stores: in-memory (single node, the default). Redis comes with the
//! production-backends issue.

pub mod memory;
