//! The registry's data model (to be written).
