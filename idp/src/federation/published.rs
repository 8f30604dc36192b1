//! The metadata the IdP publishes, signed with its own key: its `EntityDescriptor` (at
//! `/saml/metadata`) and, Metadata Query style, the `EntityDescriptor` of each registered
//! entity that may be served now (at `/entities/{id}`).
//!
//! Signing is libxmlsec1 work (synchronous CPU): handlers call these functions through
//! `web::block`. Documents are cached: the IdP's for a day, the others until the next
//! registry swap or a day, whichever first; each is valid for a week (never beyond its
//! registry's `valid_until`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use federation_metadata::metadata_writer::{self, Envelope, IdpDescriptor};
use federation_metadata::xmlsig;
use time::{Duration, OffsetDateTime};

use super::{sha1_hex, Federation, IdpIdentity};

const VALIDITY: Duration = Duration::days(7);
const REGENERATE_AFTER: Duration = Duration::days(1);
const CACHE_DURATION_HOURS: u32 = 6;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("writing metadata: {0}")]
    Write(#[from] metadata_writer::MetadataError),
    #[error("signing metadata: {0}")]
    Sign(#[from] xmlsig::XmlSigError),
}

type Cached = (OffsetDateTime, Arc<String>);

pub struct Publisher {
    identity: Arc<IdpIdentity>,
    federation: Arc<Federation>,
    idp: Mutex<Option<Cached>>,
    entities: Mutex<(u64, HashMap<String, Cached>)>,
}

fn fresh(cached: &Cached, now: OffsetDateTime) -> bool {
    now - cached.0 < REGENERATE_AFTER && now >= cached.0
}

fn document_id(now: OffsetDateTime) -> String {
    let mut random = [0u8; 8];
    // Only needs to be distinct; an RNG failure leaves zeros, still a valid ID.
    let _ = openssl::rand::rand_bytes(&mut random);
    format!("_md{}{}", now.unix_timestamp(), hex::encode(random))
}

impl Publisher {
    pub fn new(identity: Arc<IdpIdentity>, federation: Arc<Federation>) -> Self {
        Self {
            identity,
            federation,
            idp: Mutex::new(None),
            entities: Mutex::new((0, HashMap::new())),
        }
    }

    pub fn identity(&self) -> &IdpIdentity {
        &self.identity
    }

    /// The IdP's signed `EntityDescriptor`.
    pub fn idp_metadata(&self, now: OffsetDateTime) -> Result<Arc<String>, PublishError> {
        let mut cache = self.idp.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.as_ref().filter(|c| fresh(c, now)) {
            return Ok(c.1.clone());
        }
        // Organisation and contacts from a registry that describes this IdP, if any.
        let registries = self.federation.registries_at(now);
        let described = registries
            .iter()
            .map(|r| &r.registry)
            .find(|r| r.identity_provider.entity_id == self.identity.entity_id);
        let id = self.identity.as_ref();
        let descriptor = IdpDescriptor {
            entity_id: &id.entity_id,
            base_url: &id.base_url,
            signing_certs_b64: vec![base64_der(&id.certificate_der)],
            organisation: described.map(|r| &r.identity_provider.organisation),
            contacts: described
                .map(|r| r.identity_provider.contacts.as_slice())
                .unwrap_or(&[]),
            lang: described.map_or("fr", |r| r.federation.publication.lang.as_str()),
        };
        let doc_id = document_id(now);
        let envelope = Envelope {
            id: &doc_id,
            valid_until: now + VALIDITY,
            cache_duration_hours: CACHE_DURATION_HOURS,
            signer_cert_der: &id.certificate_der,
        };
        let unsigned = metadata_writer::idp_entity(&descriptor, &envelope)?;
        let signed = Arc::new(xmlsig::sign_enveloped(&unsigned, &id.key)?);
        *cache = Some((now, signed.clone()));
        Ok(signed)
    }

    /// The signed `EntityDescriptor` of the entity `id` (an entityID, or `{sha1}<hex>`):
    /// the IdP itself, or a registered SAML service that may be served at `now`.
    pub fn entity_metadata(
        &self,
        id: &str,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<String>>, PublishError> {
        let own = &self.identity.entity_id;
        if id == own || id.strip_prefix("{sha1}") == Some(sha1_hex(own).as_str()) {
            return self.idp_metadata(now).map(Some);
        }
        let Some((loaded, service)) = self.federation.registered_entity(id, now) else {
            return Ok(None);
        };
        if !service.grants_access_at(now.date()) {
            return Ok(None);
        }
        let Some(entity_id) = service.saml().map(|s| s.entity_id.clone()) else {
            return Ok(None);
        };
        let generation = self.federation.generation();
        {
            let mut cache = self.entities.lock().unwrap_or_else(|e| e.into_inner());
            if cache.0 != generation {
                *cache = (generation, HashMap::new());
            }
            if let Some(c) = cache.1.get(&entity_id).filter(|c| fresh(c, now)) {
                return Ok(Some(c.1.clone()));
            }
        }
        let doc_id = document_id(now);
        let envelope = Envelope {
            id: &doc_id,
            valid_until: (now + VALIDITY).min(loaded.registry.valid_until),
            cache_duration_hours: CACHE_DURATION_HOURS,
            signer_cert_der: &self.identity.certificate_der,
        };
        let Some(unsigned) = metadata_writer::sp_entity(&loaded.registry, &service, &envelope)?
        else {
            return Ok(None);
        };
        let signed = Arc::new(xmlsig::sign_enveloped(&unsigned, &self.identity.key)?);
        let mut cache = self.entities.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0 == generation {
            cache.1.insert(entity_id, (now, signed.clone()));
        }
        Ok(Some(signed))
    }
}

fn base64_der(der: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(der)
}
