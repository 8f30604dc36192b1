//! A throwaway Apache httpd (Debian's `apache2`) for end-to-end tests: everything (config,
//! pid file, logs, runtime files, mod_auth_cas's cookie cache) in a temporary folder, on
//! loopback ports only, stopped when dropped.
//!
//! Run as root (CI), Apache drops its workers' privileges to `nobody`/`nogroup`: the folder
//! is then made readable by them and the folders they write to writable.
//!
//! [`ApacheConfig::tls_proxy`] puts a TLS reverse proxy (mod_ssl + mod_proxy_http, test
//! certificate) in front of a plain-HTTP loopback server: how the tests give the HTTPS
//! endpoints that mod_auth_cas and phpCAS insist on to an IdP or a `php -S` server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::procs::{self, Guard};
use crate::tls::TestCa;

/// Where Debian installs Apache's modules.
pub const MODULES: &str = "/usr/lib/apache2/modules";

/// A configuration being written; [`ApacheConfig::start`] runs it.
pub struct ApacheConfig {
    dir: tempfile::TempDir,
    modules: BTreeSet<&'static str>,
    ports: Vec<u16>,
    body: String,
}

impl Default for ApacheConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ApacheConfig {
    pub fn new() -> Self {
        procs::require("/usr/sbin/apache2", "apache2");
        let dir = tempfile::tempdir().unwrap();
        for sub in ["run", "logs", "cas-cache"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let mut me = Self {
            dir,
            modules: BTreeSet::new(),
            ports: Vec::new(),
            body: String::new(),
        };
        for m in [
            "mpm_event",
            "authn_core",
            "authz_core",
            "authz_user",
            "alias",
        ] {
            me.module(m);
        }
        me
    }

    /// The configuration's folder (to put scripts and pages in).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Loads `mod_<name>.so` (`<name>_module`).
    pub fn module(&mut self, name: &'static str) -> &mut Self {
        self.modules.insert(name);
        self
    }

    /// `Listen 127.0.0.1:<port>`.
    pub fn listen(&mut self, port: u16) -> &mut Self {
        self.ports.push(port);
        self
    }

    /// Configuration text, appended as is.
    pub fn raw(&mut self, text: &str) -> &mut Self {
        self.body.push_str(text);
        self.body.push('\n');
        self
    }

    /// A TLS virtual host on `port` (certificate of `ca`) proxying everything to `backend`
    /// (`http://127.0.0.1:PORT`), with `X-Forwarded-Proto: https` added.
    pub fn tls_proxy(&mut self, port: u16, ca: &TestCa, backend: &str) -> &mut Self {
        for m in ["ssl", "socache_shmcb", "proxy", "proxy_http", "headers"] {
            self.module(m);
        }
        self.listen(port);
        let backend = backend.trim_end_matches('/');
        let text = format!(
            r#"<VirtualHost 127.0.0.1:{port}>
    ServerName 127.0.0.1
    SSLEngine on
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
    ProxyPreserveHost Off
    RequestHeader set X-Forwarded-Proto https
    ProxyPass / {backend}/ timeout=20
    ProxyPassReverse / {backend}/
</VirtualHost>"#,
            cert = ca.server_cert.display(),
            key = ca.server_key.display(),
        );
        self.raw(&text)
    }

    /// Writes an executable CGI script at `<dir>/cgi/<name>`; returns its path.
    pub fn cgi_script(&self, name: &str, text: &str) -> PathBuf {
        let dir = self.path().join("cgi");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn text(&self, root: bool) -> String {
        let d = self.path().display();
        let mut t = String::new();
        let _ = writeln!(t, "ServerRoot {d}\nServerName 127.0.0.1");
        if root {
            let _ = writeln!(t, "User nobody\nGroup nogroup");
        }
        let _ = writeln!(
            t,
            "PidFile {d}/run/httpd.pid\nDefaultRuntimeDir {d}/run\nMutex file:{d}/run default\n\
             ErrorLog {d}/logs/error.log\nLogLevel info\nTimeout 30\n\
             StartServers 1\nServerLimit 2\nThreadsPerChild 16\nMaxRequestWorkers 32"
        );
        for m in &self.modules {
            let _ = writeln!(t, "LoadModule {m}_module {MODULES}/mod_{m}.so");
        }
        if self.modules.contains("cgid") {
            let _ = writeln!(t, "ScriptSock {d}/run/cgid.sock");
        }
        if self.modules.contains("ssl") {
            let _ = writeln!(t, "SSLSessionCache shmcb:{d}/run/ssl_scache(512000)");
        }
        for p in &self.ports {
            let _ = writeln!(t, "Listen 127.0.0.1:{p}");
        }
        t.push_str(&self.body);
        t
    }

    /// Writes `httpd.conf` and starts Apache in the foreground; returns once every port
    /// listens (panics with the error log otherwise, within 10 s).
    pub fn start(self) -> Apache {
        for m in &self.modules {
            procs::require_file(
                &format!("{MODULES}/mod_{m}.so"),
                if *m == "auth_cas" {
                    "libapache2-mod-auth-cas"
                } else {
                    "apache2"
                },
            );
        }
        let root = procs::running_as_root();
        let conf = self.path().join("httpd.conf");
        std::fs::write(&conf, self.text(root)).unwrap();
        if root {
            // Workers run as nobody: they read the folder and write logs and the CAS cache.
            let mode = |p: &Path, m: u32| {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
            };
            mode(self.path(), 0o755);
            for sub in ["run", "logs", "cas-cache"] {
                mode(&self.path().join(sub), 0o777);
            }
        }
        let check = procs::run_with_timeout(
            {
                let mut c = Command::new("/usr/sbin/apache2");
                c.arg("-t").arg("-f").arg(&conf);
                c
            },
            std::time::Duration::from_secs(10),
        );
        assert!(
            check.0,
            "apache2 -t refused the configuration:\n{}{}\n{}",
            check.1,
            check.2,
            self.text(root)
        );
        let mut cmd = Command::new("/usr/sbin/apache2");
        cmd.arg("-f").arg(&conf).arg("-DFOREGROUND");
        // Debian's apache2ctl normally sets these; the config above does not use them.
        cmd.env("APACHE_LOG_DIR", self.path().join("logs"));
        let mut guard = Guard::spawn("apache2", cmd, &self.path().join("logs/stdout.log"));
        for &p in &self.ports {
            if !procs::wait_port(p, std::time::Duration::from_secs(10)) || !guard.running() {
                let log =
                    std::fs::read_to_string(self.path().join("logs/error.log")).unwrap_or_default();
                panic!("apache2 does not listen on {p}:\n{}\n{log}", guard.output());
            }
        }
        Apache {
            guard: Some(guard),
            config: self,
        }
    }
}

/// A running Apache, stopped when dropped.
pub struct Apache {
    guard: Option<Guard>,
    config: ApacheConfig,
}

impl Apache {
    pub fn path(&self) -> &Path {
        self.config.path()
    }

    /// The error log so far (for assertion messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.path().join("logs/error.log")).unwrap_or_default()
    }
}

impl Drop for Apache {
    fn drop(&mut self) {
        // Stop before the folder goes.
        self.guard.take();
    }
}

/// A mod_auth_cas protected application: `/app/` (a CGI script printing `REMOTE_USER` and
/// every `CAS-*` header as `NAME=value` lines) on `port`, logging in at `login_url` and
/// validating (CAS 2/3 XML) at `validate_url`, an HTTPS URL whose certificate `ca` signs.
/// With `single_sign_out`, `CASSSOEnabled On` (back-channel logoutRequest); with `saml`,
/// `CASValidateSAML On` (`validate_url` is then a `/samlValidate`); with `root_proxied_as`
/// (`https://host:port`), `CASRootProxiedAs`: the service URLs are built on that origin,
/// the application's TLS front.
pub struct CasAppOptions {
    pub single_sign_out: bool,
    pub saml: bool,
    pub root_proxied_as: Option<String>,
}

pub fn mod_auth_cas_app(
    config: &mut ApacheConfig,
    port: u16,
    login_url: &str,
    validate_url: &str,
    ca: &TestCa,
    options: CasAppOptions,
) {
    config.module("auth_cas").module("cgid").listen(port);
    config.cgi_script(
        "whoami",
        "#!/bin/sh\n\
         printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n'\n\
         echo \"REMOTE_USER=$REMOTE_USER\"\n\
         env | grep '^HTTP_CAS_' | sed 's/^HTTP_CAS_//' | sort\n",
    );
    // Workers (nobody, when run as root) read the CA at each validation: a readable copy.
    let ca_copy = config.path().join("cas-ca.pem");
    std::fs::copy(&ca.ca_cert, &ca_copy).unwrap();
    std::fs::set_permissions(&ca_copy, std::fs::Permissions::from_mode(0o644)).unwrap();
    let d = config.path().display().to_string();
    let on = |b: bool| if b { "On" } else { "Off" };
    let (sso, saml) = (on(options.single_sign_out), on(options.saml));
    let proxied = options
        .root_proxied_as
        .map(|o| format!("CASRootProxiedAs {o}\n"))
        .unwrap_or_default();
    let text = format!(
        r#"LogLevel info auth_cas:debug
CASCookiePath {d}/cas-cache/
CASLoginURL {login_url}
CASValidateURL {validate_url}
CASCertificatePath {d}/cas-ca.pem
CASVersion 2
CASDebug On
CASAttributePrefix CAS-
CASSSOEnabled {sso}
CASValidateSAML {saml}
{proxied}CASTimeout 3600
CASIdleTimeout 3600
<VirtualHost 127.0.0.1:{port}>
    ServerName 127.0.0.1
    ScriptAlias /app/ {d}/cgi/
    <Location /app/>
        AuthType CAS
        CASAuthNHeader CAS-User
        Require valid-user
    </Location>
</VirtualHost>"#
    );
    config.raw(&text);
}
