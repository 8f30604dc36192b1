//! The SP's own metadata: an `EntityDescriptor` with an `SPSSODescriptor` (signed
//! AuthnRequests, signed assertions wanted, the signing certificate, the HTTP-Redirect
//! SingleLogoutService, transient NameIDs, the HTTP-POST AssertionConsumerService), in the
//! schema's element order, as `fedmeta join --saml-metadata` reads it.

use base64::Engine as _;

use super::xml::{esc, DSIG_NS, METADATA_NS, PROTOCOL_NS};
use super::{SamlError, SpConfig, HTTP_POST, HTTP_REDIRECT, TRANSIENT};

pub fn sp_metadata(sp: &SpConfig) -> Result<String, SamlError> {
    let der = sp
        .certificate
        .to_der()
        .map_err(|e| SamlError::Crypto(e.to_string()))?;
    let cert = base64::engine::general_purpose::STANDARD.encode(der);
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<md:EntityDescriptor xmlns:md=\"{METADATA_NS}\" xmlns:ds=\"{DSIG_NS}\" entityID=\"{entity}\">\
<md:SPSSODescriptor AuthnRequestsSigned=\"true\" WantAssertionsSigned=\"true\" protocolSupportEnumeration=\"{PROTOCOL_NS}\">\
<md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\
<md:SingleLogoutService Binding=\"{HTTP_REDIRECT}\" Location=\"{slo}\"/>\
<md:NameIDFormat>{TRANSIENT}</md:NameIDFormat>\
<md:AssertionConsumerService Binding=\"{HTTP_POST}\" Location=\"{acs}\" index=\"0\" isDefault=\"true\"/>\
</md:SPSSODescriptor></md:EntityDescriptor>\n",
        entity = esc(&sp.entity_id),
        slo = esc(&sp.slo_url),
        acs = esc(&sp.acs_url),
    ))
}
