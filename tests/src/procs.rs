//! External programs the end-to-end tests drive (Apache, `php -S`, Python): free loopback
//! ports, a check that a tool is installed (naming its Debian package when it is not), and a
//! guard that stops the process — and its whole process group — when dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Ports handed out so far by this process.
static HANDED_OUT: AtomicU32 = AtomicU32::new(0);

/// A loopback port free right now, for a program that binds it a moment later.
///
/// Taken below the kernel's ephemeral range (32768 and up on Linux): a port from port 0 can
/// be given again at once to any client socket or `bind(":0")` of the parallel tests, which
/// made Apache fail with "Address already in use". Here each port is handed out once per
/// process, and nothing else picks ports in this range.
pub fn free_port() -> u16 {
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let n = HANDED_OUT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 31999");
}

/// The path of `program` (absolute, or looked up in `PATH`); panics naming the Debian
/// package that provides it when it is missing.
pub fn require(program: &str, package: &str) -> PathBuf {
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![PathBuf::from(program)]
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join(program)).collect())
            .unwrap_or_default()
    };
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{program} is missing: install the Debian package {package} \
                 (bash deploy/build-deps.sh --tests)"
            )
        })
}

/// Panics naming `package` when `path` (a file a package installs) is missing.
pub fn require_file(path: &str, package: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.exists(),
        "{path} is missing: install the package {package} (bash deploy/build-deps.sh --tests)"
    );
    p
}

/// Whether the tests run as root (Apache must then drop privileges to `nobody`).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::metadata(dir.path()).unwrap().uid() == 0
}

/// Waits up to `timeout` for something to accept connections on `port`.
pub fn wait_port(port: u16, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
            .is_ok()
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A running program, in its own process group, stopped (SIGTERM to the group, then SIGKILL
/// after 3 s) when dropped. Its stdout and stderr go to `log`.
pub struct Guard {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Guard {
    /// Starts `cmd` with its output in `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Self {
        let out = std::fs::File::create(log).unwrap();
        let err = out.try_clone().unwrap();
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        }
    }

    /// What the program wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics (with the program's output) unless it listens on `port` within 10 s.
    pub fn wait_port(&mut self, port: u16) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("{} exited ({status}):\n{}", self.name, self.output());
            }
            if wait_port(port, Duration::from_millis(100)) {
                return;
            }
        }
        panic!(
            "{} does not listen on {port} after 10 s:\n{}",
            self.name,
            self.output()
        );
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pid}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl Drop for Guard {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        signal_group(pid, "TERM");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if child.try_wait().ok().flatten().is_some() {
                // The leader is gone; finish off anything left in its group.
                signal_group(pid, "KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(pid, "KILL");
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Runs `cmd` to completion, killed after `timeout`; returns (success, stdout, stderr).
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > timeout {
            signal_group(child.id(), "KILL");
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let mut stderr = read(&err);
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {timeout:?})"));
    }
    (status.is_some_and(|s| s.success()), read(&out), stderr)
}
