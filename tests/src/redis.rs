//! A throwaway `redis-server` for the tests of the Redis stores: on a free loopback port,
//! no persistence, in a temporary folder, stopped when dropped. It can be stopped and
//! started again on the same port (reconnection tests).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

use crate::procs::{free_port, require, Guard};

pub struct RedisServer {
    pub port: u16,
    program: PathBuf,
    dir: tempfile::TempDir,
    guard: Option<Guard>,
}

impl RedisServer {
    /// Starts one; panics naming the Debian package when `redis-server` is missing.
    pub fn start() -> Self {
        let program = require("redis-server", "redis-server");
        let mut server = Self {
            port: free_port(),
            program,
            dir: tempfile::tempdir().unwrap(),
            guard: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (its data goes with it: nothing is saved).
    pub fn stop(&mut self) {
        self.guard = None;
    }

    /// Starts it (again) on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        let mut cmd = Command::new(&self.program);
        cmd.current_dir(self.dir.path())
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", &self.dir.path().display().to_string()]);
        let log = self.dir.path().join("redis.log");
        let mut guard = Guard::spawn("redis-server", cmd, &log);
        guard.wait_port(self.port);
        self.guard = Some(guard);
    }

    /// A command through `redis-cli`, when a test needs to look at the raw keys.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("redis-cli: {e} (Debian package redis-tools)"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
