//! CAS load driver (a benchmark, not a test): starts the real IdP (`app::spawn`, the
//! production path with the in-memory ticket store) on the loopback with the demo trust
//! domain compiled at run time, logs one pupil in once per client thread (one SSO session
//! each), then measures, over HTTP with keep-alive:
//!
//! 1. issuing: `GET /login?service=<Pronote>` with the session cookie → 302 with an `ST-`;
//! 2. validating: `GET /p3/serviceValidate?service=…&ticket=…` of those tickets, with the
//!    latency of each request (p50/p99).
//!
//! Three runs; prints each and the median. Usage (release build):
//!
//! ```sh
//! cargo run --release -p idp --example bench_cas -- [tickets per run, default 60000] [client threads, default 2] [server workers, default 2]
//! ```
//!
//! The load is sent by a minimal HTTP/1.1 keep-alive client (one connection per thread, a
//! request written, the answer read by its `Content-Length`), so that the driver takes as
//! little as possible of the CPU it shares with the server; the session cookie comes from
//! a real login through the form. No application log is set up (as with `RUST_LOG=off`); the audit trail is written to its
//! JSON-lines file as in production. Tickets live 300 s here (10 s by default) so that the
//! tickets of the issuing phase are still valid in the validation phase.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use idp::protocols::cas::url::encode;

#[path = "bench_common/mod.rs"]
mod common;

use common::{pick, Conn, MAX_PHASE};

const SERVICE: &str = "https://0350001a.index-education.net/pronote/eleve.html";

fn issue(c: &mut Conn, path: &str) -> anyhow::Result<String> {
    let res = c.get(path)?;
    let loc = res
        .location
        .ok_or(anyhow!("no redirect: {} {}", res.status, res.body))?;
    let t = loc.split("ticket=").nth(1).ok_or(anyhow!("no ticket"))?;
    Ok(t.to_owned())
}

struct Run {
    issued_per_s: f64,
    validated_per_s: f64,
    p50: Duration,
    p99: Duration,
}

fn run(addr: SocketAddr, cookies: &[String], per_run: usize) -> anyhow::Result<Run> {
    let each = per_run / cookies.len();
    let issue_path = format!("/login?service={}", encode(SERVICE));
    // Phase 1: issue.
    let started = Instant::now();
    let handles: Vec<_> = cookies
        .iter()
        .map(|cookie| {
            let cookie = cookie.clone();
            let path = issue_path.clone();
            std::thread::spawn(move || -> anyhow::Result<Vec<String>> {
                let mut c = Conn::open(addr, cookie)?;
                let t0 = Instant::now();
                let mut out = Vec::with_capacity(each);
                while out.len() < each && t0.elapsed() < MAX_PHASE {
                    out.push(issue(&mut c, &path)?);
                }
                Ok(out)
            })
        })
        .collect();
    let mut tickets = Vec::new();
    for h in handles {
        tickets.push(h.join().map_err(|_| anyhow!("thread panicked"))??);
    }
    let issued: usize = tickets.iter().map(Vec::len).sum();
    let issued_per_s = issued as f64 / started.elapsed().as_secs_f64();
    // Phase 2: validate.
    let validate = format!("/p3/serviceValidate?service={}&ticket=", encode(SERVICE));
    let started = Instant::now();
    let handles: Vec<_> = cookies
        .iter()
        .zip(tickets)
        .map(|(cookie, mine)| {
            let cookie = cookie.clone();
            let prefix = validate.clone();
            std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                let mut c = Conn::open(addr, cookie)?;
                let t0 = Instant::now();
                let mut lat = Vec::with_capacity(mine.len());
                for t in mine {
                    if t0.elapsed() > MAX_PHASE {
                        break;
                    }
                    let path = format!("{prefix}{t}");
                    let s = Instant::now();
                    let res = c.get(&path)?;
                    lat.push(s.elapsed());
                    if res.status != 200
                        || !res.body.contains("<cas:user>camille.durand</cas:user>")
                    {
                        bail!("validation failed: {}", res.body);
                    }
                }
                Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().map_err(|_| anyhow!("thread panicked"))??);
    }
    let validated_per_s = lat.len() as f64 / started.elapsed().as_secs_f64();
    if lat.is_empty() {
        bail!("nothing validated");
    }
    lat.sort();
    Ok(Run {
        issued_per_s,
        validated_per_s,
        p50: pick(&lat, 0.50),
        p99: pick(&lat, 0.99),
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()
        .context("arguments: [tickets per run] [client threads] [server workers]")?;
    let per_run = args.first().copied().unwrap_or(60_000);
    let threads = args.get(1).copied().unwrap_or(2).max(1);
    let workers = args.get(2).copied().unwrap_or(2).max(1);

    let tmp = tempfile::tempdir()?;
    let mut settings = common::settings(tmp.path(), workers);
    settings.cas.service_ticket_lifetime_secs = 300;
    idp::cli::demo::prepare_federation(&mut settings)?;
    let (server, addr, cookies) = common::start(&settings, threads)?;
    // Warm-up.
    run(addr, &cookies, 2_000.max(threads))?;
    println!(
        "CAS benchmark: {per_run} tickets per run, {threads} client threads, {workers} server workers"
    );
    let mut runs = Vec::new();
    for i in 1..=3 {
        let r = run(addr, &cookies, per_run)?;
        println!(
            "run {i}: issued {:.0}/s, validated {:.0}/s, /p3/serviceValidate p50 {:.3} ms, p99 {:.3} ms",
            r.issued_per_s,
            r.validated_per_s,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3
        );
        runs.push(r);
    }
    runs.sort_by(|a, b| a.validated_per_s.total_cmp(&b.validated_per_s));
    let m = &runs[1];
    println!(
        "median run (by validations/s): issued {:.0}/s, validated {:.0}/s, p50 {:.3} ms, p99 {:.3} ms",
        m.issued_per_s,
        m.validated_per_s,
        m.p50.as_secs_f64() * 1e3,
        m.p99.as_secs_f64() * 1e3
    );
    server.stop();
    Ok(())
}
