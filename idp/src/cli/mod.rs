//! Command-line entry points, one module per subcommand. Each turns arguments into calls
//! of the library and reports errors as `anyhow` (the binary's only error type).

pub mod aaf;
pub mod account;
pub mod demo;
pub mod serve;
