//! Implementations of the core's ports. Only `app.rs` names these types.

pub mod directory;
pub mod store;
