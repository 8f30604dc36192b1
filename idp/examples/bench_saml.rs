//! SAML SSO load driver (a benchmark, not a test): the SSO hop between services for a
//! person who already has a session. Starts the real IdP (`app::spawn`, the production path
//! with the in-memory stores) on the loopback with the demo trust domain compiled at run
//! time (GAR's entry: `want_assertions_signed`, assertion signed with RSA-SHA256, exclusive
//! c14n, two released attributes), logs one pupil in once per client thread (one SSO session
//! each), then per run:
//!
//! 1. full load: `GET /saml/sso?SAMLRequest=…` (HTTP-Redirect, unsigned AuthnRequest with a
//!    unique ID and a fresh IssueInstant, so the replay cache accepts each) with the session
//!    cookie → 200 with the auto-submitting `SAMLResponse` form; responses per second;
//! 2. half that rate, paced: the same requests, sent on a schedule, with the latency of
//!    each (p50/p99), measured from the scheduled send time (so a late answer also delays
//!    what follows: no coordinated omission) and from the actual send;
//! 3. the baseline, in the same run: `openssl speed -seconds 5 -multi 1 rsa2048` (the
//!    openssl CLI), its RSA-2048 sign/s on one core.
//!
//! Per-core ratio = (responses/s ÷ server workers) ÷ openssl's single-core sign/s. Three runs;
//! prints each and the median. Then a rough breakdown, in this process on one thread: a bare
//! RSA-2048/SHA-256 signature with the IdP's key (`openssl::sign::Signer`) and the XML
//! signature of an assertion-sized document (`federation_metadata::xmlsig::sign_enveloped`,
//! libxmlsec1, what the IdP calls). Usage (release build):
//!
//! ```sh
//! cargo run --release -p idp --example bench_saml -- [requests per run, default 8000] [client threads, default 2] [server workers, default 2] [paced seconds, default 8]
//! ```
//!
//! The load comes from a minimal HTTP/1.1 keep-alive client (one connection per thread);
//! the AuthnRequests of a phase are encoded before it starts, so that the driver takes as
//! little as possible of the CPU it shares with the server. No application log (as with
//! `RUST_LOG=off`); the audit trail is written to its JSON-lines file as in production.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use idp::protocols::cas::url::encode;
use openssl::pkey::{PKey, Private};

#[path = "bench_common/mod.rs"]
mod common;

use common::{pick, Answer, Conn, MAX_PHASE};

/// GAR's entity in the demo trust domain (assertions signed, RSA-SHA256).
const SP: &str = "https://sp-auth.partenaire.gar.education.fr/demo";
const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

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
    paced_target: f64,
    paced_per_s: f64,
    p50: Duration,
    p99: Duration,
    p99_service: Duration,
}

/// Phase 1: as fast as the connections go. Returns responses per second.
fn full_load(addr: SocketAddr, cookies: &[String], count: usize) -> anyhow::Result<f64> {
    let each = count / cookies.len();
    let work: Vec<Vec<String>> = cookies
        .iter()
        .map(|_| paths(each))
        .collect::<anyhow::Result<_>>()?;
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
    Ok(done as f64 / started.elapsed().as_secs_f64())
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
    let per_s = full_load(addr, cookies, count)?;
    let target = per_s / 2.0;
    let (paced_per_s, lat, service) = paced(addr, cookies, target, paced_secs)?;
    Ok(Run {
        per_s,
        paced_target: target,
        paced_per_s,
        p50: pick(&lat, 0.50),
        p99: pick(&lat, 0.99),
        p99_service: pick(&service, 0.99),
    })
}

/// `openssl speed -seconds 5 -multi 1 rsa2048`: RSA-2048 sign/s on one core.
fn openssl_speed() -> anyhow::Result<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "5", "-multi", "1", "rsa2048"])
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

/// An assertion-sized document with a signature template, as the IdP signs.
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

/// Mean time of `f` over about one second (after a few calls of warm-up).
fn time_it(mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<(Duration, usize)> {
    for _ in 0..20 {
        f()?;
    }
    let t0 = Instant::now();
    let mut n = 0;
    while t0.elapsed() < Duration::from_secs(1) {
        f()?;
        n += 1;
    }
    Ok((t0.elapsed() / n as u32, n))
}

fn breakdown(key: &PKey<Private>, cert_der: &[u8]) -> anyhow::Result<()> {
    let (rsa, _) = time_it(|| {
        let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key)?;
        s.update(b"a SignedInfo of a few hundred bytes, canonicalized")?;
        s.sign_to_vec()?;
        Ok(())
    })?;
    let doc = assertion_template(cert_der);
    let (xml, _) = time_it(|| {
        let signed = federation_metadata::xmlsig::sign_enveloped(&doc, key)?;
        if !signed.contains("<ds:SignatureValue>") && !signed.contains("SignatureValue>") {
            bail!("not signed");
        }
        Ok(())
    })?;
    let (der, _) = time_it(|| {
        key.private_key_to_der()?;
        Ok(())
    })?;
    let der_bytes = key.private_key_to_der()?;
    // What libxmlsec1 does per call besides the signature: a key decoded from DER, then a
    // first signature with it (its Montgomery and blinding set-up are per key object).
    let (fresh, _) = time_it(|| {
        let k = PKey::private_key_from_der(&der_bytes)?;
        let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &k)?;
        s.update(b"a SignedInfo of a few hundred bytes, canonicalized")?;
        s.sign_to_vec()?;
        Ok(())
    })?;
    println!(
        "breakdown (this process, one thread): bare RSA-2048/SHA-256 sign with the loaded key {:.3} ms; \
the same with the key decoded from DER first {:.3} ms; \
xmlsig::sign_enveloped of a {}-byte assertion {:.3} ms (of which private_key_to_der {:.3} ms)",
        rsa.as_secs_f64() * 1e3,
        fresh.as_secs_f64() * 1e3,
        doc.len(),
        xml.as_secs_f64() * 1e3,
        der.as_secs_f64() * 1e3,
    );
    // Two threads at once (as the server's blocking pool does): signatures per second in all.
    let both = |f: fn(&PKey<Private>, &str) -> anyhow::Result<()>| -> anyhow::Result<f64> {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (k, d) = (key.clone(), doc.clone());
                std::thread::spawn(move || time_it(|| f(&k, &d)))
            })
            .collect();
        let mut per_s = 0.0;
        for h in handles {
            let (t, _) = h.join().map_err(|_| anyhow!("thread panicked"))??;
            per_s += 1.0 / t.as_secs_f64();
        }
        Ok(per_s)
    };
    let bare2 = both(|k, _| {
        let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), k)?;
        s.update(b"a SignedInfo of a few hundred bytes, canonicalized")?;
        s.sign_to_vec()?;
        Ok(())
    })?;
    let xml2 = both(|k, d| {
        federation_metadata::xmlsig::sign_enveloped(d, k)?;
        Ok(())
    })?;
    println!(
        "two threads at once: bare RSA sign {bare2:.0}/s in all; xmlsig::sign_enveloped {xml2:.0}/s in all"
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .context(
            "arguments: [requests per run] [client threads] [server workers] [paced seconds]",
        )?;
    let per_run = args.first().copied().unwrap_or(8_000);
    let threads = args.get(1).copied().unwrap_or(2).max(1);
    let workers = args.get(2).copied().unwrap_or(2).max(1);
    let paced_secs = args.get(3).copied().unwrap_or(8).max(1) as f64;

    let tmp = tempfile::tempdir()?;
    let mut settings = common::settings(tmp.path(), workers);
    idp::cli::demo::prepare_federation(&mut settings)?;
    let key = PKey::private_key_from_pem(&std::fs::read(&settings.saml.signing_key)?)?;
    let cert_der =
        openssl::x509::X509::from_pem(&std::fs::read(&settings.saml.signing_cert)?)?.to_der()?;
    let (server, addr, cookies) = common::start(&settings, threads)?;

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
{threads} client threads, {workers} server workers, {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut runs = Vec::new();
    for i in 1..=3 {
        let r = run(addr, &cookies, per_run, paced_secs)?;
        let sign = openssl_speed()?;
        let ratio = r.per_s / workers as f64 / sign;
        println!(
            "run {i}: {:.0} responses/s; openssl rsa2048 {:.1} sign/s (1 core); per-core ratio {:.3}; \
paced at {:.0}/s (achieved {:.0}/s): p50 {:.3} ms, p99 {:.3} ms (p99 from actual send {:.3} ms)",
            r.per_s,
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
    let mut ratios: Vec<f64> = runs.iter().map(|r| r.0).collect();
    ratios.sort_by(f64::total_cmp);
    let mut signs: Vec<f64> = runs.iter().map(|r| r.1).collect();
    signs.sort_by(f64::total_cmp);
    let mut rates: Vec<f64> = runs.iter().map(|r| r.2.per_s).collect();
    rates.sort_by(f64::total_cmp);
    let mut p99s: Vec<Duration> = runs.iter().map(|r| r.2.p99).collect();
    p99s.sort();
    let mut p50s: Vec<Duration> = runs.iter().map(|r| r.2.p50).collect();
    p50s.sort();
    println!(
        "medians: {:.0} responses/s, openssl {:.1} sign/s, per-core ratio {:.3} (target ≥ 0.85: {}), \
paced p50 {:.3} ms, p99 {:.3} ms (target < 10 ms: {})",
        rates[1],
        signs[1],
        ratios[1],
        if ratios[1] >= 0.85 { "met" } else { "NOT met" },
        p50s[1].as_secs_f64() * 1e3,
        p99s[1].as_secs_f64() * 1e3,
        if p99s[1] < Duration::from_millis(10) {
            "met"
        } else {
            "NOT met"
        },
    );
    server.stop();
    breakdown(&key, &cert_der)?;
    Ok(())
}
