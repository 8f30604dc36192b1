//! `idp demo`: a working IdP on localhost with a fictional school district, loaded the way
//! production is: the project's own AAF delivery (`idp/demo/aaf/`, embedded in the binary)
//! is written to the data folder and imported with the AAF importer. A few accounts then
//! get known passwords, one keeps only its activation code, and the server runs until
//! Ctrl-C.
//!
//! The data folder is reset at each run, but only the files the demo itself writes there
//! are removed, so a mistaken `--data` cannot wipe anything else.
//!
//! Beside the IdP run the demo trust domain's own services from `sp-adapter`: "Vie
//! scolaire (démo)" (CAS) and "Ressources numériques (démo)" (SAML 2.0, with its DEMO-ONLY
//! key from `deploy/federation/demo`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use time::Date;

use crate::app::{self, DirectoryHandles};
use crate::authn::PasswordHasher;
use crate::feeds::aaf::{import_paths, ImportOptions};
use crate::model::PersonKey;
use crate::ports::{Clock as _, SystemClock};
use crate::settings::Settings;

#[derive(Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Folder for the demo's directory, audit log and AAF files (reset at each run).
    #[arg(long, default_value = "demo-data")]
    pub data: PathBuf,
    /// Address of the demo CAS service ("Vie scolaire (démo)"); the demo trust domain
    /// registers it at 127.0.0.1:8081 and localhost:8081.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub service_bind: String,
    /// Address of the demo SAML service ("Ressources numériques (démo)"); the demo trust
    /// domain registers it at 127.0.0.1:8082.
    #[arg(long, default_value = "127.0.0.1:8082")]
    pub saml_service_bind: String,
}

/// Where the demo services listen. The demo trust domain registers the defaults; other
/// addresses are written into the compiled copy of the domain (see
/// [`prepare_federation_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoBinds {
    /// "Vie scolaire (démo)", CAS.
    pub cas: String,
    /// "Ressources numériques (démo)", SAML.
    pub saml: String,
}

/// The addresses the demo trust domain registers.
const DEFAULT_CAS_BIND: &str = "127.0.0.1:8081";
const DEFAULT_SAML_BIND: &str = "127.0.0.1:8082";

impl Default for DemoBinds {
    fn default() -> Self {
        Self {
            cas: DEFAULT_CAS_BIND.into(),
            saml: DEFAULT_SAML_BIND.into(),
        }
    }
}

/// The demo AAF delivery, embedded so that the demo runs from any working directory.
const DELIVERY: &[(&str, &str)] = &[
    (
        "DEMO_Complet_20260907_EtabEducNat_0000.xml",
        include_str!("../../demo/aaf/DEMO_Complet_20260907_EtabEducNat_0000.xml"),
    ),
    (
        "DEMO_Complet_20260907_MatiereEducNat_0000.xml",
        include_str!("../../demo/aaf/DEMO_Complet_20260907_MatiereEducNat_0000.xml"),
    ),
    (
        "DEMO_Complet_20260907_MefEducNat_0000.xml",
        include_str!("../../demo/aaf/DEMO_Complet_20260907_MefEducNat_0000.xml"),
    ),
    (
        "DEMO_Complet_20260907_InfosEducNat_0000.xml",
        include_str!("../../demo/aaf/DEMO_Complet_20260907_InfosEducNat_0000.xml"),
    ),
    (
        "DEMO_Complet_20260907_Eleve_0000.xml",
        include_str!("../../demo/aaf/DEMO_Complet_20260907_Eleve_0000.xml"),
    ),
    (
        "DEMO_Complet_20260907_PersEducNat_0000.xml",
        include_str!("../../demo/aaf/DEMO_Complet_20260907_PersEducNat_0000.xml"),
    ),
    (
        "DEMO_Complet_20260907_PersRelEleve_0000.xml",
        include_str!("../../demo/aaf/DEMO_Complet_20260907_PersRelEleve_0000.xml"),
    ),
];

/// The académie code of the demo delivery (`codeAcademieExport`).
pub const ACADEMIE: &str = "99";

/// Accounts given a known password: (jointure, role, password).
const WITH_PASSWORD: &[(&str, &str, &str)] = &[
    ("5101", "élève / pupil", "Eleve-Demo-2026"),
    ("7101", "parent", "Parent-Demo-2026"),
    ("3101", "enseignant / teacher", "Prof-Demo-2026"),
    (
        "3103",
        "cheffe d'établissement / head",
        "Direction-Demo-2026",
    ),
];

/// The account left with only its activation code: (jointure, role).
const WITH_CODE: (&str, &str) = ("5102", "élève, 1re connexion / pupil, first login");

/// What someone logs in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Password(String),
    ActivationCode(String),
}

/// One account printed for the person trying the demo.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub role: &'static str,
    pub name: String,
    pub login: String,
    pub secret: Secret,
}

/// The files of the data folder that belong to the demo.
const DIRECTORY_FILE: &str = "directory.redb";
const AUDIT_FILE: &str = "audit.log";
const DELIVERY_DIR: &str = "aaf";

/// `settings` pointed at the demo's data folder and address.
pub fn settings_for(mut settings: Settings, data: &Path, bind: &str) -> Settings {
    settings.directory.path = data.join(DIRECTORY_FILE);
    settings.audit.path = data.join(AUDIT_FILE);
    settings.aaf.report_dir = data.join("reports");
    settings.server.bind = bind.to_owned();
    settings.server.public_url = format!("http://{bind}");
    settings
}

/// Removes what a previous run left, then writes the embedded delivery. Returns its folder.
fn reset_and_write(data: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    for file in [DIRECTORY_FILE, AUDIT_FILE] {
        let path = data.join(file);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let delivery = data.join(DELIVERY_DIR);
    if delivery.exists() {
        std::fs::remove_dir_all(&delivery)
            .with_context(|| format!("removing {}", delivery.display()))?;
    }
    std::fs::create_dir_all(&delivery)?;
    for (name, text) in DELIVERY {
        std::fs::write(delivery.join(name), text).with_context(|| format!("writing {name}"))?;
    }
    Ok(delivery)
}

/// Resets the data folder of `settings` (see [`settings_for`]), imports the demo delivery
/// and sets the demo passwords. Returns the open directory and the accounts to print.
/// Call it outside any async runtime.
pub fn prepare(
    settings: &Settings,
    today: Date,
) -> anyhow::Result<(DirectoryHandles, Vec<DemoAccount>)> {
    let data = settings
        .directory
        .path
        .parent()
        .context("the directory path has no folder")?
        .to_owned();
    let delivery = reset_and_write(&data)?;
    let directory = app::open_directory(settings)?;
    let report = import_paths(
        directory.writer.as_ref(),
        &[delivery],
        &ImportOptions {
            academie: None,
            today,
            retention_days: settings.aaf.retention_days,
            progress: false,
        },
    )
    .context("importing the demo AAF delivery")?;
    tracing::info!(files = report.files.len(), "demo delivery imported");

    let hasher = PasswordHasher::new(&settings.passwords)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let accounts = runtime.block_on(async {
        let mut accounts = Vec::new();
        for (jointure, role, password) in WITH_PASSWORD {
            let key = PersonKey::new(ACADEMIE, *jointure);
            let person = directory
                .reader
                .person(&key)
                .await?
                .with_context(|| format!("demo person {key} missing after import"))?;
            directory
                .reader
                .set_password(&key, hasher.hash(password)?, SystemClock.now())
                .await?;
            accounts.push(DemoAccount {
                role,
                name: person.display_name(),
                login: person.login,
                secret: Secret::Password((*password).to_owned()),
            });
        }
        let key = PersonKey::new(ACADEMIE, WITH_CODE.0);
        let person = directory
            .reader
            .person(&key)
            .await?
            .with_context(|| format!("demo person {key} missing after import"))?;
        let code = person
            .credentials
            .activation_code
            .clone()
            .context("the demo importer gave no activation code")?;
        accounts.push(DemoAccount {
            role: WITH_CODE.1,
            name: person.display_name(),
            login: person.login,
            secret: Secret::ActivationCode(code),
        });
        anyhow::Ok(accounts)
    })?;
    Ok((directory, accounts))
}

fn print_accounts(url: &str, accounts: &[DemoAccount]) {
    println!();
    println!("  Demo IdP running at {url}  (Ctrl-C to stop)");
    println!();
    println!(
        "  {:<44} {:<24} {:<28} password / activation code",
        "role", "name", "login"
    );
    for a in accounts {
        let secret = match &a.secret {
            Secret::Password(p) => p.clone(),
            Secret::ActivationCode(c) => format!("{c}  (activation code)"),
        };
        println!("  {:<44} {:<24} {:<28} {secret}", a.role, a.name, a.login);
    }
    println!();
    let url = url.trim_end_matches('/');
    println!("  CAS base URL: {url}  (e.g. {url}/login?service=https%3A%2F%2F0350001a.index-education.net%2Fpronote%2F");
    println!("  for the demo registry's Pronote entry, then {url}/p3/serviceValidate?service=...&ticket=...)");
    println!();
}

/// A demo service started beside the IdP.
pub struct StartedService {
    pub url: String,
    pub addr: std::net::SocketAddr,
    /// Stops it when told to; dropping it leaves the service running.
    pub handle: actix_web::dev::ServerHandle,
}

/// Starts sp-adapter's demo CAS service ("Vie scolaire (démo)") on `bind`.
pub fn start_cas_service(settings: &Settings, bind: &str) -> anyhow::Result<StartedService> {
    let url = format!("http://{bind}/");
    let service = sp_adapter::demo::DemoService {
        name: "Vie scolaire (démo)".into(),
        public_url: url.clone(),
        cas_base: format!(
            "{}{}",
            settings.server.public_url.trim_end_matches('/'),
            settings.cas.prefix
        ),
    };
    let (addr, handle) = sp_adapter::demo::spawn(service, bind)?;
    Ok(StartedService { url, addr, handle })
}

/// The demo SAML service's DEMO-ONLY key and certificate (registered in
/// `services/ressources.toml`).
const SAML_SERVICE_KEY: &str = "DEMO-ONLY-ressources-numeriques-signing.key";
const SAML_SERVICE_CERT: &str = "ressources-numeriques-signing.crt";

/// Starts sp-adapter's demo SAML service ("Ressources numériques (démo)") on `bind`,
/// trusting this IdP as `settings` describe it (entityID, endpoints, signing certificate:
/// the demo runner knows them, no metadata to fetch).
pub fn start_saml_service(settings: &Settings, bind: &str) -> anyhow::Result<StartedService> {
    let domain = Path::new(DEMO_DOMAIN);
    let key = federation_metadata::keys::load_private_key(&domain.join(SAML_SERVICE_KEY))?;
    let certificate = federation_metadata::keys::load_certificate(&domain.join(SAML_SERVICE_CERT))?;
    if !federation_metadata::keys::key_matches(&key, &certificate) {
        anyhow::bail!("{SAML_SERVICE_KEY} and {SAML_SERVICE_CERT} do not belong together");
    }
    let idp_cert = federation_metadata::keys::load_certificate(&settings.saml.signing_cert)
        .context("the IdP's SAML signing certificate")?;
    let idp_base = settings.server.public_url.trim_end_matches('/');
    let base_url = format!("http://{bind}");
    let service = sp_adapter::demo_saml::SamlDemoService {
        name: "Ressources numériques (démo)".into(),
        base_url: base_url.clone(),
        key,
        certificate,
        idp: sp_adapter::saml::IdpDescriptor {
            entity_id: settings.saml.entity_id(&settings.server),
            sso_url: format!("{idp_base}/saml/sso"),
            slo_url: format!("{idp_base}/saml/slo"),
            certificate: idp_cert,
        },
    };
    let (addr, handle) = sp_adapter::demo_saml::spawn(service, bind)?;
    Ok(StartedService {
        url: format!("{base_url}/"),
        addr,
        handle,
    })
}

/// A demo service's URL, or `None` (with a warning) when it cannot start: the IdP demo
/// still runs.
fn start_or_warn(what: &str, started: anyhow::Result<StartedService>) -> Option<String> {
    match started {
        Ok(s) => Some(s.url),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "the demo {what} service could not start");
            None
        }
    }
}

/// The example trust domain of the source tree (`deploy/federation/demo`).
const DEMO_DOMAIN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/federation/demo");
const FEDERATION_DIR: &str = "federation";

/// Compiles the example trust domain with a federation key made now (the committed demo key
/// is not used: a key that is in a repository signs nothing) into `<data>/federation/`, and
/// points `settings` at its registry. Skipped, with a warning, when the source tree is not
/// at hand (an installed binary). The demo services are registered at their default
/// addresses ([`DemoBinds::default`]).
pub fn prepare_federation(settings: &mut Settings) -> anyhow::Result<()> {
    prepare_federation_for(settings, &DemoBinds::default())
}

/// [`prepare_federation`] with the demo services registered at `binds`: their default
/// addresses are replaced in the compiled copy's service files (the source stays as is).
pub fn prepare_federation_for(settings: &mut Settings, binds: &DemoBinds) -> anyhow::Result<()> {
    let source = Path::new(DEMO_DOMAIN);
    if !source.join("federation.toml").exists() {
        tracing::warn!(
            path = DEMO_DOMAIN,
            "demo trust domain not found: no federation"
        );
        return Ok(());
    }
    let root = settings.data_dir().join(FEDERATION_DIR);
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("removing {}", root.display()))?;
    }
    let domain = root.join("source");
    copy_dir(source, &domain)?;
    for (default, bind) in [
        (DEFAULT_CAS_BIND, &binds.cas),
        (DEFAULT_SAML_BIND, &binds.saml),
    ] {
        if bind != default {
            rebind_services(&domain.join("services"), default, bind)?;
        }
    }
    let (key, cert) = federation_metadata::keys::generate_self_signed("Fédération démo", 30)?;
    let key_path = root.join("keys/federation-signing.key");
    let cert_path = root.join("keys/federation-signing.crt");
    federation_metadata::keys::write_pair(&key, &cert, &key_path, &cert_path)?;
    // The domain names its certificate by file: it becomes the one just made.
    std::fs::copy(&cert_path, domain.join("federation-signing.crt"))?;
    let out = root.join("compiled");
    let summary = federation_metadata::compile::compile_domain(
        &domain,
        &key_path,
        &out,
        time::OffsetDateTime::now_utc(),
    )
    .context("compiling the demo trust domain")?;
    tracing::info!(entities = summary.saml_entities.len(), cas = summary.cas_services, out = %out.display(), "demo trust domain compiled");
    // The demo domain publishes the federation certificate as the IdP's signing certificate
    // (`idp.toml`): the IdP then signs with that key, so the aggregate and `/saml/metadata`
    // agree.
    settings.saml.signing_key = key_path;
    settings.saml.signing_cert = cert_path.clone();
    settings.federation.domains = vec![crate::settings::TrustDomainSettings {
        name: "demo".into(),
        registry: out
            .join(federation_metadata::signed_registry::REGISTRY_FILE)
            .display()
            .to_string(),
        certificate: cert_path,
        reload_interval_secs: 5,
    }];
    Ok(())
}

/// Replaces `http://<from>/` by `http://<to>/` in the service files of `dir`.
fn rebind_services(dir: &Path, from: &str, to: &str) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path)?;
            let moved = text.replace(&format!("http://{from}/"), &format!("http://{to}/"));
            if moved != text {
                std::fs::write(&path, moved)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// Copies the files of `from` (one level of sub-folders, no private keys) into `to`.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if entry.path().extension().is_none_or(|e| e != "key") {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

pub fn run(settings: Settings, args: DemoArgs) -> anyhow::Result<()> {
    app::init_tracing(&settings.log);
    let mut settings = settings_for(settings, &args.data, &args.bind);
    let (directory, accounts) = prepare(&settings, SystemClock.today())?;
    let binds = DemoBinds {
        cas: args.service_bind.clone(),
        saml: args.saml_service_bind.clone(),
    };
    prepare_federation_for(&mut settings, &binds)?;
    let backends = app::Backends::with_directory(&settings, directory.reader)?;
    let cas_service = start_or_warn("CAS", start_cas_service(&settings, &binds.cas));
    // Without the demo trust domain (an installed binary) the IdP has no registry and
    // the SAML service no registration: not started.
    let saml_service = if settings.federation.domains.is_empty() {
        None
    } else {
        start_or_warn("SAML", start_saml_service(&settings, &binds.saml))
    };
    app::run(&settings, backends, |addrs| {
        let url = addrs
            .first()
            .map(|a| format!("http://{a}/"))
            .unwrap_or_else(|| settings.server.public_url.clone());
        print_accounts(&url, &accounts);
        if let Some(service_url) = &cas_service {
            println!("  Demo service (CAS): {service_url}  — opens with the IdP's login, then shows what it received");
        }
        if let Some(service_url) = &saml_service {
            println!("  Demo service (SAML 2.0): {service_url}  — the same over SAML, with single logout");
        }
        if cas_service.is_some() || saml_service.is_some() {
            println!();
        }
    })?;
    Ok(())
}
