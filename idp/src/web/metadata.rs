//! Published SAML metadata: the IdP's own signed `EntityDescriptor` at `/saml/metadata`, and
//! Metadata Query style per-entity documents at `/entities/{url-encoded entityID}` (or
//! `/entities/{sha1}<hex>`), signed by the IdP. Signing runs on the blocking pool.

use actix_web::http::header;
use actix_web::web::{self, Data};
use actix_web::{HttpRequest, HttpResponse};

use super::error::{ErrorKind, WebError};
use super::state::AppState;

/// The media type of SAML metadata (RFC 7726 / MDQ).
pub const CONTENT_TYPE: &str = "application/samlmetadata+xml";

fn xml(doc: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(doc.to_owned())
}

fn internal(req: &HttpRequest, e: impl std::fmt::Display) -> WebError {
    tracing::error!(error = %e, "cannot publish metadata");
    WebError::for_request(ErrorKind::Internal, req)
}

/// `GET /saml/metadata`.
pub async fn idp_metadata(
    req: HttpRequest,
    state: Data<AppState>,
) -> Result<HttpResponse, WebError> {
    let publisher = state.publisher.clone();
    let now = state.federation.now();
    let doc = web::block(move || publisher.idp_metadata(now))
        .await
        .map_err(|e| internal(&req, e))?
        .map_err(|e| internal(&req, e))?;
    Ok(xml(&doc))
}

/// `GET /entities/{id}`: `id` is percent-decoded from the raw path, so an entityID with
/// `/` encoded as `%2F` arrives whole.
pub async fn entity(req: HttpRequest, state: Data<AppState>) -> Result<HttpResponse, WebError> {
    let raw = req.uri().path().strip_prefix("/entities/").unwrap_or("");
    let Some(id) = percent_decode(raw) else {
        return Err(WebError::for_request(ErrorKind::BadRequest, &req));
    };
    if id.is_empty() {
        return Err(WebError::for_request(ErrorKind::NotFound, &req));
    }
    let publisher = state.publisher.clone();
    let now = state.federation.now();
    let doc = web::block(move || publisher.entity_metadata(&id, now))
        .await
        .map_err(|e| internal(&req, e))?
        .map_err(|e| internal(&req, e))?;
    match doc {
        Some(doc) => Ok(xml(&doc)),
        None => Err(WebError::for_request(ErrorKind::NotFound, &req)),
    }
}

/// `%XX` decoding (no `+` rule: this is a path); `None` if malformed or not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_entity_ids() {
        assert_eq!(
            percent_decode("https%3A%2F%2Fsp.example%2Fshibboleth").as_deref(),
            Some("https://sp.example/shibboleth")
        );
        assert_eq!(percent_decode("%7Bsha1%7Dab").as_deref(), Some("{sha1}ab"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
    }
}
