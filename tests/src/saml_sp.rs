//! What the end-to-end tests with real SAML service providers (Shibboleth SP 3 in
//! [`crate::shibsp`], mod_auth_mellon in [`crate::mellon`]) share:
//!
//! - [`SamlRegistry`]: a signed test trust domain whose SAML services are built from the
//!   SPs' own metadata (read with `federation_metadata::saml_import`, as `fedmeta import`
//!   does), each with the `[[releases]]` the test chooses;
//! - [`IdpFront`]: a plain-HTTP Apache reverse proxy on a port chosen before the IdP starts,
//!   so that the IdP's `server.public_url` (hence its entityID, its SSO endpoint in
//!   `/saml/metadata` and the `Destination` it checks) is a real loopback URL;
//! - [`Form`] and [`saml_login`]: a browser without JavaScript going through an SP-initiated
//!   login: follows redirects, fills the IdP's login form, and posts the IdP's
//!   auto-submitting SAML response form to the SP's AssertionConsumerService itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::PathBuf;

use federation_metadata::compile::compile_domain;
use federation_metadata::model::{Binding, NameIdFormat};
use federation_metadata::saml_import::import_sp_metadata;
use federation_metadata::source::load_domain;
use idp::settings::TrustDomainSettings;
use time::OffsetDateTime;

use crate::apache::{Apache, ApacheConfig};
use crate::registry::{federation_keys, service_header, write_demo_domain};
use crate::{Browser, Page};

/// The SAML 2.0 URI attribute name format (`urn:oid:...` names).
pub const URI_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri";
/// The SAML 2.0 basic attribute name format (GAR's `GARPersonIdentifiant`, Moodle's `uid`).
pub const BASIC_FORMAT: &str = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic";
/// eduPerson/inetOrgPerson `uid`.
pub const UID_OID: &str = "urn:oid:0.9.2342.19200300.100.1.1";

/// One SAML service of the test registry: its id, the SP's metadata, and its releases.
pub struct SamlService {
    pub id: String,
    /// The SP's metadata (an `EntityDescriptor`), as the SP publishes it.
    pub metadata: String,
    /// `[[releases]]` tables, TOML.
    pub releases: String,
    pub name_id_format: NameIdFormat,
    /// Which of the SingleLogoutServices of its metadata are registered (by binding; none
    /// when empty).
    pub slo_bindings: Vec<Binding>,
}

/// A signed test trust domain (a demo domain: `http://127.0.0.1` endpoints accepted) holding
/// SAML services, published where a [`crate::TestIdp`] reloads it every second.
pub struct SamlRegistry {
    tmp: tempfile::TempDir,
    key: PathBuf,
    cert: PathBuf,
    fed_pem: String,
}

impl Default for SamlRegistry {
    fn default() -> Self {
        Self::new()
    }
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl SamlRegistry {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let (key, cert, fed_pem) = federation_keys(tmp.path(), "Test SAML federation");
        Self {
            key,
            cert,
            fed_pem,
            tmp,
        }
    }

    /// The settings that load the registry (published by [`SamlRegistry::publish`], which
    /// must have run once before the IdP starts).
    pub fn settings(&self) -> TrustDomainSettings {
        TrustDomainSettings {
            name: "test".into(),
            registry: self.live().join("registry.json").display().to_string(),
            certificate: self.cert.clone(),
            reload_interval_secs: 1,
        }
    }

    fn live(&self) -> PathBuf {
        self.tmp.path().join("live")
    }

    /// The service's TOML, its SAML part read from the SP's metadata by
    /// `federation_metadata::saml_import` (entityID, HTTP-POST ACS, certificates, whether it
    /// signs its requests); panics when the metadata cannot be imported.
    fn service_toml(&self, src: &std::path::Path, s: &SamlService) -> String {
        let domain = load_domain(src)
            .unwrap_or_else(|e| panic!("the synthetic test domain does not load: {e:?}"));
        let today = OffsetDateTime::now_utc().date();
        let imported = import_sp_metadata(&s.metadata, &s.id, &domain.federation, today)
            .unwrap_or_else(|e| panic!("{}: the SP's metadata cannot be imported: {e}", s.id));
        let saml = imported
            .service
            .saml()
            .expect("imported as a SAML service")
            .clone();
        let id = &s.id;
        let mut t = service_header(id, &format!("Service SAML de test {id}"));
        let _ = write!(
            t,
            r#"{releases}
[protocol.saml]
entity_id = {entity}
name_id_format = "{format}"
authn_requests_signed = {signed}
want_assertions_signed = {want}
"#,
            releases = s.releases,
            entity = toml_str(&saml.entity_id),
            format = match s.name_id_format {
                NameIdFormat::Transient => "transient",
                NameIdFormat::Persistent => "persistent",
                NameIdFormat::Unspecified => "unspecified",
                NameIdFormat::Email => "email",
            },
            signed = saml.authn_requests_signed,
            want = saml.want_assertions_signed,
        );
        if matches!(
            s.name_id_format,
            NameIdFormat::Unspecified | NameIdFormat::Email
        ) {
            let _ = writeln!(t, "name_id_attribute = \"login\"");
        }
        let pems = |list: &[String]| {
            list.iter()
                .map(|p| format!("\"\"\"\n{}\n\"\"\"", p.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            t,
            "signing_certificates = [{}]",
            pems(&saml.signing_certificates)
        );
        let _ = writeln!(
            t,
            "encryption_certificates = [{}]",
            pems(&saml.encryption_certificates)
        );
        let mut any = false;
        for acs in &saml.assertion_consumer_services {
            if acs.binding != Binding::HttpPost {
                continue;
            }
            any = true;
            let _ = write!(
                t,
                "\n[[protocol.saml.assertion_consumer_services]]\nbinding = \"http-post\"\n\
                 location = {}\nindex = {}\nis_default = {}\n",
                toml_str(&acs.location),
                acs.index,
                acs.is_default,
            );
        }
        assert!(
            any,
            "{id}: no HTTP-POST AssertionConsumerService in its metadata"
        );
        for slo in &saml.single_logout_services {
            if !s.slo_bindings.contains(&slo.binding) {
                continue;
            }
            let binding = match slo.binding {
                Binding::HttpPost => "http-post",
                Binding::HttpRedirect => "http-redirect",
                Binding::HttpArtifact => "http-artifact",
                Binding::Soap => "soap",
                Binding::Paos => "paos",
            };
            let _ = write!(
                t,
                "\n[[protocol.saml.single_logout_services]]\nbinding = \"{binding}\"\nlocation = {}\n",
                toml_str(&slo.location)
            );
            if let Some(r) = &slo.response_location {
                let _ = writeln!(t, "response_location = {}", toml_str(r));
            }
        }
        t
    }

    /// Compiles a demo domain holding `services`, and publishes the signed registry (the IdP
    /// picks it up within its reload interval).
    pub fn publish(&self, services: &[SamlService]) {
        self.publish_with(services, &[]);
    }

    /// [`SamlRegistry::publish`] with, for each `(service id, lines)` of `saml_extra`, TOML
    /// lines added to that service's `[protocol.saml]` table (e.g. `encrypt_assertion =
    /// true`), for what the SP's metadata cannot say.
    pub fn publish_with(&self, services: &[SamlService], saml_extra: &[(&str, &str)]) {
        let src = self.tmp.path().join("src");
        write_demo_domain(&src, &self.fed_pem);
        let tomls: Vec<(String, String)> = services
            .iter()
            .map(|s| {
                let mut toml = self.service_toml(&src, s);
                for (_, lines) in saml_extra.iter().filter(|(id, _)| *id == s.id) {
                    toml = toml.replacen(
                        "\n[protocol.saml]\n",
                        &format!("\n[protocol.saml]\n{}\n", lines.trim_end()),
                        1,
                    );
                }
                (s.id.clone(), toml)
            })
            .collect();
        for (id, toml) in &tomls {
            std::fs::write(src.join(format!("services/{id}.toml")), toml).unwrap();
        }
        let out = self.tmp.path().join("out");
        let _ = std::fs::remove_dir_all(&out);
        compile_domain(&src, &self.key, &out, OffsetDateTime::now_utc()).unwrap_or_else(|e| {
            let all: Vec<&str> = tomls.iter().map(|(_, t)| t.as_str()).collect();
            panic!(
                "the test domain does not compile: {e:?}\n{}",
                all.join("\n----\n")
            )
        });
        let live = self.live();
        std::fs::create_dir_all(&live).unwrap();
        // The signature first, then the registry, each by rename (no half-written file).
        for f in ["registry.json.sig", "registry.json"] {
            let tmp = live.join(format!("{f}.new"));
            std::fs::copy(out.join(f), &tmp).unwrap();
            std::fs::rename(&tmp, live.join(f)).unwrap();
        }
    }
}

/// A plain-HTTP reverse proxy to the IdP on a port chosen before the IdP starts: the IdP's
/// `server.public_url` is [`IdpFront::url`].
pub struct IdpFront {
    pub port: u16,
    apache: Option<Apache>,
}

impl Default for IdpFront {
    fn default() -> Self {
        Self::new()
    }
}

impl IdpFront {
    pub fn new() -> Self {
        Self {
            port: crate::procs::free_port(),
            apache: None,
        }
    }

    /// `http://127.0.0.1:PORT` (no final `/`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the proxy towards `backend` (the IdP's real URL).
    pub fn start(&mut self, backend: &str) {
        let mut c = ApacheConfig::new();
        c.module("proxy").module("proxy_http").listen(self.port);
        let backend = backend.trim_end_matches('/');
        c.raw(&format!(
            "<VirtualHost 127.0.0.1:{port}>\n    ServerName 127.0.0.1\n    \
             ProxyPreserveHost On\n    ProxyPass / {backend}/ timeout=20\n    \
             ProxyPassReverse / {backend}/\n</VirtualHost>",
            port = self.port
        ));
        self.apache = Some(c.start());
    }
}

/// The value of attribute `name` in one HTML tag's text (`<input name="x" value="y">`).
fn tag_attr(tag: &str, name: &str) -> Option<String> {
    let bytes = tag.as_bytes();
    let mut from = 0;
    while let Some(pos) = tag[from..].find(name) {
        let at = from + pos;
        from = at + name.len();
        let before_ok = at > 0 && bytes[at - 1].is_ascii_whitespace();
        let rest = tag[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let rest = rest[1..].trim_start();
        let quote = rest.chars().next()?;
        if quote == '"' || quote == '\'' {
            let end = rest[1..].find(quote)? + 1;
            return Some(rest[1..end].to_owned());
        }
        let end = rest
            .find(|c: char| c.is_ascii_whitespace() || c == '>')
            .unwrap_or(rest.len());
        return Some(rest[..end].to_owned());
    }
    None
}

/// One HTML form: its method, action and named `<input>` fields (values as written, the
/// page's entities already decoded by [`Browser`]).
#[derive(Debug, Clone)]
pub struct Form {
    pub method: String,
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// Every form of `html`.
    pub fn all(html: &str) -> Vec<Form> {
        let lower = html.to_ascii_lowercase();
        let mut forms = Vec::new();
        let mut from = 0;
        while let Some(pos) = lower[from..].find("<form") {
            let start = from + pos;
            let tag_end = lower[start..].find('>').map_or(lower.len(), |e| start + e);
            let end = lower[tag_end..]
                .find("</form")
                .map_or(lower.len(), |e| tag_end + e);
            let tag = &html[start..tag_end];
            let mut fields = Vec::new();
            let mut i = tag_end;
            while let Some(p) = lower[i..end].find("<input") {
                let s = i + p;
                let e = lower[s..end].find('>').map_or(end, |x| s + x);
                let input = &html[s..e];
                if let Some(n) = tag_attr(input, "name") {
                    fields.push((n, tag_attr(input, "value").unwrap_or_default()));
                }
                i = e;
            }
            forms.push(Form {
                method: tag_attr(tag, "method")
                    .unwrap_or_else(|| "get".into())
                    .to_ascii_lowercase(),
                action: tag_attr(tag, "action").unwrap_or_default(),
                fields,
            });
            from = end.max(start + 5);
        }
        forms
    }

    /// The value of field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `location` resolved against the URL `base` (absolute, origin-relative or relative).
pub fn resolve(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let origin_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    if location.starts_with('/') {
        return format!("{}{location}", &base[..origin_end]);
    }
    let path = &base[..base.split('?').next().unwrap_or(base).len()];
    let dir_end = path.rfind('/').filter(|&i| i >= origin_end);
    match dir_end {
        Some(i) => format!("{}{location}", &path[..=i]),
        None => format!("{}/{location}", &base[..origin_end]),
    }
}

/// One step of a browser walk, for assertion messages.
#[derive(Debug, Clone)]
pub struct Step {
    pub method: &'static str,
    pub url: String,
    pub status: u16,
}

/// What a walk through an SP-initiated login saw.
#[derive(Debug)]
pub struct Walk {
    pub steps: Vec<Step>,
    /// The last page (the SP's protected page when everything worked).
    pub page: Page,
    /// Whether the IdP's login form was shown and filled.
    pub password_asked: bool,
    /// The SAML response form the IdP sent (`action`, `SAMLResponse`, `RelayState`).
    pub response_form: Option<Form>,
}

impl Walk {
    /// The trace of the walk, one step a line.
    pub fn trace(&self) -> String {
        self.steps
            .iter()
            .map(|s| format!("{} {} -> {}", s.method, s.url, s.status))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A browser without JavaScript opening `start` (an SP's protected page) and going through
/// the whole SP-initiated login: it follows redirects (to the IdP's `/saml/sso` with the
/// AuthnRequest, to the login page...), fills the IdP's login form with `login`/`password`
/// when shown (only on an origin starting with `idp_origin`), and posts any form carrying a
/// `SAMLResponse` (the IdP's auto-submitting form) to its action, the SP's ACS. Stops at
/// the first page that is neither a redirect nor one of those forms, within 20 steps.
/// `browser` is a [`Browser`] made with an empty base (every URL absolute), so that one
/// cookie jar serves the IdP and every SP.
pub fn saml_login(
    browser: &Browser,
    start: &str,
    idp_origin: &str,
    (login, password): (&str, &str),
) -> Walk {
    let mut steps = Vec::new();
    let mut url = start.to_owned();
    let mut page = browser.get_url(&url);
    steps.push(Step {
        method: "GET",
        url: url.clone(),
        status: page.status,
    });
    let mut password_asked = false;
    let mut response_form = None;
    for _ in 0..20 {
        if (300..400).contains(&page.status) {
            let Some(loc) = page.location() else { break };
            url = resolve(&url, loc);
            page = browser.get_url(&url);
            steps.push(Step {
                method: "GET",
                url: url.clone(),
                status: page.status,
            });
            continue;
        }
        if page.status != 200 {
            break;
        }
        let forms = Form::all(&page.body);
        if let Some(f) = forms.iter().find(|f| f.field("SAMLResponse").is_some()) {
            response_form = Some(f.clone());
            let target = resolve(&url, &f.action);
            let fields: Vec<(&str, &str)> = f
                .fields
                .iter()
                .filter(|(n, _)| n == "SAMLResponse" || n == "RelayState")
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            page = browser.post_form(&target, &fields);
            steps.push(Step {
                method: "POST",
                url: target.clone(),
                status: page.status,
            });
            url = target;
            continue;
        }
        if let Some(to) = meta_refresh(&page.body) {
            url = resolve(&url, &to);
            page = browser.get_url(&url);
            steps.push(Step {
                method: "GET",
                url: url.clone(),
                status: page.status,
            });
            continue;
        }
        if url.starts_with(idp_origin) && !password_asked {
            if let Some(f) = forms
                .iter()
                .find(|f| f.field("password").is_some() && f.field("login").is_some())
            {
                password_asked = true;
                let target = resolve(&url, &f.action);
                let fields: Vec<(&str, &str)> = f
                    .fields
                    .iter()
                    .map(|(n, v)| match n.as_str() {
                        "login" => ("login", login),
                        "password" => ("password", password),
                        _ => (n.as_str(), v.as_str()),
                    })
                    .collect();
                page = browser.post_form(&target, &fields);
                steps.push(Step {
                    method: "POST",
                    url: target.clone(),
                    status: page.status,
                });
                url = target;
                continue;
            }
        }
        break;
    }
    Walk {
        steps,
        page,
        password_asked,
        response_form,
    }
}

/// The target of a `<meta http-equiv="refresh" content="N;url=...">`, if any (any delay).
pub fn meta_refresh(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let at = lower.find("http-equiv=\"refresh\"")?;
    let start = lower[..at].rfind('<')?;
    let end = lower[at..].find('>')? + at;
    let content = tag_attr(&html[start..end], "content")?;
    let url = content.split_once(';')?.1.trim();
    let url = url
        .strip_prefix("url=")
        .or_else(|| url.strip_prefix("URL="))?;
    Some(url.trim_matches('\'').to_owned())
}

/// `NAME=value` lines (a CGI script's output) as pairs, in order.
pub fn env_lines(body: &str) -> Vec<(String, String)> {
    body.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim_end_matches('\r').to_owned()))
        .collect()
}

/// The IdP's metadata (`GET <idp>/saml/metadata`), checked to be an IdP `EntityDescriptor`.
pub fn fetch_idp_metadata(browser: &Browser, idp_url: &str) -> String {
    let page = browser.get_url(&format!("{}/saml/metadata", idp_url.trim_end_matches('/')));
    assert_eq!(page.status, 200, "GET /saml/metadata: {}", page.body);
    assert!(
        page.body.contains("IDPSSODescriptor"),
        "no IDPSSODescriptor in the IdP's metadata:\n{}",
        page.body
    );
    page.body
}

/// The `entityID` of the first `EntityDescriptor` of `xml`.
pub fn entity_id(xml: &str) -> String {
    let start = xml
        .find("EntityDescriptor")
        .unwrap_or_else(|| panic!("no EntityDescriptor in:\n{xml}"));
    let tag_end = xml[start..].find('>').unwrap() + start;
    tag_attr(&xml[start..tag_end], "entityID")
        .unwrap_or_else(|| panic!("EntityDescriptor without entityID:\n{xml}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_urls() {
        let html = r#"<html><body onload="document.forms[0].submit()">
<form method="post" action="http://127.0.0.1:9/Shibboleth.sso/SAML2/POST">
<input type="hidden" name="RelayState" value="ss:mem:abc"/>
<input type='hidden' name='SAMLResponse' value='PHNhbWw+'>
<noscript><input type="submit" value="Continuer"></noscript></form></body></html>"#;
        let forms = Form::all(html);
        assert_eq!(forms.len(), 1);
        assert_eq!(forms[0].method, "post");
        assert_eq!(
            forms[0].action,
            "http://127.0.0.1:9/Shibboleth.sso/SAML2/POST"
        );
        assert_eq!(forms[0].field("SAMLResponse"), Some("PHNhbWw+"));
        assert_eq!(forms[0].field("RelayState"), Some("ss:mem:abc"));
        assert_eq!(forms[0].fields.len(), 2);
        assert_eq!(resolve("http://a:1/x/y?q=1", "/login"), "http://a:1/login");
        assert_eq!(resolve("http://a:1/x/y", "z"), "http://a:1/x/z");
        assert_eq!(resolve("http://a:1", "z"), "http://a:1/z");
        assert_eq!(resolve("http://a:1/x", "https://b/"), "https://b/");
        assert_eq!(
            meta_refresh(
                r#"<head><meta http-equiv="refresh" content="0;url=/saml/sso/continue?ref=x"></head>"#
            ),
            Some("/saml/sso/continue?ref=x".into())
        );
        assert_eq!(
            entity_id(r#"<md:EntityDescriptor xmlns:md="m" entityID="http://sp/x">"#),
            "http://sp/x"
        );
    }
}
