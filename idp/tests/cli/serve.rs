//! `idp serve` for real: it answers on its port, imports the AAF deliveries dropped in its
//! incoming folder, and holds the embedded directory so that a second process is told why
//! it cannot open it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{idp, idp_command, ok, sample};

/// Kills the server when the test ends, even on failure.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn server_imports_from_its_drop_folder_and_holds_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let incoming = dir.join("aaf/incoming");
    let mut child = idp_command(dir, &["serve"])
        .env("IDP_SERVER__BIND", "127.0.0.1:0")
        .env("IDP_AAF__INCOMING_DIR", &incoming)
        .env("IDP_AAF__SCAN_INTERVAL_SECS", "1")
        .env("IDP_LOG__FORMAT", "json")
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // The server logs the address it bound.
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the server did not say where it listens");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["fields"]["message"] == "listening" {
            break v["fields"]["address"].as_str().unwrap().to_owned();
        }
    };
    assert!(http_get(&addr, "/healthz").starts_with("HTTP/1.0 200"));

    // A second process cannot open the directory and says why.
    let out = idp(dir, &["account", "show", "lea.dupont"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another process"), "{err}");

    // Drop the Complet in the incoming folder: the server imports it.
    for e in std::fs::read_dir(sample()).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.contains("_Complet_") {
            std::fs::copy(&p, incoming.join(&name)).unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the server did not import the dropped delivery");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        assert_ne!(v["level"], "ERROR", "server error: {line}");
        if v["fields"]["message"] == "AAF delivery imported from the drop folder" {
            break;
        }
    }
    assert_eq!(std::fs::read_dir(&incoming).unwrap().count(), 0);
    assert!(std::fs::read_dir(dir.join("reports")).unwrap().count() >= 1);

    drop(server);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(dir, &["account", "show", "lea.dupont"])).unwrap();
    assert_eq!(shown["state"], "Active");
}
