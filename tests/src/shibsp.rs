//! A throwaway Shibboleth SP 3 (Debian `libapache2-mod-shib`, `shibboleth-sp-utils`): a
//! `shibd` in the foreground (`-F`) with a generated `shibboleth2.xml` and everything else
//! (socket, pid file, logs, SP key and certificate, IdP metadata, attribute map and policy)
//! in a temporary folder, and an Apache with `mod_shib` on a loopback port serving
//! `/Shibboleth.sso/*` and a protected CGI at `/app/` that prints `REMOTE_USER` and the
//! attribute variables (`NAME=value` lines). Both stopped when dropped.
//!
//! Plain HTTP on the loopback: `handlerSSL="false"`, `cookieProps="http"`. The SP signs
//! with RSA-SHA256 and SHA-256 digests (`signingAlg`, `digestAlg`): left to itself,
//! Shibboleth SP 3.4 signs its SOAP LogoutResponses with RSA-SHA1, which the IdP refuses
//! unless the registry entry says `allow_sha1`.
//!
//! Attribute mapping (`attribute-map.xml`): `urn:oid:0.9.2342.19200300.100.1.1` (URI name
//! format) → `uid` (also `REMOTE_USER`), and the GAR-style basic-format
//! `GARPersonIdentifiant` → `GARPersonIdentifiant`. Anything else the IdP sent would be
//! dropped by the SP and logged in `shibd.log` ("skipping SAML 2.0 Attribute with Name: ...",
//! [`UNMAPPED_MARK`]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use federation_metadata::keys::{generate_self_signed, write_pair};

use crate::apache::{Apache, ApacheConfig, MODULES};
use crate::procs::{self, free_port, Guard};
use crate::saml_sp::{BASIC_FORMAT, UID_OID};
use crate::Browser;

/// The attribute ids the SP maps (and therefore the only ones it can show).
pub const MAPPED: [&str; 2] = ["uid", "GARPersonIdentifiant"];

/// What shibd logs (INFO) for each SAML attribute it received but does not map.
pub const UNMAPPED_MARK: &str = "skipping SAML 2.0 Attribute";

/// A running Shibboleth SP (shibd + Apache with mod_shib).
pub struct ShibbolethSp {
    pub port: u16,
    apache: Option<Apache>,
    shibd: Option<Guard>,
    dir: tempfile::TempDir,
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
}

impl ShibbolethSp {
    /// Its origin, `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The SP's entityID (what `/Shibboleth.sso/Metadata` publishes).
    pub fn entity_id(&self) -> String {
        format!("{}/shibboleth", self.origin())
    }

    /// The protected page.
    pub fn app_url(&self) -> String {
        format!("{}/app/whoami", self.origin())
    }

    /// The SP's metadata, as Shibboleth generates it (`GET /Shibboleth.sso/Metadata`).
    pub fn fetch_metadata(&self, browser: &Browser) -> String {
        let page = browser.get_url(&format!("{}/Shibboleth.sso/Metadata", self.origin()));
        assert_eq!(
            page.status,
            200,
            "GET /Shibboleth.sso/Metadata: {}\n{}",
            page.body,
            self.logs()
        );
        page.body
    }

    /// shibd's log, its output, and Apache's error log (for assertion messages).
    pub fn logs(&self) -> String {
        let d = self.dir.path();
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "--- shibd.log\n{}\n--- shibd output\n{}\n--- native.log\n{}\n--- apache\n{}",
            read(d.join("logs/shibd.log")),
            self.shibd.as_ref().map(Guard::output).unwrap_or_default(),
            read(d.join("logs/native.log")),
            self.apache
                .as_ref()
                .map(Apache::error_log)
                .unwrap_or_default(),
        )
    }

    /// shibd's own log.
    pub fn shibd_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/shibd.log")).unwrap_or_default()
    }

    /// Starts shibd and Apache, trusting the IdP described by `idp_metadata` (its
    /// `EntityDescriptor`, as served at `<idp>/saml/metadata`).
    pub fn start(idp_metadata: &str) -> Self {
        let shibd = procs::require("/usr/sbin/shibd", "shibboleth-sp-utils");
        procs::require_file(&format!("{MODULES}/mod_shib.so"), "libapache2-mod-shib");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for sub in ["run", "logs", "cache"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
            std::fs::set_permissions(d.join(sub), std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let port = free_port();
        let origin = format!("http://127.0.0.1:{port}");
        let idp_entity = crate::saml_sp::entity_id(idp_metadata);
        write(&d.join("idp-metadata.xml"), idp_metadata);

        let (key, cert) = generate_self_signed(&format!("127.0.0.1:{port} shibboleth"), 2).unwrap();
        write_pair(&key, &cert, &d.join("sp-key.pem"), &d.join("sp-cert.pem")).unwrap();
        // Workers (nobody, when run as root) read the configuration in-process.
        for f in ["sp-key.pem", "sp-cert.pem"] {
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        for f in ["protocols.xml", "security-policy.xml"] {
            let src = procs::require_file(&format!("/etc/shibboleth/{f}"), "shibboleth-sp-common");
            std::fs::copy(src, d.join(f)).unwrap();
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        write(
            &d.join("attribute-map.xml"),
            &format!(
                r#"<Attributes xmlns="urn:mace:shibboleth:2.0:attribute-map" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <Attribute name="{UID_OID}" id="uid"/>
    <Attribute name="GARPersonIdentifiant" nameFormat="{BASIC_FORMAT}" id="GARPersonIdentifiant"/>
</Attributes>
"#
            ),
        );
        write(
            &d.join("attribute-policy.xml"),
            r#"<AttributeFilterPolicyGroup xmlns="urn:mace:shibboleth:2.0:afp" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <AttributeFilterPolicy>
        <PolicyRequirementRule xsi:type="ANY"/>
        <AttributeRule attributeID="*" permitAny="true"/>
    </AttributeFilterPolicy>
</AttributeFilterPolicyGroup>
"#,
        );
        let dd = d.display();
        let logger = |file: &str| {
            format!(
                "log4j.rootCategory=INFO, main\n\
                 log4j.category.XMLTooling.XMLObject=WARN\n\
                 log4j.category.XMLTooling.XMLObjectBuilder=WARN\n\
                 log4j.category.XMLTooling.KeyInfoResolver=WARN\n\
                 log4j.category.Shibboleth.IPRange=WARN\n\
                 log4j.category.Shibboleth.PropertySet=WARN\n\
                 log4j.appender.main=org.apache.log4j.FileAppender\n\
                 log4j.appender.main.fileName={dd}/logs/{file}\n\
                 log4j.appender.main.layout=org.apache.log4j.PatternLayout\n\
                 log4j.appender.main.layout.ConversionPattern=%d{{%Y-%m-%d %H:%M:%S}} %p %c %x: %m%n\n"
            )
        };
        write(&d.join("shibd.logger"), &logger("shibd.log"));
        write(&d.join("native.logger"), &logger("native.log"));
        write(
            &d.join("shibboleth2.xml"),
            &format!(
                r#"<SPConfig xmlns="urn:mace:shibboleth:3.0:native:sp:config"
    xmlns:conf="urn:mace:shibboleth:3.0:native:sp:config"
    clockSkew="180">
    <OutOfProcess logger="{dd}/shibd.logger"/>
    <InProcess logger="{dd}/native.logger"/>
    <UnixListener address="{dd}/run/shibd.sock"/>
    <ApplicationDefaults entityID="{origin}/shibboleth" REMOTE_USER="uid"
        signingAlg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        digestAlg="http://www.w3.org/2001/04/xmlenc#sha256">
        <Sessions lifetime="28800" timeout="3600" relayState="ss:mem"
                  checkAddress="false" handlerSSL="false" cookieProps="http"
                  redirectLimit="exact">
            <SSO entityID="{idp_entity}">SAML2</SSO>
            <Logout>SAML2 Local</Logout>
            <Handler type="MetadataGenerator" Location="/Metadata" signing="false"/>
            <Handler type="Status" Location="/Status" acl="127.0.0.1 ::1"/>
            <Handler type="Session" Location="/Session" showAttributeValues="true"/>
        </Sessions>
        <Errors supportContact="root@localhost" helpLocation="/about.html"
            styleSheet="/shibboleth-sp/main.css"/>
        <MetadataProvider type="XML" validate="true" path="{dd}/idp-metadata.xml"/>
        <AttributeExtractor type="XML" validate="true" reloadChanges="false" path="{dd}/attribute-map.xml"/>
        <AttributeFilter type="XML" validate="true" path="{dd}/attribute-policy.xml"/>
        <CredentialResolver type="File" key="{dd}/sp-key.pem" certificate="{dd}/sp-cert.pem"/>
    </ApplicationDefaults>
    <SecurityPolicyProvider type="XML" validate="true" path="{dd}/security-policy.xml"/>
    <ProtocolProvider type="XML" validate="true" reloadChanges="false" path="{dd}/protocols.xml"/>
</SPConfig>
"#
            ),
        );
        let conf = d.join("shibboleth2.xml");

        // The configuration is checked first (-t), for a clear message.
        let check = procs::run_with_timeout(
            {
                let mut c = Command::new(&shibd);
                c.arg("-t").arg("-c").arg(&conf);
                c
            },
            Duration::from_secs(60),
        );
        assert!(
            check.0,
            "shibd -t refused the configuration:\n{}{}\n{}",
            check.1,
            check.2,
            std::fs::read_to_string(d.join("logs/shibd.log")).unwrap_or_default()
        );
        let mut cmd = Command::new(&shibd);
        cmd.arg("-F")
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(d.join("run/shibd.pid"));
        let mut guard = Guard::spawn("shibd", cmd, &d.join("logs/shibd.out"));
        let sock = d.join("run/shibd.sock");
        let start = Instant::now();
        while !sock.exists() {
            if !guard.running() || start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "shibd did not create its socket:\n{}\n{}",
                    guard.output(),
                    std::fs::read_to_string(d.join("logs/shibd.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Apache's workers (nobody, when run as root) connect to it.
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();

        let mut config = ApacheConfig::new();
        config.module("cgid").listen(port);
        config.cgi_script(
            "whoami",
            "#!/bin/sh\n\
             printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n'\n\
             echo \"REMOTE_USER=$REMOTE_USER\"\n\
             env | grep -E '^(uid|GARPersonIdentifiant|Shib_[A-Za-z_]+)=' | sort\n",
        );
        let cgi = config.path().join("cgi").display().to_string();
        config.raw(&format!(
            r#"LoadModule mod_shib {MODULES}/mod_shib.so
ShibConfig {dd}/shibboleth2.xml
<VirtualHost 127.0.0.1:{port}>
    ServerName {origin}
    UseCanonicalName On
    ScriptAlias /app/ {cgi}/
    <Location /Shibboleth.sso>
        SetHandler shib
    </Location>
    <Location /app/>
        AuthType shibboleth
        ShibRequestSetting requireSession 1
        Require shib-session
    </Location>
</VirtualHost>"#
        ));
        // shibd is already owned by `me`: stopped even if Apache does not start.
        let mut me = Self {
            port,
            apache: None,
            shibd: Some(guard),
            dir,
        };
        me.apache = Some(config.start());
        me
    }
}

impl Drop for ShibbolethSp {
    fn drop(&mut self) {
        // Apache first (it talks to shibd), then shibd, before the folder goes.
        self.apache.take();
        self.shibd.take();
    }
}
