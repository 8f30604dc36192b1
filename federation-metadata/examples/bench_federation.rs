//! Benchmark (not a test): compile and sign a synthetic federation.
//!
//! ```sh
//! cargo run --release -p federation-metadata --example bench_federation -- /tmp/fedbench 10000
//! ```
//!
//! Writes a trust domain of N services (nine in ten SAML, one in ten CAS) under
//! `DIR/domain`, a federation key pair under `DIR/keys`, then compiles it three times into
//! `DIR/out` (load + validate + aggregate + XML signature + signed registries + annex) and
//! prints each time and the median, then the time `verify_file` takes on the aggregate and
//! on `registry.json`. The IdP side is measured by `idp/examples/bench_registry_load.rs` on
//! `DIR/out/registry.json`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Instant;

use federation_metadata::compile::compile_domain;
use federation_metadata::keys::{generate_self_signed, write_pair};
use federation_metadata::synthetic::{write_domain, SyntheticDomain};
use federation_metadata::verify::verify_file;
use time::OffsetDateTime;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/fedbench".into()));
    let n: usize = args.next().map_or(10_000, |s| s.parse().unwrap());
    let (cas, saml) = (n / 10, n - n / 10);
    let _ = std::fs::remove_dir_all(&dir);
    let (key, cert) = generate_self_signed("Benchmark federation", 30).unwrap();
    let (_, sp) = generate_self_signed("sp.example", 365).unwrap();
    let (key_path, cert_path) = (dir.join("keys/fed.key"), dir.join("keys/fed.crt"));
    write_pair(&key, &cert, &key_path, &cert_path).unwrap();
    let domain = dir.join("domain");
    let t = Instant::now();
    write_domain(
        &domain,
        &SyntheticDomain {
            id: "bench",
            federation_cert_pem: &String::from_utf8(cert.to_pem().unwrap()).unwrap(),
            sp_cert_pem: &String::from_utf8(sp.to_pem().unwrap()).unwrap(),
            saml_services: saml,
            cas_services: cas,
            idp_base_url: "https://idp.example",
            start: "2026-09-01",
        },
    )
    .unwrap();
    println!(
        "generated {n} services ({saml} SAML, {cas} CAS) in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let out = dir.join("out");
    let mut compile = Vec::new();
    for run in 1..=3 {
        let t = Instant::now();
        let summary = compile_domain(&domain, &key_path, &out, OffsetDateTime::now_utc()).unwrap();
        let s = t.elapsed().as_secs_f64();
        println!(
            "compile+sign run {run}: {s:.3} s ({} entities in the aggregate)",
            summary.saml_entities.len()
        );
        if run == 3 {
            for (path, size) in &summary.files {
                println!("  {} {:.1} MB", path.display(), *size as f64 / 1e6);
            }
        }
        compile.push(s);
    }
    println!("compile+sign median: {:.3} s", median(compile));
    for file in ["metadata.xml", "registry.json"] {
        let mut times = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            verify_file(&out.join(file), &cert_path, OffsetDateTime::now_utc()).unwrap();
            times.push(t.elapsed().as_secs_f64());
        }
        println!("verify_file {file} median: {:.3} s", median(times));
    }
}
