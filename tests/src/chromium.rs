//! A real browser for the end-to-end tests: headless Chromium (Debian `chromium`) driven
//! through `chromedriver` (Debian `chromium-driver`) with the W3C WebDriver protocol, spoken
//! here with ureq and serde_json. Unlike [`crate::Browser`] it runs JavaScript, applies
//! Content-Security-Policy, loads iframes and applies SameSite rules.
//!
//! One [`Chromium`] is one chromedriver on a free loopback port (stopped with its whole
//! process group when dropped, see [`crate::procs::Guard`]) with one browser session in a
//! fresh profile. Every wait polls a condition until a deadline: no fixed sleeps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::procs::{self, free_port, Guard};

/// The W3C WebDriver element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a wait for a condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// How the browser is started.
#[derive(Debug, Clone)]
pub struct ChromiumOptions {
    /// JavaScript allowed (false: the content setting that blocks every page's scripts).
    pub javascript: bool,
    /// `--host-resolver-rules` (e.g. `MAP localhost 127.0.0.1`), if any.
    pub host_resolver_rules: Option<String>,
}

impl Default for ChromiumOptions {
    fn default() -> Self {
        Self {
            javascript: true,
            host_resolver_rules: None,
        }
    }
}

/// An error answered by chromedriver (`{"value": {"error": ..., "message": ...}}`).
#[derive(Debug)]
pub struct WebDriverError {
    pub status: u16,
    pub error: String,
    pub message: String,
}

/// One browser console message (`goog:loggingPrefs` "browser" log).
#[derive(Debug, Clone)]
pub struct LogEntry {
    pub level: String,
    pub source: String,
    pub message: String,
}

/// chromedriver and one headless Chromium session.
pub struct Chromium {
    agent: ureq::Agent,
    base: String,
    session: Option<String>,
    /// Console messages read so far (chromedriver hands each out only once).
    logs: std::cell::RefCell<Vec<LogEntry>>,
    // Dropped in this order: the session is deleted first (in `Drop`), then chromedriver.
    driver: Option<Guard>,
    _profile: tempfile::TempDir,
    dir: tempfile::TempDir,
}

impl Chromium {
    /// Starts chromedriver and a headless Chromium session; panics naming the Debian
    /// package when either program is missing.
    pub fn start(options: &ChromiumOptions) -> Self {
        let chromium = procs::require("/usr/bin/chromium", "chromium");
        let chromedriver = procs::require("/usr/bin/chromedriver", "chromium-driver");
        let dir = tempfile::tempdir().unwrap();
        let profile = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(chromedriver);
        cmd.arg(format!("--port={port}")).arg(format!(
            "--log-path={}",
            dir.path().join("chromedriver.log").display()
        ));
        let mut driver = Guard::spawn("chromedriver", cmd, &dir.path().join("chromedriver.out"));
        driver.wait_port(port);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(90)))
            .build()
            .into();
        let mut me = Self {
            agent,
            base: format!("http://127.0.0.1:{port}"),
            session: None,
            logs: Default::default(),
            driver: Some(driver),
            _profile: profile,
            dir,
        };
        // Without the background-networking switches Chromium keeps calling Google's
        // services, which on a closed network is a flood of refused connections.
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--user-data-dir={}", me._profile.path().display()),
        ];
        if let Some(rules) = &options.host_resolver_rules {
            args.push(format!("--host-resolver-rules={rules}"));
        }
        let mut chrome_options = json!({
            "binary": chromium.display().to_string(),
            "args": args,
        });
        if !options.javascript {
            chrome_options["prefs"] =
                json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": chrome_options,
                "goog:loggingPrefs": { "browser": "ALL" },
                "timeouts": { "pageLoad": 30_000, "script": 10_000, "implicit": 0 },
            }}
        });
        let value = me.raw("POST", "/session", Some(caps)).unwrap_or_else(|e| {
            panic!(
                "chromedriver refused a new session: {e:?}\n{}",
                me.driver_log()
            )
        });
        me.session = Some(
            value["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("no sessionId in {value}"))
                .to_owned(),
        );
        me
    }

    /// chromedriver's own log (for assertion messages).
    pub fn driver_log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        let log = read("chromedriver.log");
        // The tail is what matters; the whole log can be megabytes.
        let tail = log
            .char_indices()
            .rev()
            .nth(20_000)
            .map_or(log.as_str(), |(i, _)| &log[i..]);
        format!("{}\n{tail}", read("chromedriver.out"))
    }

    /// One WebDriver command; `Err` with chromedriver's error when it answers one.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let url = format!("{}{path}", self.base);
        let res = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let mut res = res.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = res.status().as_u16();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        let value = value.get("value").cloned().unwrap_or(Value::Null);
        if status == 200 {
            Ok(value)
        } else {
            Err(WebDriverError {
                status,
                error: value["error"].as_str().unwrap_or_default().to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    /// A command of the session that must succeed.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let session = self.session.as_deref().expect("a session");
        self.raw(method, &format!("/session/{session}{path}"), body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e:?}"))
    }

    /// Opens `url` (returns once the page has loaded).
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// The address of the top-level page.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's DOM, serialised.
    pub fn source(&self) -> String {
        self.cmd("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The rendered text of the page's body (a `text/plain` page is one `<pre>`).
    pub fn text(&self) -> String {
        match self.find("body") {
            Some(body) => self.element_text(&body),
            None => String::new(),
        }
    }

    /// The first element matching the CSS selector `css`, if any now.
    pub fn find(&self, css: &str) -> Option<String> {
        let session = self.session.as_deref().expect("a session");
        let found = self.raw(
            "POST",
            &format!("/session/{session}/element"),
            Some(json!({ "using": "css selector", "value": css })),
        );
        match found {
            Ok(v) => v[ELEMENT].as_str().map(str::to_owned),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("find {css}: {e:?}"),
        }
    }

    /// Every element matching `css`, now.
    pub fn find_all(&self, css: &str) -> Vec<String> {
        self.cmd(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v[ELEMENT].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    }

    /// The element matching `css`, waited for (see [`Chromium::wait`]).
    pub fn wait_element(&self, css: &str) -> String {
        let mut found = None;
        self.wait(&format!("an element {css}"), || {
            found = self.find(css);
            found.is_some()
        });
        found.unwrap()
    }

    /// Types `text` into the element.
    pub fn send_keys(&self, element: &str, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Clicks the element (WebDriver waits for a navigation it starts to load).
    pub fn click(&self, element: &str) {
        self.cmd(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    /// The element's rendered text.
    pub fn element_text(&self, element: &str) -> String {
        self.cmd("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element's attribute `name`, if set.
    pub fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.cmd("GET", &format!("/element/{element}/attribute/{name}"), None)
            .as_str()
            .map(str::to_owned)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Every console message of the browser so far (CSP violations, refused frames...).
    pub fn console(&self) -> Vec<LogEntry> {
        let session = self.session.as_deref().expect("a session");
        let fresh = self
            .raw(
                "POST",
                &format!("/session/{session}/se/log"),
                Some(json!({ "type": "browser" })),
            )
            .unwrap_or_else(|e| panic!("reading the browser log: {e:?}"));
        let mut logs = self.logs.borrow_mut();
        for e in fresh.as_array().into_iter().flatten() {
            logs.push(LogEntry {
                level: e["level"].as_str().unwrap_or_default().to_owned(),
                source: e["source"].as_str().unwrap_or_default().to_owned(),
                message: e["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        logs.clone()
    }

    /// Waits until `cond` holds, polling every 100 ms; panics after [`WAIT`] with `what`,
    /// the page's address and source.
    pub fn wait(&self, what: &str, cond: impl FnMut() -> bool) {
        self.wait_or(what, cond, String::new);
    }

    /// [`Chromium::wait`], the panic message ending with `context()` (e.g. the servers'
    /// logs).
    pub fn wait_or(
        &self,
        what: &str,
        mut cond: impl FnMut() -> bool,
        context: impl FnOnce() -> String,
    ) {
        let start = Instant::now();
        loop {
            if cond() {
                return;
            }
            if start.elapsed() > WAIT {
                panic!(
                    "waited {WAIT:?} for {what}; the browser is at {}:\n{}\n--- console\n{:#?}\n{}",
                    self.url(),
                    self.source(),
                    self.console(),
                    context()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the top-level page's address starts with `prefix`; returns it.
    pub fn wait_url(&self, prefix: &str) -> String {
        let mut url = String::new();
        self.wait(&format!("an address starting with {prefix}"), || {
            url = self.url();
            url.starts_with(prefix)
        });
        url
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        if let Some(s) = self.session.take() {
            // Closes Chromium cleanly; chromedriver (and anything left in its process
            // group) is then stopped by its guard.
            let _ = self.raw("DELETE", &format!("/session/{s}"), None);
        }
        self.driver.take();
    }
}
