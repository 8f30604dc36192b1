//! Directory backends: the embedded database (zero-setup default). OpenLDAP comes with the
//! production-backends issue.

pub mod embedded;
