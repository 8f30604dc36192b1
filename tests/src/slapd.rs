//! A throwaway OpenLDAP `slapd` for the tests of the LDAP directory: run as the current user
//! on a free loopback port, back-mdb in a temporary folder, the project's
//! `deploy/ldap/ent-idp.schema` over core, cosine and inetorgperson, and the ACLs
//! `deploy/ldap/README.md` recommends (the IdP's service account reads the people and
//! writes its own attributes only). Stopped when dropped; it can be stopped and started
//! again on the same port with its data (outage tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::procs::{free_port, require, run_with_timeout, Guard};

pub const BASE_DN: &str = "dc=ent,dc=test";
pub const ROOT_DN: &str = "cn=admin,dc=ent,dc=test";
pub const ROOT_PASSWORD: &str = "root-secret";
/// The IdP's service account, as deploy/ldap/README.md describes it.
pub const IDP_DN: &str = "cn=idp,ou=services,dc=ent,dc=test";
pub const IDP_PASSWORD: &str = "idp-secret";

pub struct Slapd {
    pub port: u16,
    program: PathBuf,
    dir: tempfile::TempDir,
    guard: Option<Guard>,
}

/// The project's schema file.
pub fn schema_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/ldap/ent-idp.schema")
}

impl Slapd {
    /// Starts one with the base entries (the organizational units and the IdP's account);
    /// panics naming the Debian package when slapd or ldap-utils are missing.
    pub fn start() -> Self {
        let program = require("/usr/sbin/slapd", "slapd");
        require("ldapadd", "ldap-utils");
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, config(dir.path())).unwrap();
        // The base entries are loaded offline, before the server runs.
        let base = dir.path().join("base.ldif");
        std::fs::write(&base, base_ldif()).unwrap();
        let slapadd = program.with_file_name("slapadd");
        let mut cmd = Command::new(&slapadd);
        cmd.arg("-f").arg(&conf).arg("-l").arg(&base);
        let (ok, out, err) = run_with_timeout(cmd, Duration::from_secs(20));
        assert!(ok, "slapadd failed:\n{out}\n{err}");
        let mut server = Self {
            port: free_port(),
            program,
            dir,
            guard: None,
        };
        server.restart();
        server
    }

    /// `ldap://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Stops the server; its data stays for `restart`.
    pub fn stop(&mut self) {
        self.guard = None;
    }

    /// Starts it (again) on the same port, with the same data.
    pub fn restart(&mut self) {
        self.stop();
        let mut cmd = Command::new(&self.program);
        // -d: stay in the foreground (the guard owns the process).
        cmd.arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .args(["-h", &self.url()])
            .args(["-d", "0"]);
        let log = self.dir.path().join("slapd.log");
        let mut guard = Guard::spawn("slapd", cmd, &log);
        guard.wait_port(self.port);
        self.guard = Some(guard);
    }

    /// Runs `program` (ldapadd, ldapmodify) on `input` as `(dn, password)`.
    pub fn tool_as(&self, program: &str, who: (&str, &str), input: &str) -> (bool, String) {
        let file = self.dir.path().join(format!("{program}-input.ldif"));
        std::fs::write(&file, input).unwrap();
        let mut cmd = Command::new(program);
        cmd.args(["-x", "-H", &self.url(), "-D", who.0, "-w", who.1])
            .arg("-f")
            .arg(&file);
        let (ok, out, err) = run_with_timeout(cmd, Duration::from_secs(20));
        (ok, format!("{out}\n{err}"))
    }

    /// Adds entries (LDIF) as the administrator, as a provisioning tool would.
    pub fn ldapadd(&self, ldif: &str) {
        let (ok, out) = self.tool_as("ldapadd", (ROOT_DN, ROOT_PASSWORD), ldif);
        assert!(ok, "ldapadd failed:\n{out}\n{ldif}");
    }

    /// One entry as LDIF, read as `who` (`None`: anonymously); empty when not visible.
    pub fn ldapsearch_as(&self, who: Option<(&str, &str)>, dn: &str) -> String {
        let mut cmd = Command::new("ldapsearch");
        cmd.args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.url()]);
        if let Some((user, password)) = who {
            cmd.args(["-D", user, "-w", password]);
        }
        cmd.args(["-s", "base", "-b", dn]);
        let (_, out, _) = run_with_timeout(cmd, Duration::from_secs(20));
        out
    }
}

fn config(dir: &Path) -> String {
    let schema = schema_path();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {schema}
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb

database mdb
maxsize 104857600
suffix "{BASE_DN}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PASSWORD}
directory {dir}/db
index objectClass eq
index ENTPersonLogin,ENTIdpEntryKey eq
index ENTIdpPersonKey,ENTIdpAccountState eq,subinitial
# The IdP walks the whole directory for exports, a page at a time.
limits dn.exact="{IDP_DN}" size.soft=unlimited size.hard=unlimited size.prtotal=unlimited

# The ACLs of deploy/ldap/README.md.
access to dn.base="" by * read
access to attrs=userPassword
    by anonymous auth
    by * none
access to dn.subtree="ou=people,{BASE_DN}"
        attrs=ENTIdpPasswordHash,ENTIdpActivationCode,ENTIdpPasswordChangedAt,ENTIdpAccountState
    by dn.exact="{IDP_DN}" write
    by * none
access to dn.subtree="{BASE_DN}"
    by dn.exact="{IDP_DN}" read
    by * none
"#,
        schema = schema.display(),
        dir = dir.display(),
    )
}

fn base_ldif() -> String {
    let mut out = format!(
        "dn: {BASE_DN}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n\
         o: ENT test\ndc: ent\n\n"
    );
    for ou in ["people", "structures", "subjects", "mefs", "services"] {
        out.push_str(&format!(
            "dn: ou={ou},{BASE_DN}\nobjectClass: organizationalUnit\nou: {ou}\n\n"
        ));
    }
    out.push_str(&format!(
        "dn: {IDP_DN}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\n\
         cn: idp\nuserPassword: {IDP_PASSWORD}\n\n"
    ));
    out
}
