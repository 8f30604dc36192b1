//! SAML SSO load driver (a benchmark, not a test): the SSO hop between services for a
//! person who already has a session, measured per core. The example re-executes itself
//! (`--server`) under `taskset -c 0`: that process is the real IdP (`app::spawn`, the
//! production path with the in-memory stores, ONE actix worker, every thread of it on core
//! 0) on the loopback, with the demo trust domain compiled at run time (GAR's entry:
//! `want_assertions_signed`, assertion signed with RSA-SHA256, exclusive c14n, two released
//! attributes). The driver pins itself to core 1 (`taskset -a -cp 1`), logs one pupil in
//! once per client thread (one SSO session each), then per run:
//!
//! 1. full load: `GET /saml/sso?SAMLRequest=…` (HTTP-Redirect, unsigned AuthnRequest with a
//!    unique ID and a fresh IssueInstant, so the replay cache accepts each) with the session
//!    cookie → 200 with the auto-submitting `SAMLResponse` form; responses per second of the
//!    one-core server; also the server's CPU time over the phase (`/proc/<pid>/stat`):
//!    below 100% the server lost its core to another process (or the driver did not keep it
//!    busy), so the run was disturbed;
//! 2. half that rate, paced: the same requests, sent on a schedule, with the latency of
//!    each (p50/p99), measured from the scheduled send time (so a late answer also delays
//!    what follows: no coordinated omission) and from the actual send;
//! 3. the baseline, in the same run, on the server's core: `taskset -c 0 openssl speed
//!    -seconds 5 -multi 1 rsa2048`, its RSA-2048 sign/s.
//!
//! Per-core ratio = responses/s ÷ openssl's sign/s, both on core 0. Three runs; prints each
//! and the medians. Then, on the same server process and core, the HTTP floor (`GET
//! /healthz`) and the ceiling: a bare actix-web server answering the same requests with
//! one RSA signature and a page of the same size, nothing else. Then a breakdown on the driver's core, one thread: a bare RSA-2048
//! signature (`openssl::sign::Signer`, key loaded once), the IdP's signature of an assertion
//! (`protocols::saml::signature`), a whole signed `build_response`, and, for comparison,
//! libxmlsec1 (`federation_metadata::xmlsig::sign_enveloped`, the former path). Usage
//! (release build, needs 2 cores and `taskset`):
//!
//! ```sh
//! cargo run --release -p idp --example bench_saml -- [requests per run, default 6000] [client threads, default 4] [paced seconds, default 8]
//! ```
//!
//! The load comes from a minimal HTTP/1.1 keep-alive client (one connection per thread;
//! four threads, so that a client thread kept off core 1 for a moment does not leave the
//! server idle);
//! the AuthnRequests of a phase are encoded before it starts. No application log (as with
//! `RUST_LOG=off`); the audit trail is written to its JSON-lines file as in production.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use idp::protocols::cas::url::encode;
use idp::protocols::saml::{response, signature};

#[path = "bench_common/mod.rs"]
mod common;

use common::{pick, Answer, Conn, MAX_PHASE};

/// The allocator of the `idp` binary (`src/main.rs`), so that the server measured here is
/// the production one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// GAR's entity in the demo trust domain (assertions signed, RSA-SHA256).
const SP: &str = "https://sp-auth.partenaire.gar.education.fr/demo";
const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// The server process, and the kernel's clock ticks per second (for its CPU time).
static SERVER: OnceLock<(u32, f64)> = OnceLock::new();

/// CPU time used so far by the server process, all its threads (`/proc/<pid>/stat`).
fn server_cpu() -> Option<Duration> {
    let (pid, hz) = SERVER.get()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: utime and stime are the
    // 14th and 15th of the line.
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_secs_f64(ticks as f64 / hz))
}

/// The path of one HTTP-Redirect SSO request: a fresh, unsigned AuthnRequest (unique ID,
/// IssueInstant now), raw DEFLATE, base64, percent-encoded.
fn sso_path() -> anyhow::Result<String> {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)?
        .format(&time::format_description::well_known::Rfc3339)?;
    let xml = format!(
        "<samlp:AuthnRequest xmlns:samlp=\"{PROTOCOL_NS}\" xmlns:saml=\"{ASSERTION_NS}\" \
ID=\"_bench{pid}x{n}\" Version=\"2.0\" IssueInstant=\"{now}\" \
ProtocolBinding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\">\
<saml:Issuer>{SP}</saml:Issuer>\
<samlp:NameIDPolicy Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:transient\" AllowCreate=\"true\"/>\
</samlp:AuthnRequest>",
        pid = std::process::id()
    );
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(xml.as_bytes())?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(z.finish()?);
    Ok(format!(
        "/saml/sso?SAMLRequest={}&RelayState=bench",
        encode(&b64)
    ))
}

fn paths(count: usize) -> anyhow::Result<Vec<String>> {
    (0..count).map(|_| sso_path()).collect()
}

impl Answer {
    /// 200 with the auto-submitting SAMLResponse form.
    fn check(&self) -> anyhow::Result<()> {
        if self.status != 200 || !self.body.contains("name=\"SAMLResponse\" value=\"") {
            bail!("no SAMLResponse form: {} {}", self.status, self.body);
        }
        Ok(())
    }

    /// The decoded `samlp:Response`.
    fn response_xml(&self) -> anyhow::Result<String> {
        let marker = "name=\"SAMLResponse\" value=\"";
        let start = self.body.find(marker).ok_or(anyhow!("no form"))? + marker.len();
        let end = start + self.body[start..].find('"').ok_or(anyhow!("no end"))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&self.body[start..end])?;
        Ok(String::from_utf8(bytes)?)
    }
}

struct Run {
    per_s: f64,
    busy: f64,
    paced_target: f64,
    paced_per_s: f64,
    p50: Duration,
    p99: Duration,
    p99_service: Duration,
}

/// Phase 1: as fast as the connections go. Returns responses per second, and the share of
/// the phase during which the server's core was busy with the server.
fn full_load(addr: SocketAddr, cookies: &[String], count: usize) -> anyhow::Result<(f64, f64)> {
    full_load_at(addr, "/saml/sso", cookies, count)
}

/// [`full_load`] with the same requests sent to `path` instead of `/saml/sso`.
fn full_load_at(
    addr: SocketAddr,
    path: &str,
    cookies: &[String],
    count: usize,
) -> anyhow::Result<(f64, f64)> {
    let each = count / cookies.len();
    let work: Vec<Vec<String>> = cookies
        .iter()
        .map(|_| {
            let p = paths(each)?;
            Ok(p.into_iter()
                .map(|q| q.replacen("/saml/sso", path, 1))
                .collect())
        })
        .collect::<anyhow::Result<_>>()?;
    let cpu0 = server_cpu();
    let started = Instant::now();
    let handles: Vec<_> = cookies
        .iter()
        .zip(work)
        .map(|(cookie, mine)| {
            let cookie = cookie.clone();
            std::thread::spawn(move || -> anyhow::Result<usize> {
                let mut c = Conn::open(addr, cookie)?;
                let t0 = Instant::now();
                let mut done = 0;
                for p in mine {
                    if t0.elapsed() > MAX_PHASE {
                        break;
                    }
                    c.get(&p)?.check()?;
                    done += 1;
                }
                Ok(done)
            })
        })
        .collect();
    let mut done = 0;
    for h in handles {
        done += h.join().map_err(|_| anyhow!("thread panicked"))??;
    }
    let wall = started.elapsed();
    let busy = match (cpu0, server_cpu()) {
        (Some(a), Some(b)) => (b - a).as_secs_f64() / wall.as_secs_f64(),
        _ => f64::NAN,
    };
    Ok((done as f64 / wall.as_secs_f64(), busy))
}

/// Phase 2: `rate` requests per second in all, for `secs`, each thread on its own schedule.
/// Returns (achieved rate, latencies from the scheduled time, from the actual send).
fn paced(
    addr: SocketAddr,
    cookies: &[String],
    rate: f64,
    secs: f64,
) -> anyhow::Result<(f64, Vec<Duration>, Vec<Duration>)> {
    let threads = cookies.len();
    let each = ((rate * secs) as usize / threads).max(1);
    let interval = Duration::from_secs_f64(threads as f64 / rate);
    let work: Vec<Vec<String>> = cookies
        .iter()
        .map(|_| paths(each))
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let handles: Vec<_> = cookies
        .iter()
        .zip(work)
        .enumerate()
        .map(|(i, (cookie, mine))| {
            let cookie = cookie.clone();
            // Threads offset from each other by a fraction of the interval.
            let offset = interval.mul_f64(i as f64 / threads as f64);
            std::thread::spawn(move || -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
                let mut c = Conn::open(addr, cookie)?;
                let t0 = Instant::now() + offset;
                let mut lat = Vec::with_capacity(mine.len());
                let mut service = Vec::with_capacity(mine.len());
                for (k, p) in mine.iter().enumerate() {
                    let scheduled = t0 + interval * k as u32;
                    let now = Instant::now();
                    if scheduled > now {
                        std::thread::sleep(scheduled - now);
                    }
                    if t0.elapsed() > MAX_PHASE {
                        break;
                    }
                    let sent = Instant::now();
                    c.get(p)?.check()?;
                    let end = Instant::now();
                    lat.push(end - scheduled);
                    service.push(end - sent);
                }
                Ok((lat, service))
            })
        })
        .collect();
    let (mut lat, mut service) = (Vec::new(), Vec::new());
    for h in handles {
        let (l, s) = h.join().map_err(|_| anyhow!("thread panicked"))??;
        lat.extend(l);
        service.extend(s);
    }
    let per_s = lat.len() as f64 / started.elapsed().as_secs_f64();
    if lat.is_empty() {
        bail!("nothing answered");
    }
    lat.sort();
    service.sort();
    Ok((per_s, lat, service))
}

fn run(addr: SocketAddr, cookies: &[String], count: usize, paced_secs: f64) -> anyhow::Result<Run> {
    let (per_s, busy) = full_load(addr, cookies, count)?;
    let target = per_s / 2.0;
    let (paced_per_s, lat, service) = paced(addr, cookies, target, paced_secs)?;
    Ok(Run {
        per_s,
        busy,
        paced_target: target,
        paced_per_s,
        p50: pick(&lat, 0.50),
        p99: pick(&lat, 0.99),
        p99_service: pick(&service, 0.99),
    })
}

/// `taskset -c 0 openssl speed -seconds 5 -multi 1 rsa2048`: RSA-2048 sign/s on the
/// server's core.
fn openssl_speed() -> anyhow::Result<f64> {
    let out = Command::new("taskset")
        .args([
            "-c",
            SERVER_CORE,
            "openssl",
            "speed",
            "-seconds",
            "5",
            "-multi",
            "1",
        ])
        .arg("rsa2048")
        .output()
        .context("running openssl speed")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 2048 bits 0.000650s 0.000019s   1538.5  52631.6": sign/s is the 5th number.
    let line = text
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("rsa 2048 bits") || l.starts_with("rsa  2048 bits"))
        .ok_or_else(|| anyhow!("no rsa 2048 line in: {text}"))?;
    let nums: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse::<f64>().ok())
        .collect();
    // [2048, sign/s, verify/s] (the times end in "s" and do not parse).
    match nums.as_slice() {
        [2048.0, sign, _verify] => Ok(*sign),
        _ => bail!("unexpected openssl speed line: {line:?}"),
    }
}

/// The server's core and the driver's.
const SERVER_CORE: &str = "0";
const DRIVER_CORE: &str = "1";

/// An assertion-sized document with a signature template, as libxmlsec1 signed it.
fn assertion_template(cert_der: &[u8]) -> String {
    let id = "_a3f0c2d9e8b7a6f5e4d3c2b1a0f9e8d7c6";
    let tpl = federation_metadata::xmlsig::signature_template(id, Some(cert_der));
    let t = "2026-11-27T04:00:00Z";
    format!(
        "<saml:Assertion xmlns:saml=\"{ASSERTION_NS}\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{t}\">\
<saml:Issuer>http://127.0.0.1:8080/saml/metadata</saml:Issuer>{tpl}\
<saml:Subject><saml:NameID Format=\"urn:oasis:names:tc:SAML:2.0:nameid-format:transient\" SPNameQualifier=\"{SP}\">_9b1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d</saml:NameID>\
<saml:SubjectConfirmation Method=\"urn:oasis:names:tc:SAML:2.0:cm:bearer\"><saml:SubjectConfirmationData NotOnOrAfter=\"{t}\" Recipient=\"{SP}/SAML2/POST\" InResponseTo=\"_bench1x1\"/></saml:SubjectConfirmation></saml:Subject>\
<saml:Conditions NotBefore=\"{t}\" NotOnOrAfter=\"{t}\"><saml:AudienceRestriction><saml:Audience>{SP}</saml:Audience></saml:AudienceRestriction></saml:Conditions>\
<saml:AuthnStatement AuthnInstant=\"{t}\" SessionIndex=\"_5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b\"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>\
<saml:AttributeStatement><saml:Attribute Name=\"idEnt\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:basic\"><saml:AttributeValue>ENT-DEMO</saml:AttributeValue></saml:Attribute>\
<saml:Attribute Name=\"GARPersonIdentifiant\" NameFormat=\"urn:oasis:names:tc:SAML:2.0:attrname-format:basic\"><saml:AttributeValue>gar-5101</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>\
</saml:Assertion>"
    )
}

/// What the IdP signs for GAR: the same assertion, as `build_response` gets it.
fn assertion_data() -> response::AssertionData {
    let now = time::OffsetDateTime::now_utc();
    let released = |name: &str, value: &str| {
        (
            idp::release::Released {
                name: name.into(),
                values: vec![value.into()],
            },
            "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
        )
    };
    response::AssertionData {
        issuer: "http://127.0.0.1:8080/saml/metadata".into(),
        audience: SP.into(),
        recipient: format!("{SP}/SAML2/POST"),
        in_response_to: Some("_bench1x1".into()),
        name_id: "_9b1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d".into(),
        name_id_format: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
        session_index: "_5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b".into(),
        authn_instant: now,
        session_not_on_or_after: Some(now + time::Duration::hours(10)),
        now,
        lifetime: time::Duration::seconds(300),
        attributes: vec![
            released("idEnt", "ENT-DEMO"),
            released("GARPersonIdentifiant", "gar-5101"),
        ],
    }
}

/// Mean time of `f` over about one second (after a few calls of warm-up).
fn time_it(mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    for _ in 0..20 {
        f()?;
    }
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < Duration::from_secs(1) {
        f()?;
        n += 1;
    }
    Ok(t0.elapsed() / n as u32)
}

/// Per-call costs on the driver's core (the server is stopped by then).
fn breakdown() -> anyhow::Result<()> {
    let (key, cert) = federation_metadata::keys::generate_self_signed("bench", 1)?;
    let cert_der = cert.to_der()?;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let bare = time_it(|| {
        let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)?;
        s.update(b"a SignedInfo of a few hundred bytes, canonicalized")?;
        s.sign_to_vec()?;
        Ok(())
    })?;
    let data = assertion_data();
    let signing_key = std::sync::Arc::new(signature::SigningKey::new(key.clone(), &cert_der));
    let signing = response::Signing {
        key: signing_key.clone(),
        algorithm: federation_metadata::xmlsig::RSA_SHA256,
        sign_assertion: true,
        sign_response: false,
        encrypt_for: None,
    };
    let build = || {
        response::build_response(
            "http://127.0.0.1:8080/saml/metadata",
            &data.recipient,
            data.in_response_to.as_deref(),
            data.now,
            None,
            Some(&data),
            &signing,
        )
    };
    let sample = build()?;
    let whole = time_it(|| {
        build()?;
        Ok(())
    })?;
    let sig_key = signature::Key {
        key: &signing_key,
        algorithm: federation_metadata::xmlsig::RSA_SHA256,
    };
    let head = "<saml:Assertion>".repeat(20);
    let tail = "<saml:Subject></saml:Subject>".repeat(100);
    let fast = time_it(|| {
        signature::enveloped_signature("_id", &head, &tail, &sig_key)?;
        Ok(())
    })?;
    let doc = assertion_template(&cert_der);
    let xmlsec = time_it(|| {
        federation_metadata::xmlsig::sign_enveloped(&doc, &key)?;
        Ok(())
    })?;
    println!(
        "breakdown (driver's core, one thread): bare RSA-2048/SHA-256 signature {:.3} ms; \
signature::enveloped_signature (digest of {} bytes, SignedInfo, RSA) {:.3} ms; \
build_response with GAR's signed assertion ({} bytes) {:.3} ms; \
for comparison libxmlsec1 xmlsig::sign_enveloped of a {}-byte assertion {:.3} ms",
        ms(bare),
        head.len() + tail.len(),
        ms(fast),
        sample.len(),
        ms(whole),
        doc.len(),
        ms(xmlsec),
    );
    Ok(())
}

/// `--server <workers>`: the IdP, until the driver closes our stdin. Prints `ADDR <addr>`.
fn serve(workers: usize) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut settings = common::settings(tmp.path(), workers);
    idp::cli::demo::prepare_federation(&mut settings)?;
    let (server, addr) = common::start_server(&settings)?;
    let (bare, bare_addr) = bare_signature_server()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ADDR {addr} {bare_addr}")?;
    out.flush()?;
    drop(out);
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest)?;
    server.stop();
    drop(bare.stop(false));
    Ok(())
}

/// The same size of answer as the SSO hop's page (bytes).
const BARE_PAGE: usize = 6_902;

/// A server doing nothing but what every SSO response needs at the least: one RSA-2048
/// signature with the IdP's signer (`signature::SigningKey`, the digest of a 40-byte
/// element, SignedInfo, base64) and a 6.9 kB page, on the same HTTP stack (actix-web, one
/// worker, this process's core), for the same requests. Its rate is the ceiling of the
/// per-core ratio for any IdP on this stack, client and machine.
fn bare_signature_server() -> anyhow::Result<(actix_web::dev::ServerHandle, SocketAddr)> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?;
    let cert_der = b"not a certificate: only its base64 is copied into the signature".to_vec();
    let signer = std::sync::Arc::new(signature::SigningKey::new(key, &cert_der));
    // Shaped so that the driver's check of an SSO answer passes.
    let head = "<form><input type=\"hidden\" name=\"SAMLResponse\" value=\"";
    let page = std::sync::Arc::new(format!(
        "{head}{}\"></form>",
        "x".repeat(BARE_PAGE - head.len() - 9)
    ));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let (signer, page) = (signer.clone(), page.clone());
                App::new().default_service(web::to(move || {
                    let (signer, page) = (signer.clone(), page.clone());
                    async move {
                        let key = signature::Key {
                            key: &signer,
                            algorithm: federation_metadata::xmlsig::RSA_SHA256,
                        };
                        match signature::enveloped_signature("_b", "<e ID=\"_b\">", "</e>", &key) {
                            Ok(_) => HttpResponse::Ok()
                                .content_type("text/html; charset=utf-8")
                                .body(page.as_str().to_owned()),
                            Err(_) => HttpResponse::InternalServerError().finish(),
                        }
                    }
                }))
            })
            .workers(1)
            .disable_signals()
            .listen(listener);
            match server {
                Ok(server) => {
                    let running = server.run();
                    let _ = tx.send(Some(running.handle()));
                    let _ = running.await;
                }
                Err(_) => {
                    let _ = tx.send(None);
                }
            }
        });
    });
    let handle = rx
        .recv()?
        .ok_or_else(|| anyhow!("the bare signature server did not start"))?;
    Ok((handle, addr))
}

/// This example again, as the server, under `taskset -c 0`: the child and its address.
fn spawn_server() -> anyhow::Result<(Child, SocketAddr, SocketAddr)> {
    let mut child = Command::new("taskset")
        .args(["-c", SERVER_CORE])
        .arg(std::env::current_exe()?)
        .args(["--server", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the server process under taskset")?;
    let stdout = child.stdout.take().ok_or(anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addrs: Vec<SocketAddr> = line
        .strip_prefix("ADDR ")
        .ok_or_else(|| anyhow!("the server process said {line:?}"))?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [addr, bare] = addrs[..] else {
        bail!("the server process said {line:?}");
    };
    Ok((child, addr, bare))
}

/// Every thread of this process (and those it starts later) on the driver's core.
fn pin_self() -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-cp", DRIVER_CORE, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .context("running taskset")?;
    if !status.success() {
        bail!("taskset -a -cp {DRIVER_CORE} failed");
    }
    Ok(())
}

fn median<T: Copy>(mut v: Vec<T>, cmp: impl Fn(&T, &T) -> std::cmp::Ordering) -> T {
    v.sort_by(cmp);
    v[v.len() / 2]
}

fn main() -> anyhow::Result<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.first().map(String::as_str) == Some("--server") {
        let workers = raw.get(1).map(|w| w.parse()).transpose()?.unwrap_or(1);
        return serve(workers);
    }
    let args: Vec<usize> = raw
        .iter()
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .context("arguments: [requests per run] [client threads] [paced seconds]")?;
    let per_run = args.first().copied().unwrap_or(6_000);
    let threads = args.get(1).copied().unwrap_or(4).max(1);
    let paced_secs = args.get(2).copied().unwrap_or(8).max(1) as f64;
    if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
        bail!("needs two cores: one for the server, one for the driver");
    }
    pin_self()?;
    let (mut child, addr, bare) = spawn_server()?;
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0);
    SERVER.get_or_init(|| (child.id(), hz));
    let result = drive(addr, bare, child.id(), per_run, threads, paced_secs);
    // Closing its stdin stops the server.
    drop(child.stdin.take());
    child.wait()?;
    result?;
    breakdown()
}

fn drive(
    addr: SocketAddr,
    bare: SocketAddr,
    server_pid: u32,
    per_run: usize,
    threads: usize,
    paced_secs: f64,
) -> anyhow::Result<()> {
    let cookies = common::logins(addr, threads)?;
    // One request looked at closely: a signed assertion, GAR's attributes.
    let mut c = Conn::open(addr, cookies[0].clone())?;
    let first = c.get(&sso_path()?)?;
    first.check()?;
    let xml = first.response_xml()?;
    for needle in [
        "<saml:Assertion",
        "SignatureValue>",
        "rsa-sha256",
        "GARPersonIdentifiant",
        "gar-5101",
        "InResponseTo=\"_bench",
    ] {
        if !xml.contains(needle) {
            bail!("the response lacks {needle:?}: {xml}");
        }
    }
    println!(
        "one response checked: {} bytes of XML, assertion signed (RSA-SHA256), {} bytes of HTML",
        xml.len(),
        first.body.len()
    );
    drop(c);
    // Warm-up.
    full_load(addr, &cookies, 1_000.max(threads))?;
    println!(
        "SAML SSO benchmark: {per_run} requests per run at full load, then half that rate for {paced_secs} s; \
server (pid {server_pid}): 1 actix worker, all its threads on core {SERVER_CORE}; \
driver: {threads} client threads on core {DRIVER_CORE}"
    );
    let mut runs = Vec::new();
    for i in 1..=3 {
        let r = run(addr, &cookies, per_run, paced_secs)?;
        let sign = openssl_speed()?;
        let ratio = r.per_s / sign;
        println!(
            "run {i}: {:.0} responses/s on one core (server CPU {:.0}% of the phase, {:.0} per server CPU-second); openssl rsa2048 {:.1} sign/s (core {SERVER_CORE}); \
per-core ratio {:.3}; paced at {:.0}/s (achieved {:.0}/s): p50 {:.3} ms, p99 {:.3} ms \
(p99 from actual send {:.3} ms)",
            r.per_s,
            r.busy * 100.0,
            r.per_s / r.busy,
            sign,
            ratio,
            r.paced_target,
            r.paced_per_s,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.p99_service.as_secs_f64() * 1e3,
        );
        runs.push((ratio, sign, r));
    }
    let ratio = median(runs.iter().map(|r| r.0).collect(), f64::total_cmp);
    let sign = median(runs.iter().map(|r| r.1).collect(), f64::total_cmp);
    let rate = median(runs.iter().map(|r| r.2.per_s).collect(), f64::total_cmp);
    let p50 = median(runs.iter().map(|r| r.2.p50).collect(), Ord::cmp);
    let p99 = median(runs.iter().map(|r| r.2.p99).collect(), Ord::cmp);
    println!(
        "medians: {rate:.0} responses/s, openssl {sign:.1} sign/s, per-core ratio {ratio:.3} \
(target ≥ 0.85: {}), paced p50 {:.3} ms, p99 {:.3} ms (target < 10 ms: {})",
        if ratio >= 0.85 { "met" } else { "NOT met" },
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        if p99 < Duration::from_millis(10) {
            "met"
        } else {
            "NOT met"
        },
    );
    // The floor: the same server, core and connections answering `GET /healthz` (no
    // session, no SAML: the HTTP server and the loopback alone). With one RSA signature
    // per response on top, the ratio cannot exceed sign time / (sign time + floor time).
    let floors: Vec<f64> = (0..3)
        .map(|_| healthz_load(addr, &cookies, per_run * 4))
        .collect::<anyhow::Result<_>>()?;
    let floor = median(floors.clone(), f64::total_cmp);
    let ceiling = (1.0 / sign) / (1.0 / sign + 1.0 / floor);
    println!(
        "HTTP floor: GET /healthz {} requests/s (median {floor:.0}/s, {:.1} µs per request on the server's core); ceiling of the per-core ratio with one RSA signature per request: {ceiling:.3}",
        floors
            .iter()
            .map(|f| format!("{f:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
        1e6 / floor,
    );
    // The ceiling: one signature and the page, nothing else (same requests and cookies).
    let bares: Vec<(f64, f64)> = (0..3)
        .map(|_| -> anyhow::Result<(f64, f64)> {
            let (per_s, _) = full_load_at(bare, "/bare", &cookies, per_run)?;
            Ok((per_s, openssl_speed()?))
        })
        .collect::<anyhow::Result<_>>()?;
    let bare_ratio = median(bares.iter().map(|(r, s)| r / s).collect(), f64::total_cmp);
    println!(
        "ceiling: one RSA signature + a {BARE_PAGE}-byte page and nothing else, same stack: {} responses/s; ratios {} (median {bare_ratio:.3}); \
the SAML hop reaches {:.1}% of it",
        bares
            .iter()
            .map(|(r, _)| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / "),
        bares
            .iter()
            .map(|(r, s)| format!("{:.3}", r / s))
            .collect::<Vec<_>>()
            .join(" / "),
        100.0 * ratio / bare_ratio,
    );
    Ok(())
}

/// `GET /healthz` as fast as the connections go: requests per second.
fn healthz_load(addr: SocketAddr, cookies: &[String], count: usize) -> anyhow::Result<f64> {
    let each = count / cookies.len();
    let started = Instant::now();
    let handles: Vec<_> = cookies
        .iter()
        .map(|cookie| {
            let cookie = cookie.clone();
            std::thread::spawn(move || -> anyhow::Result<usize> {
                let mut c = Conn::open(addr, cookie)?;
                for _ in 0..each {
                    let a = c.get("/healthz")?;
                    if a.status != 200 {
                        bail!("/healthz answered {}", a.status);
                    }
                }
                Ok(each)
            })
        })
        .collect();
    let mut done = 0;
    for h in handles {
        done += h.join().map_err(|_| anyhow!("thread panicked"))??;
    }
    Ok(done as f64 / started.elapsed().as_secs_f64())
}
