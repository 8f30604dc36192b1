//! The auto-submitting form pages both protocols hand answers over with (SAML's HTTP-POST
//! binding, CAS `method=POST`): their one script, and the policy allowing just it.

use base64::Engine as _;

/// The one script of an auto-submitting page (allowed by its hash).
pub const SUBMIT_SCRIPT: &str = "document.forms[0].submit();";

/// The policy of such a page: its one script. No `form-action`: browsers check it against
/// the redirects that follow the post too, and an ACS, SingleLogoutService or CAS service
/// commonly redirects on, often to another origin; the form's target is ours, escaped,
/// never taken from the request.
pub fn post_csp() -> String {
    post_csp_framed_by("'none'")
}

/// [`post_csp`] for a page that `ancestors` may frame (`'self'`: the logged-out page's
/// frames posting a LogoutRequest to an SP).
pub fn post_csp_framed_by(ancestors: &str) -> String {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = HASH.get_or_init(|| {
        base64::engine::general_purpose::STANDARD
            .encode(openssl::sha::sha256(SUBMIT_SCRIPT.as_bytes()))
    });
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; frame-ancestors {ancestors}; \
base-uri 'none'"
    )
}
