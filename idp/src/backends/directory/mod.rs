//! Directory backends: the embedded database (zero-setup default) and OpenLDAP (an ENT's
//! own directory, fed by its provisioning).

pub mod embedded;
pub mod ldap;
