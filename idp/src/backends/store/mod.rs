//! Session, ticket and counter stores: in-memory (single node, the default) and Redis
//! (several nodes sharing the SSO state).

pub mod memory;
pub mod redis;
