//! The CAS server with real CAS clients (issue 5, "Done when"): Apache httpd with
//! mod_auth_cas, phpCAS (Debian `php-cas`, served by `php -S`) with a proxy-ticket flow, and
//! python-cas (PyPI). Each logs a person in through the IdP's `/login`, validates the ticket
//! (`/p3/serviceValidate`, `/p3/proxyValidate`; mod_auth_cas and python-cas also through
//! SAML 1.1 `/samlValidate`, python-cas through `/validate` and `/serviceValidate`) and must
//! get exactly the attributes the signed registry releases to it (Pronote's set).
//! Back-channel logout: a service that got a ticket receives the `logoutRequest` when the
//! session ends, both a plain listener in the test and mod_auth_cas (`CASSSOEnabled`).
//!
//! The clients insist on HTTPS towards the CAS server (and phpCAS for its proxy callback):
//! an Apache TLS reverse proxy with a test CA generated at run time sits in front of the
//! IdP and of the PHP server. The test browser (no TLS) talks to the IdP directly: a
//! redirect to the TLS front's `/login` is followed on the IdP's own origin, the same
//! server.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use idp::model::Category;
use idp_tests::apache::{self, Apache, ApacheConfig, CasAppOptions};
use idp_tests::php::{PhpServer, PHPCAS};
use idp_tests::procs::{self, free_port};
use idp_tests::registry::{CasService, TestRegistry};
use idp_tests::tls::TestCa;
use idp_tests::{Browser, Page, TestIdp};

const LOGIN: &str = "zoe.roux";
const PASSWORD: &str = "Ardoise-Marelle-9";

/// What the registry releases to every test service (Pronote's set), for Zoé.
fn expected_attributes() -> BTreeMap<String, String> {
    [
        ("nom", "ROUX"),
        ("prenom", "Zoé"),
        ("dateNaissance", "14/03/2010"),
        ("codePostal", "13005"),
        ("categories", "National_1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Loopback ports of one test, chosen before anything starts (the registry names them).
struct Ports {
    idp_tls: u16,
    apache: u16,
    apache_tls: u16,
    php: u16,
    php_tls: u16,
    python: u16,
    listener: u16,
}

impl Ports {
    fn new() -> Self {
        Self {
            idp_tls: free_port(),
            apache: free_port(),
            apache_tls: free_port(),
            php: free_port(),
            php_tls: free_port(),
            python: free_port(),
            listener: free_port(),
        }
    }

    fn apache_app(&self) -> String {
        format!("http://127.0.0.1:{}/app/", self.apache)
    }
    /// The Apache application's HTTPS origin (the TLS front), no final `/`.
    fn apache_tls_origin(&self) -> String {
        format!("https://127.0.0.1:{}", self.apache_tls)
    }
    fn php(&self) -> String {
        format!("http://127.0.0.1:{}", self.php)
    }
    fn php_callback(&self) -> String {
        format!("https://127.0.0.1:{}/cb/", self.php_tls)
    }
    /// python-cas's service (HTTPS, as in production; never contacted).
    fn python_service(&self) -> String {
        format!("https://127.0.0.1:{}/python/", self.python)
    }
    fn listener_service(&self) -> String {
        format!("http://127.0.0.1:{}/slo/", self.listener)
    }
    /// The CAS base URL given to the clients (the TLS front of the IdP), with a final `/`.
    fn cas_base(&self) -> String {
        format!("https://127.0.0.1:{}/", self.idp_tls)
    }
}

/// The IdP with the test registry, the test CA and the TLS front.
struct World {
    ports: Ports,
    ca: TestCa,
    idp: TestIdp,
    front: Option<Apache>,
    _registry: TestRegistry,
    _tmp: tempfile::TempDir,
}

impl World {
    fn new() -> Self {
        let ports = Ports::new();
        let tmp = tempfile::tempdir().unwrap();
        let ca = TestCa::generate(&tmp.path().join("tls"));
        let registry = TestRegistry::new();
        let php = ports.php();
        let mut php_app = CasService::pronote_like("phpapp", &format!("{php}/app/"));
        php_app.prefixes.push(format!("{php}/proxy/"));
        php_app.proxy_callbacks.push(ports.php_callback());
        let mut python = CasService::pronote_like("python", &ports.python_service());
        python.single_logout = false;
        let domain = registry.publish(&[
            CasService {
                prefixes: vec![
                    ports.apache_app(),
                    format!("{}/app/", ports.apache_tls_origin()),
                ],
                ..CasService::pronote_like("apache", "")
            },
            php_app,
            CasService::pronote_like("phptarget", &format!("{php}/target/")),
            python,
            CasService::pronote_like("listener", &ports.listener_service()),
        ]);
        let ca_file = ca.ca_cert.clone();
        let idp = TestIdp::start_with(|s| {
            s.federation.domains = vec![domain];
            s.cas.proxy_callback_ca_file = ca_file;
            s.cas.proxy_callback_timeout_ms = 5000;
            s.cas.back_channel_timeout_ms = 5000;
        });
        idp.put_person(&idp.person(
            Category::Eleve,
            "5101",
            LOGIN,
            ("Zoé", "ROUX"),
            Some(PASSWORD),
            &[
                ("ENTPersonStructRattach", &["9001"]),
                ("ENTEleveClasses", &["9001$2NDE A"]),
                ("ENTPersonDateNaissance", &["14/03/2010"]),
                ("ENTPersonCodePostal", &["13005"]),
            ],
        ));
        let mut world = Self {
            ports,
            ca,
            idp,
            front: None,
            _registry: registry,
            _tmp: tmp,
        };
        let mut front = ApacheConfig::new();
        front.tls_proxy(world.ports.idp_tls, &world.ca, &world.idp.url);
        front.tls_proxy(world.ports.php_tls, &world.ca, &world.ports.php());
        front.tls_proxy(
            world.ports.apache_tls,
            &world.ca,
            &format!("http://127.0.0.1:{}", world.ports.apache),
        );
        world.front = Some(front.start());
        world
    }

    fn browser(&self) -> Browser {
        self.idp.browser()
    }

    /// Where the (TLS-less) browser sends a request for `url`: the TLS fronts' origins
    /// are replaced by the plain-HTTP servers behind them.
    fn local(&self, url: &str) -> String {
        let idp_front = format!("https://127.0.0.1:{}", self.ports.idp_tls);
        let apache = format!("http://127.0.0.1:{}", self.ports.apache);
        if let Some(rest) = url.strip_prefix(&idp_front) {
            format!("{}{rest}", self.idp.url)
        } else if let Some(rest) = url.strip_prefix(&self.ports.apache_tls_origin()) {
            format!("{apache}{rest}")
        } else {
            url.to_owned()
        }
    }

    /// GET of `url` (absolute, or a path on the IdP) by the browser.
    fn follow(&self, browser: &Browser, url: &str) -> Page {
        if url.starts_with('/') {
            browser.get(url)
        } else {
            browser.get_url(&self.local(url))
        }
    }

    fn front_log(&self) -> String {
        self.front
            .as_ref()
            .map(Apache::error_log)
            .unwrap_or_default()
    }
}

/// Fills and posts the login form shown in `page` (the form holding the CSRF field: its
/// action and every hidden field are kept); `page_path` is where it was shown.
fn submit_login(browser: &Browser, page: &Page, page_path: &str) -> Page {
    let body = &page.body;
    let csrf_at = body
        .find("name=\"csrf\"")
        .unwrap_or_else(|| panic!("no login form in:\n{body}"));
    let form_start = body[..csrf_at].rfind("<form").expect("no <form>");
    let form_end = body[csrf_at..]
        .find("</form>")
        .map_or(body.len(), |e| csrf_at + e);
    let form = &body[form_start..form_end];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let marker = format!("{name}=\"");
        let start = tag.find(&marker)? + marker.len();
        let end = tag[start..].find('"')? + start;
        Some(tag[start..end].to_owned())
    };
    let open_tag = &form[..form.find('>').unwrap()];
    let action = attr(open_tag, "action").unwrap_or_else(|| page_path.to_owned());
    let mut fields: Vec<(String, String)> = Vec::new();
    for input in form.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap_or(input.len())];
        if attr(tag, "type").as_deref() == Some("hidden") {
            if let Some(name) = attr(tag, "name") {
                fields.push((name, attr(tag, "value").unwrap_or_default()));
            }
        }
    }
    fields.push(("login".into(), LOGIN.into()));
    fields.push(("password".into(), PASSWORD.into()));
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post_form(&action, &refs)
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Logs Zoé in at the IdP for `service` (no session yet): returns the redirect back to the
/// service, with its ticket.
fn login_for_service(world: &World, browser: &Browser, login_url: &str, service: &str) -> String {
    let form = world.follow(browser, login_url);
    assert_eq!(form.status, 200, "login page for {service}: {form:?}");
    let path = login_url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
        .unwrap_or_else(|| login_url.to_owned());
    let back = submit_login(browser, &form, &path);
    assert!(
        [302, 303].contains(&back.status),
        "login for {service} not redirected back: {back:?}"
    );
    let to = back.location().unwrap().to_owned();
    assert!(
        to.starts_with(service),
        "redirected to {to}, not to the service {service}"
    );
    assert!(
        to.contains("ticket=ST-"),
        "no service ticket in the redirect: {to}"
    );
    to
}

fn ticket_of(url: &str) -> String {
    let at = url.find("ticket=").unwrap() + "ticket=".len();
    url[at..].split('&').next().unwrap().to_owned()
}

/// CAS 3.0 §3.7: tickets hold only `A-Z a-z 0-9 -`. mod_auth_cas enforces it (any other
/// character and it ignores the ticket and sends the browser back to the login page).
fn assert_spec_ticket(ticket: &str) {
    let rest = ticket
        .strip_prefix("ST-")
        .or_else(|| ticket.strip_prefix("PT-"))
        .unwrap_or_else(|| panic!("{ticket} does not start with ST- or PT-"));
    assert!(
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
        "{ticket} has characters outside CAS 3.0 §3.7's set (A-Z a-z 0-9 -), which \
         mod_auth_cas rejects"
    );
}

/// Follows the client's own redirects (on its origin) until a page that is not one.
fn follow_client(
    world: &World,
    browser: &Browser,
    mut url: String,
    origin: &str,
    diagnostics: &dyn Fn() -> String,
) -> Page {
    for _ in 0..6 {
        let page = world.follow(browser, &url);
        match page.location() {
            Some(to) if [301, 302, 303, 307].contains(&page.status) => {
                let to = if to.starts_with('/') {
                    format!("{origin}{to}")
                } else {
                    to.to_owned()
                };
                assert!(
                    world.local(&to).starts_with(origin),
                    "the client sent the browser elsewhere ({to}) instead of showing the page: \
                     {page:?}\n{}\nfront:\n{}",
                    diagnostics(),
                    world.front_log()
                );
                url = to;
            }
            _ => return page,
        }
    }
    panic!("too many redirects from {origin}");
}

/// `NAME=value` lines (the mod_auth_cas CGI page).
fn lines(body: &str) -> BTreeMap<String, String> {
    body.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn mod_auth_cas_app(world: &World, single_sign_out: bool) -> Apache {
    mod_auth_cas_app_with(world, "p3/serviceValidate", single_sign_out, false)
}

/// The service URL mod_auth_cas builds: with `https`, behind the TLS front
/// (`CASRootProxiedAs`).
fn apache_service(world: &World, https: bool) -> String {
    if https {
        format!("{}/app/whoami", world.ports.apache_tls_origin())
    } else {
        format!("{}whoami", world.ports.apache_app())
    }
}

fn mod_auth_cas_app_with(
    world: &World,
    validate: &str,
    single_sign_out: bool,
    saml: bool,
) -> Apache {
    let mut config = ApacheConfig::new();
    apache::mod_auth_cas_app(
        &mut config,
        world.ports.apache,
        &format!("{}login", world.ports.cas_base()),
        &format!("{}{validate}", world.ports.cas_base()),
        &world.ca,
        CasAppOptions {
            single_sign_out,
            saml,
            // SAML 1.1 attributes go to HTTPS services only: the app is then seen through
            // its TLS front.
            root_proxied_as: saml.then(|| world.ports.apache_tls_origin()),
        },
    );
    config.start()
}

/// Browser → Apache → IdP login → back with a ticket → mod_auth_cas validates at
/// `/p3/serviceValidate` (over TLS) → the page shows the user and the released attributes.
fn apache_login(world: &World, browser: &Browser, app: &Apache, https: bool) -> (String, Page) {
    let url = apache_service(world, https);
    let first = world.follow(browser, &url);
    assert_eq!(first.status, 302, "{first:?}\n{}", app.error_log());
    let login = first.location().unwrap().to_owned();
    assert!(
        login.starts_with(&format!("{}login?service=", world.ports.cas_base())),
        "{login}"
    );
    let back = login_for_service(world, browser, &login, &url);
    let ticket = ticket_of(&back);
    assert_spec_ticket(&ticket);
    let origin = format!("http://127.0.0.1:{}", world.ports.apache);
    let page = follow_client(world, browser, back, &origin, &|| app.error_log());
    assert_eq!(
        page.status,
        200,
        "mod_auth_cas did not accept the ticket: {page:?}\napache:\n{}\nfront:\n{}",
        app.error_log(),
        world.front_log()
    );
    (ticket, page)
}

#[test]
fn mod_auth_cas_logs_in_and_gets_exactly_the_released_attributes() {
    let world = World::new();
    let app = mod_auth_cas_app(&world, false);
    let browser = world.browser();
    let (_, page) = apache_login(&world, &browser, &app, false);
    let mut got = lines(&page.body);
    assert_eq!(
        got.remove("REMOTE_USER").as_deref(),
        Some(LOGIN),
        "{page:?}"
    );
    assert_eq!(got.remove("USER").as_deref(), Some(LOGIN), "{page:?}");
    // mod_auth_cas exports attributes as CAS-<name> headers: CGI upper-cases the names.
    let want: BTreeMap<String, String> = expected_attributes()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v))
        .collect();
    assert_eq!(got, want, "{}", page.body);
    // The session cookie works without the IdP now.
    let again = browser.get_url(&format!("{}whoami", world.ports.apache_app()));
    assert_eq!(again.status, 200);
    assert!(again.body.contains(&format!("REMOTE_USER={LOGIN}")));
}

#[test]
fn mod_auth_cas_validating_with_saml_1_1_gets_exactly_the_released_attributes() {
    let world = World::new();
    let app = mod_auth_cas_app_with(&world, "samlValidate", false, true);
    let browser = world.browser();
    let (_, page) = apache_login(&world, &browser, &app, true);
    let mut got = lines(&page.body);
    assert_eq!(
        got.remove("REMOTE_USER").as_deref(),
        Some(LOGIN),
        "{page:?}"
    );
    assert_eq!(got.remove("USER").as_deref(), Some(LOGIN), "{page:?}");
    // mod_auth_cas adds the assertion's AuthenticationStatement as two more headers.
    assert_eq!(
        got.remove("AUTHENTICATIONMETHOD").as_deref(),
        Some("urn:oasis:names:tc:SAML:1.0:am:password"),
        "{page:?}"
    );
    assert!(got.remove("AUTHENTICATIONINSTANT").is_some(), "{page:?}");
    let want: BTreeMap<String, String> = expected_attributes()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_uppercase(), v))
        .collect();
    assert_eq!(got, want, "{}\n{}", page.body, app.error_log());
}

#[test]
fn mod_auth_cas_single_sign_out_ends_its_session_when_the_idp_session_ends() {
    let world = World::new();
    let app = mod_auth_cas_app(&world, true);
    let browser = world.browser();
    let (_, page) = apache_login(&world, &browser, &app, false);
    assert!(page.body.contains(&format!("REMOTE_USER={LOGIN}")));
    let url = format!("{}whoami", world.ports.apache_app());
    assert_eq!(browser.get_url(&url).status, 200);

    let out = browser.get("/logout");
    assert!(out.status < 400, "{out:?}");
    // The back channel is asynchronous: mod_auth_cas drops its session when the
    // logoutRequest arrives, so the next request goes back to the IdP.
    let start = std::time::Instant::now();
    loop {
        let page = browser.get_url(&url);
        if page.status == 302 {
            assert!(page
                .location()
                .unwrap()
                .starts_with(&format!("{}login", world.ports.cas_base())));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "mod_auth_cas still serves the page 10 s after logout: {page:?}\n{}",
            app.error_log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The PHP side: `/app/` (phpCAS client, CAS 3), `/proxy/` (phpCAS proxy: gets a PGT at
/// its HTTPS callback `/cb/`, then a proxy ticket for `/target/` and calls it), `/target/`
/// (phpCAS client accepting any proxy chain, validating at `/p3/proxyValidate`).
const ROUTER: &str = r#"<?php
error_reporting(E_ALL & ~E_DEPRECATED & ~E_USER_DEPRECATED);
require_once 'config.php';
require_once PHPCAS;
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$section = explode('/', trim($path, '/'))[0];
phpCAS::setDebug(__DIR__ . '/phpcas.log');
phpCAS::setVerbose(true);
header('Content-Type: application/json');
function attributes() {
    $out = array();
    foreach (phpCAS::getAttributes() as $k => $v) {
        $out[$k] = is_array($v) ? implode('|', $v) : $v;
    }
    return $out;
}
switch ($section) {
case 'app':
    phpCAS::client(CAS_VERSION_3_0, '127.0.0.1', IDP_TLS_PORT, '', PHP_BASE);
    phpCAS::setCasServerCACert(CA_FILE, true);
    phpCAS::forceAuthentication();
    echo json_encode(array('user' => phpCAS::getUser(), 'attributes' => attributes()));
    break;
case 'cb':
    if (empty($_GET['pgtIou'])) {
        echo '{"callback":"ready"}';
        break;
    }
    // Callback mode: phpCAS stores the PGT under its PGTIOU and stops.
    phpCAS::proxy(CAS_VERSION_3_0, '127.0.0.1', IDP_TLS_PORT, '', PHP_TLS_BASE);
    phpCAS::setCasServerCACert(CA_FILE, true);
    phpCAS::forceAuthentication(); // answers the callback and stops
    break;
case 'proxy':
    phpCAS::proxy(CAS_VERSION_3_0, '127.0.0.1', IDP_TLS_PORT, '', PHP_BASE);
    phpCAS::setCasServerCACert(CA_FILE, true);
    phpCAS::setFixedCallbackURL(PHP_TLS_BASE . '/cb/');
    phpCAS::forceAuthentication();
    $err = 0;
    $output = '';
    $ok = phpCAS::serviceWeb(PHP_BASE . '/target/', $err, $output);
    echo json_encode(array(
        'user' => phpCAS::getUser(),
        'attributes' => attributes(),
        'proxied' => array('ok' => $ok, 'err_code' => $err, 'output' => $output),
    ));
    break;
case 'target':
    phpCAS::client(CAS_VERSION_3_0, '127.0.0.1', IDP_TLS_PORT, '', PHP_BASE);
    phpCAS::setCasServerCACert(CA_FILE, true);
    phpCAS::allowProxyChain(new CAS_ProxyChain_Any());
    phpCAS::setNoClearTicketsFromUrl();
    phpCAS::forceAuthentication();
    echo json_encode(array(
        'user' => phpCAS::getUser(),
        'attributes' => attributes(),
        'proxies' => phpCAS::getProxies(),
    ));
    break;
default:
    http_response_code(404);
    echo '{}';
}
"#;

fn php_server(world: &World) -> PhpServer {
    let config = format!(
        "<?php\ndefine('PHPCAS', '{PHPCAS}');\ndefine('IDP_TLS_PORT', {});\n\
         define('PHP_BASE', '{}');\ndefine('PHP_TLS_BASE', 'https://127.0.0.1:{}');\n\
         define('CA_FILE', '{}');\n",
        world.ports.idp_tls,
        world.ports.php(),
        world.ports.php_tls,
        world.ca.ca_cert.display()
    );
    PhpServer::start(world.ports.php, ROUTER, &[("config.php", &config)])
}

fn php_login(
    world: &World,
    browser: &Browser,
    php: &PhpServer,
    section: &str,
) -> serde_json::Value {
    let url = format!("{}/{section}/", world.ports.php());
    let first = browser.get_url(&url);
    assert_eq!(first.status, 302, "{first:?}\n{}", php.log());
    let login = first.location().unwrap().to_owned();
    assert!(
        login.starts_with(&format!(
            "{}login?service={}",
            world.ports.cas_base(),
            encode(&url)
        )),
        "{login}"
    );
    let back = login_for_service(world, browser, &login, &url);
    let page = follow_client(world, browser, back, &world.ports.php(), &|| {
        std::fs::read_to_string(php.path().join("phpcas.log")).unwrap_or_default()
    });
    assert_eq!(
        page.status,
        200,
        "phpCAS did not accept the ticket: {page:?}\nphp:\n{}\nphpCAS log:\n{}\nfront:\n{}",
        php.log(),
        std::fs::read_to_string(php.path().join("phpcas.log")).unwrap_or_default(),
        world.front_log()
    );
    serde_json::from_str(&page.body).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nphpCAS log:\n{}",
            page.body,
            std::fs::read_to_string(php.path().join("phpcas.log")).unwrap_or_default()
        )
    })
}

#[test]
fn php_cas_logs_in_with_cas3_and_gets_exactly_the_released_attributes() {
    let world = World::new();
    let php = php_server(&world);
    let browser = world.browser();
    let got = php_login(&world, &browser, &php, "app");
    assert_eq!(got["user"], LOGIN, "{got}");
    assert_eq!(string_map(&got["attributes"]), expected_attributes());
}

#[test]
fn php_cas_proxy_gets_a_pgt_at_its_https_callback_and_a_proxy_ticket_for_another_service() {
    let world = World::new();
    let php = php_server(&world);
    let browser = world.browser();
    let got = php_login(&world, &browser, &php, "proxy");
    assert_eq!(got["user"], LOGIN, "{got}");
    assert_eq!(string_map(&got["attributes"]), expected_attributes());
    let proxied = &got["proxied"];
    assert_eq!(
        proxied["ok"],
        true,
        "the proxy flow failed: {proxied}\nphpCAS log:\n{}\nfront:\n{}",
        std::fs::read_to_string(php.path().join("phpcas.log")).unwrap_or_default(),
        world.front_log()
    );
    // The target validated the proxy ticket at /p3/proxyValidate: same person, its own
    // released attributes, and the proxy chain naming the proxy's callback.
    let target: serde_json::Value = serde_json::from_str(proxied["output"].as_str().unwrap())
        .unwrap_or_else(|e| panic!("target answered {proxied} ({e})"));
    assert_eq!(target["user"], LOGIN, "{target}");
    assert_eq!(string_map(&target["attributes"]), expected_attributes());
    assert_eq!(
        target["proxies"],
        serde_json::json!([world.ports.php_callback()]),
        "{target}"
    );
}

const PYTHON_CLIENT: &str = r#"
import json, sys
try:
    import cas
except ImportError as e:
    print("python-cas is missing (pip install python-cas): %s" % e, file=sys.stderr)
    sys.exit(3)
version, server_url, service_url, ca_file, ticket = sys.argv[1:6]
client = cas.CASClient(version=version, service_url=service_url, server_url=server_url,
                       verify_ssl_certificate=ca_file)
user, attributes, pgtiou = client.verify_ticket(ticket)
print(json.dumps({"user": user, "attributes": attributes, "pgtiou": pgtiou}))
"#;

/// Runs python-cas's `verify_ticket` on `ticket` as a client of `version` (`1`, `2`, `3`
/// or `CAS_2_SAML_1_0`); returns its JSON.
fn python_cas(world: &World, version: &str, service: &str, ticket: &str) -> serde_json::Value {
    let python = procs::require("python3", "python3");
    let mut cmd = Command::new(python);
    // The SAML 1.1 client does not pass `verify=` to requests: the CA bundle for all.
    cmd.env("REQUESTS_CA_BUNDLE", &world.ca.ca_cert)
        .arg("-c")
        .arg(PYTHON_CLIENT)
        .arg(version)
        .arg(world.ports.cas_base())
        .arg(service)
        .arg(&world.ca.ca_cert)
        .arg(ticket);
    let (ok, out, err) = procs::run_with_timeout(cmd, Duration::from_secs(30));
    assert!(
        ok,
        "python-cas failed:\n{out}\n{err}\nfront:\n{}",
        world.front_log()
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
}

/// python-cas, CAS 3.
fn python_cas_verify(world: &World, service: &str, ticket: &str) -> serde_json::Value {
    python_cas(world, "3", service, ticket)
}

/// A service ticket for python-cas's service (a browser logging in at the IdP).
fn python_ticket(world: &World, browser: &Browser) -> (String, String) {
    let service = world.ports.python_service();
    let login = format!("/login?service={}", encode(&service));
    let back = if browser.logged_in() {
        let page = browser.get(&login);
        assert!([302, 303].contains(&page.status), "{page:?}");
        page.location().unwrap().to_owned()
    } else {
        login_for_service(world, browser, &login, &service)
    };
    (service, ticket_of(&back))
}

fn string_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[test]
fn python_cas_verifies_a_ticket_and_gets_exactly_the_released_attributes() {
    let world = World::new();
    let browser = world.browser();
    let (service, ticket) = python_ticket(&world, &browser);
    let got = python_cas_verify(&world, &service, &ticket);
    assert_eq!(got["user"], LOGIN, "{got}");
    assert_eq!(
        string_map(&got["attributes"]),
        expected_attributes(),
        "{got}"
    );
    // The ticket is single use: a second verification fails.
    let again = python_cas_verify(&world, &service, &ticket);
    assert!(again["user"].is_null(), "{again}");
}

#[test]
fn python_cas_as_a_cas_1_and_cas_2_client_gets_the_user_only() {
    let world = World::new();
    let browser = world.browser();
    // CAS 1 (/validate): "yes" and the login.
    let (service, ticket) = python_ticket(&world, &browser);
    let got = python_cas(&world, "1", &service, &ticket);
    assert_eq!(got["user"], LOGIN, "{got}");
    // CAS 2 (/serviceValidate): the user; attributes are CAS 3's.
    let (service, ticket) = python_ticket(&world, &browser);
    let got = python_cas(&world, "2", &service, &ticket);
    assert_eq!(got["user"], LOGIN, "{got}");
    assert!(got["attributes"].is_null(), "{got}");
}

#[test]
fn python_cas_saml_1_1_client_gets_the_user_and_exactly_the_released_attributes() {
    let world = World::new();
    let browser = world.browser();
    let (service, ticket) = python_ticket(&world, &browser);
    let got = python_cas(&world, "CAS_2_SAML_1_0", &service, &ticket);
    assert_eq!(got["user"], LOGIN, "{got}");
    assert_eq!(
        string_map(&got["attributes"]),
        expected_attributes(),
        "{got}"
    );
}

#[test]
fn service_tickets_use_only_the_characters_the_spec_and_mod_auth_cas_allow() {
    let world = World::new();
    let browser = world.browser();
    let service = world.ports.python_service();
    let login = format!("/login?service={}", encode(&service));
    let back = login_for_service(&world, &browser, &login, &service);
    assert_spec_ticket(&ticket_of(&back));
    // With the SSO session, more tickets without a password (40 of 192 random bits each:
    // any character outside the set would show).
    for _ in 0..40 {
        let page = browser.get(&login);
        assert!([302, 303].contains(&page.status), "{page:?}");
        assert_spec_ticket(&ticket_of(page.location().unwrap()));
    }
}

/// A one-shot HTTP listener: every request it receives (method, path, body) is sent on
/// the channel; it answers 200.
fn listener(port: u16) -> mpsc::Receiver<(String, String)> {
    let socket = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in socket.incoming() {
            let Ok(mut stream) = stream else { return };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.trim().eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length.min(1 << 20)];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if tx
                .send((
                    request_line.trim().to_owned(),
                    String::from_utf8_lossy(&body).into_owned(),
                ))
                .is_err()
            {
                return;
            }
        }
    });
    rx
}

fn percent_decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) =
                u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""), 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn back_channel_logout_posts_a_logout_request_with_the_ticket_to_the_service() {
    let world = World::new();
    let received = listener(world.ports.listener);
    let browser = world.browser();
    let service = world.ports.listener_service();
    let login = format!("/login?service={}", encode(&service));
    let back = login_for_service(&world, &browser, &login, &service);
    let ticket = ticket_of(&back);
    // The service validates its ticket (python-cas, a real client).
    let got = python_cas_verify(&world, &service, &ticket);
    assert_eq!(got["user"], LOGIN, "{got}");

    let out = browser.get("/logout");
    assert!(out.status < 400, "{out:?}");
    let (request_line, body) = received
        .recv_timeout(Duration::from_secs(10))
        .expect("no logoutRequest received within 10 s");
    assert!(request_line.starts_with("POST /slo/"), "{request_line}");
    let form: BTreeMap<String, String> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect();
    let xml = form
        .get("logoutRequest")
        .unwrap_or_else(|| panic!("no logoutRequest field: {body}"));
    assert!(
        xml.contains("samlp:LogoutRequest") || xml.contains("LogoutRequest"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<samlp:SessionIndex>{ticket}</samlp:SessionIndex>"
        )),
        "SessionIndex is not the ticket {ticket}: {xml}"
    );
    assert!(
        xml.contains("@NOT_USED@") || xml.contains("NameID"),
        "{xml}"
    );
    // Exactly one.
    assert!(received.recv_timeout(Duration::from_millis(500)).is_err());
}

/// The harness alone (no CAS server needed): the TLS front answers with the test CA, Apache
/// with mod_auth_cas starts (as root it drops to nobody) and redirects to the CAS login,
/// `php -S` serves phpCAS, python-cas imports.
#[test]
fn the_cas_client_harness_runs() {
    let world = World::new();
    // TLS front → IdP, its certificate verified against the test CA (Python's ssl).
    let python = procs::require("python3", "python3");
    let mut cmd = Command::new(&python);
    cmd.arg("-c")
        .arg(
            "import sys, ssl, urllib.request\n\
             try:\n    import cas\n\
             except ImportError:\n    sys.exit('python-cas is missing: pip install python-cas')\n\
             ctx = ssl.create_default_context(cafile=sys.argv[2])\n\
             r = urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10)\n\
             print(r.status)",
        )
        .arg(format!("{}healthz", world.ports.cas_base()))
        .arg(&world.ca.ca_cert);
    let (ok, out, err) = procs::run_with_timeout(cmd, Duration::from_secs(20));
    assert!(
        ok && out.trim() == "200",
        "{out}\n{err}\n{}",
        world.front_log()
    );

    let app = mod_auth_cas_app(&world, true);
    let browser = world.browser();
    let first = browser.get_url(&format!("{}whoami", world.ports.apache_app()));
    assert_eq!(first.status, 302, "{first:?}\n{}", app.error_log());
    assert!(first
        .location()
        .unwrap()
        .starts_with(&format!("{}login?service=", world.ports.cas_base())));

    let php = php_server(&world);
    let first = browser.get_url(&format!("{}/app/", world.ports.php()));
    assert_eq!(first.status, 302, "{first:?}\n{}", php.log());
    assert!(
        first
            .location()
            .unwrap()
            .starts_with(&format!("{}login?service=", world.ports.cas_base())),
        "{first:?}"
    );
    // Through the TLS front too (the pgtUrl callback's way in).
    let mut cmd = Command::new(&python);
    cmd.arg("-c")
        .arg(
            "import sys, ssl, urllib.request\n\
             ctx = ssl.create_default_context(cafile=sys.argv[2])\n\
             print(urllib.request.urlopen(sys.argv[1], context=ctx, timeout=10).read().decode())",
        )
        .arg(world.ports.php_callback())
        .arg(&world.ca.ca_cert);
    let (ok, out, err) = procs::run_with_timeout(cmd, Duration::from_secs(20));
    assert!(ok && out.contains("ready"), "{out}\n{err}\n{}", php.log());
}
