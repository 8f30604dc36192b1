//! PHP's built-in web server (`php -S`, Debian `php-cli`) serving a folder of scripts on a
//! loopback port, with several workers (a CAS proxy's callback arrives while the request
//! that validates its ticket is still running), stopped when dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use crate::procs::{self, Guard};

/// Where Debian's `php-cas` installs phpCAS.
pub const PHPCAS: &str = "/usr/share/php/CAS.php";

pub struct PhpServer {
    pub port: u16,
    pub url: String,
    _guard: Guard,
    _dir: tempfile::TempDir,
}

impl PhpServer {
    /// Serves `router` (a PHP script every request goes through) on `port` from a new
    /// temporary folder holding `files` (name, content).
    pub fn start(port: u16, router: &str, files: &[(&str, &str)]) -> Self {
        let php = procs::require("php", "php-cli");
        procs::require_file(PHPCAS, "php-cas");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("router.php"), router).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let sessions = dir.path().join("sessions");
        std::fs::create_dir_all(&sessions).unwrap();
        let mut cmd = Command::new(php);
        cmd.current_dir(dir.path())
            .env("PHP_CLI_SERVER_WORKERS", "4")
            .arg("-d")
            .arg(format!("session.save_path={}", sessions.display()))
            .arg("-d")
            .arg("display_errors=stderr")
            .arg("-d")
            .arg("log_errors=0")
            .arg("-S")
            .arg(format!("127.0.0.1:{port}"))
            .arg("router.php");
        let mut guard = Guard::spawn("php -S", cmd, &dir.path().join("server.log"));
        guard.wait_port(port);
        Self {
            port,
            url: format!("http://127.0.0.1:{port}"),
            _guard: guard,
            _dir: dir,
        }
    }

    /// What the server wrote so far (requests, PHP errors).
    pub fn log(&self) -> String {
        self._guard.output()
    }

    /// The folder the scripts are in.
    pub fn path(&self) -> &Path {
        self._dir.path()
    }
}
