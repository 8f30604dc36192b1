//! A throwaway mod_auth_mellon SP (Debian `libapache2-mod-auth-mellon`): an Apache on a
//! loopback port, the SP's key, certificate and metadata made by `mellon_create_metadata`
//! in a temporary folder, the IdP's metadata from a file (`MellonIdPMetadataFile`), the
//! endpoints under `/mellon/` (`/mellon/metadata`, `/mellon/postResponse`...) and a
//! protected CGI at `/app/` that prints `REMOTE_USER` and every `MELLON_*` variable
//! (`NAME=value` lines). `REMOTE_USER` is the `uid` attribute (`MellonUser uid`). Stopped
//! when dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::apache::{Apache, ApacheConfig, MODULES};
use crate::procs::{self, free_port};
use crate::Browser;

/// A running mod_auth_mellon SP.
pub struct MellonSp {
    pub port: u16,
    apache: Option<Apache>,
    _dir: tempfile::TempDir,
}

impl MellonSp {
    /// Its origin, `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The SP's entityID.
    pub fn entity_id(&self) -> String {
        format!("{}/mellon/metadata", self.origin())
    }

    /// The protected page.
    pub fn app_url(&self) -> String {
        format!("{}/app/whoami", self.origin())
    }

    /// The SP's metadata, as mod_auth_mellon serves it (`GET /mellon/metadata`).
    pub fn fetch_metadata(&self, browser: &Browser) -> String {
        let page = browser.get_url(&self.entity_id());
        assert_eq!(
            page.status,
            200,
            "GET /mellon/metadata: {}\n{}",
            page.body,
            self.logs()
        );
        page.body
    }

    /// Apache's error log.
    pub fn logs(&self) -> String {
        self.apache
            .as_ref()
            .map(Apache::error_log)
            .unwrap_or_default()
    }

    /// Starts Apache with mod_auth_mellon, trusting the IdP described by `idp_metadata`.
    pub fn start(idp_metadata: &str) -> Self {
        Self::start_with(idp_metadata, "")
    }

    /// The same, with `extra` mod_auth_mellon directives after the others of `<Location />`
    /// (they override them, e.g. `MellonSecureCookie On` for a real browser, which drops
    /// mellon's `SameSite=None` cookies unless they are `Secure`).
    pub fn start_with(idp_metadata: &str, extra: &str) -> Self {
        let create = procs::require(
            "/usr/sbin/mellon_create_metadata",
            "libapache2-mod-auth-mellon",
        );
        procs::require_file(
            &format!("{MODULES}/mod_auth_mellon.so"),
            "libapache2-mod-auth-mellon",
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = free_port();
        let origin = format!("http://127.0.0.1:{port}");
        let entity = format!("{origin}/mellon/metadata");
        let (ok, out, err) = procs::run_with_timeout(
            {
                let mut c = Command::new(create);
                c.arg(&entity)
                    .arg(format!("{origin}/mellon"))
                    .current_dir(d);
                c
            },
            Duration::from_secs(60),
        );
        assert!(ok, "mellon_create_metadata failed:\n{out}\n{err}");
        // It writes <entity id with punctuation replaced>.{key,cert,xml}.
        let find = |ext: &str| -> PathBuf {
            std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|e| e == ext))
                .unwrap_or_else(|| panic!("mellon_create_metadata wrote no .{ext}:\n{out}"))
        };
        let (key, cert, xml) = (find("key"), find("cert"), find("xml"));
        let idp = d.join("idp-metadata.xml");
        std::fs::write(&idp, idp_metadata).unwrap();
        for p in [&key, &cert, &xml, &idp] {
            // Workers (nobody, when run as root) read them.
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }

        let mut config = ApacheConfig::new();
        config.module("auth_mellon").module("cgid").listen(port);
        config.cgi_script(
            "whoami",
            "#!/bin/sh\n\
             printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n'\n\
             echo \"REMOTE_USER=$REMOTE_USER\"\n\
             env | grep '^MELLON_' | sort\n",
        );
        let cgi = config.path().join("cgi").display().to_string();
        config.raw(&format!(
            r#"LogLevel info auth_mellon:debug
<VirtualHost 127.0.0.1:{port}>
    ServerName {origin}
    UseCanonicalName On
    ScriptAlias /app/ {cgi}/
    <Location />
        MellonEnable info
        MellonEndpointPath /mellon
        MellonSPentityId "{entity}"
        MellonSPPrivateKeyFile {key}
        MellonSPCertFile {cert}
        MellonSPMetadataFile {xml}
        MellonIdPMetadataFile {idp}
        MellonSecureCookie Off
        MellonUser uid
        {extra}
    </Location>
    <Location /app/>
        AuthType Mellon
        MellonEnable auth
        Require valid-user
    </Location>
</VirtualHost>"#,
            key = key.display(),
            cert = cert.display(),
            xml = xml.display(),
            idp = idp.display(),
        ));
        Self {
            port,
            apache: Some(config.start()),
            _dir: dir,
        }
    }
}

/// The attribute names in mod_auth_mellon's variables (`MELLON_<name>` and
/// `MELLON_<name>_<n>` for each value), without its own (`MELLON_NAME_ID`,
/// `MELLON_ASSERTION_ID`, `MELLON_IDP`...).
pub fn attribute_names(vars: &[(String, String)]) -> BTreeSet<String> {
    const OWN: [&str; 6] = [
        "NAME_ID",
        "ASSERTION_ID",
        "NAME_ID_FORMAT",
        "IDP",
        "SESSION",
        "AUTHN_INSTANT",
    ];
    vars.iter()
        .filter_map(|(k, _)| k.strip_prefix("MELLON_"))
        .map(|n| match n.rsplit_once('_') {
            Some((base, idx)) if !idx.is_empty() && idx.bytes().all(|b| b.is_ascii_digit()) => {
                base.to_owned()
            }
            _ => n.to_owned(),
        })
        .filter(|n| !OWN.contains(&n.as_str()))
        .collect()
}

impl Drop for MellonSp {
    fn drop(&mut self) {
        self.apache.take();
    }
}
