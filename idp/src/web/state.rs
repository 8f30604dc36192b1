//! The state shared by every request handler: settings and the core services. Built by
//! `app.rs` from whichever backends it chose; handlers only see ports and services.

use std::sync::Arc;

use crate::authn::Authenticator;
use crate::federation::published::Publisher;
use crate::federation::Federation;
use crate::ports::Directory;
use crate::protocols::cas::Cas;
use crate::protocols::saml::Saml;
use crate::right_of_access::RightOfAccess;
use crate::session::SessionService;
use crate::settings::Settings;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub authn: Authenticator,
    pub sessions: SessionService,
    /// The RGPD export of a person's own data.
    pub access: RightOfAccess,
    pub directory: Arc<dyn Directory>,
    /// The trust domains' registries in force.
    pub federation: Arc<Federation>,
    /// The IdP's signed metadata.
    pub publisher: Arc<Publisher>,
    /// The CAS server.
    pub cas: Arc<Cas>,
    /// The SAML 2.0 identity provider.
    pub saml: Arc<Saml>,
}
