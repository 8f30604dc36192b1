//! Benchmark (not a test): verify and load a signed registry the way the IdP does at start
//! (`Federation::start`: read, RSA-SHA256 check over the bytes, JSON parse, window check,
//! indexes), once, in a fresh process, and report the time and the peak memory it added.
//!
//! ```sh
//! cargo run --release -p idp --example bench_registry_load -- DIR/out/registry.json DIR/keys/fed.crt
//! ```
//!
//! Peak memory is `VmHWM` after the load minus `VmRSS` before it (from /proc/self/status),
//! so run it once per measurement: the high-water mark is per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use idp::audit::MemoryAudit;
use idp::federation::Federation;
use idp::ports::SystemClock;
use idp::settings::{FederationSettings, TrustDomainSettings};

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let registry = args.next().expect("registry.json path");
    let cert = PathBuf::from(args.next().expect("federation certificate path"));
    let size = std::fs::metadata(&registry).unwrap().len();
    let settings = FederationSettings {
        domains: vec![TrustDomainSettings {
            name: "bench".into(),
            registry,
            certificate: cert,
            reload_interval_secs: 60,
        }],
    };
    let audit = Arc::new(MemoryAudit::default());
    let before = status_kb("VmRSS:");
    let t = Instant::now();
    let federation = Federation::start(&settings, audit.clone(), Arc::new(SystemClock)).unwrap();
    let elapsed = t.elapsed().as_secs_f64();
    let peak = status_kb("VmHWM:").saturating_sub(before);
    let after = status_kb("VmRSS:").saturating_sub(before);
    let services: usize = federation
        .registries_at(time::OffsetDateTime::now_utc())
        .iter()
        .map(|r| r.services.len())
        .sum();
    assert!(services > 0, "not loaded: {:?}", audit.events());
    println!(
        "verify+load: {elapsed:.3} s, {services} services, registry.json {:.1} MB, \
         peak added {:.1} MB, resident after {:.1} MB",
        size as f64 / 1e6,
        peak as f64 / 1024.0,
        after as f64 / 1024.0
    );
}
