//! Shared harness: starts the real `tfreg serve` binary on a free loopback port with a
//! temporary data directory, and talks to it over HTTPS with its own CA.
#![allow(dead_code)]

pub mod cost_table;
pub mod hostile;
pub mod mirror_upstream;
pub mod providers;
pub mod proxying;
pub mod terraform;

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `tfreg` binary Cargo built for this test run.
pub fn tfreg_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tfreg"))
}

/// Terraform v1.0.3 from the project's virtualenv, installed by `tests/setup.sh`.
pub fn terraform_binary() -> PathBuf {
    tfreg_testkit::project_tool(".venv/bin/terraform")
}

/// `tfreg serve` arguments for the S3 + DynamoDB backend: `bucket` and `table` on the protocol
/// server at `endpoint` (moto, or a fault proxy in front of it), in moto's region. Run with
/// [`tfreg_testkit::moto::PROCESS_ENV`].
pub fn aws_backend_args<'a>(bucket: &'a str, table: &'a str, endpoint: &'a str) -> [&'a str; 10] {
    [
        "--backend",
        "aws",
        "--s3-bucket",
        bucket,
        "--dynamodb-table",
        table,
        "--region",
        tfreg_testkit::moto::REGION,
        "--endpoint-url",
        endpoint,
    ]
}

/// An `X-Terraform-Get` archive URL as go-getter requests it: without `checksum` and
/// `archive`, which it takes out of the query first (and which a CloudFront signed URL must
/// not carry when it is requested: they are not part of the signed resource).
pub fn as_go_getter_requests(location: &str) -> String {
    let Some((path, query)) = location.split_once('?') else {
        return location.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("checksum=") && !p.starts_with("archive="))
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

pub struct TestRegistry {
    child: Child,
    /// `127.0.0.1:PORT`
    pub host: String,
    pub data_dir: tempfile::TempDir,
    pub master_token: String,
    pub ca_pem: PathBuf,
    pub stdout: Arc<Mutex<String>>,
    pub stderr: Arc<Mutex<String>>,
    pub client: reqwest::Client,
}

fn drain(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

impl TestRegistry {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra_args: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary data dir");
        Self::start_in(data_dir, extra_args)
    }

    /// Starts on an existing data directory (to test restarts).
    pub fn start_in(data_dir: tempfile::TempDir, extra_args: &[&str]) -> Self {
        Self::start_in_with_env(data_dir, extra_args, &[])
    }

    /// Starts with extra environment variables (AWS credentials for `--backend aws`).
    pub fn start_with_env(extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary data dir");
        Self::start_in_with_env(data_dir, extra_args, env)
    }

    /// Starts on an existing data directory with extra environment variables.
    pub fn start_in_with_env(
        data_dir: tempfile::TempDir,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        Self::launch(data_dir, &[], extra_args, env)
    }

    /// Starts through `wrapper` (a command that runs the rest of its arguments, such as
    /// `prlimit --nofile=64`), to give the server a smaller world.
    pub fn start_wrapped(wrapper: &[&str], extra_args: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary data dir");
        Self::launch(data_dir, wrapper, extra_args, &[])
    }

    fn launch(
        data_dir: tempfile::TempDir,
        wrapper: &[&str],
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(tfreg_binary());
                command
            }
            None => Command::new(tfreg_binary()),
        };
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir.path())
            .args(extra_args)
            .envs(env.iter().copied())
            .env("TFREG_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("starting tfreg serve");
        let stdout_pipe = child.stdout.take().expect("stdout");
        let stderr = Arc::new(Mutex::new(String::new()));
        drain(child.stderr.take().expect("stderr"), stderr.clone());

        // The first line names the address: "tfreg listening on https://127.0.0.1:PORT".
        let mut reader = BufReader::new(stdout_pipe);
        let mut first = String::new();
        reader
            .read_line(&mut first)
            .expect("reading tfreg's first line");
        let host = first
            .trim()
            .strip_prefix("tfreg listening on https://")
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line {first:?}; stderr: {}",
                    stderr.lock().unwrap()
                )
            })
            .to_owned();
        // Read the rest of the banner before going on; it ends with the curl example.
        let mut banner = first;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            banner.push_str(&line);
            if line.contains("--data-binary") {
                break;
            }
        }
        let stdout = Arc::new(Mutex::new(banner));
        drain(reader, stdout.clone());

        let ca_pem = data_dir.path().join("tls/ca.pem");
        let master_token = std::fs::read_to_string(data_dir.path().join("master-token"))
            .expect("master-token file")
            .trim()
            .to_owned();
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca_pem).expect("ca.pem"))
            .expect("CA certificate");
        // Half a second: some servers here close an idle kept-alive connection after 1 s
        // (`--header-read-timeout 1`), and a pooled connection reused just as the server
        // closes it fails the request (seen in tests/hostile_clients.rs under CI's load). The
        // client drops its idle connections first.
        let client = reqwest::Client::builder()
            .add_root_certificate(ca)
            .tls_built_in_root_certs(false)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_millis(500))
            .build()
            .expect("HTTP client");
        TestRegistry {
            child,
            host,
            data_dir,
            master_token,
            ca_pem,
            stdout,
            stderr,
            client,
        }
    }

    /// The server's process id (for its memory and CPU figures in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}{}", self.host, path)
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("request reaches tfreg");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("response body").to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send("GET", path, token, None).await
    }

    /// The archive an `X-Terraform-Get` location points at, fetched as go-getter does: no
    /// token, and without `checksum` and `archive` ([`as_go_getter_requests`]).
    pub async fn get_archive(&self, location: &str) -> Reply {
        self.get(&as_go_getter_requests(location), None).await
    }

    /// A `POST` without a body (such as a pin).
    pub async fn post(&self, path: &str, token: &str) -> Reply {
        self.send("POST", path, Some(token), None).await
    }

    pub async fn create_token(&self, name: &str, permission: &str) -> String {
        let body = serde_json::json!({ "name": name, "permission": permission });
        let reply = self
            .send(
                "POST",
                "/v1/tokens",
                Some(&self.master_token),
                Some(body.to_string().into_bytes()),
            )
            .await;
        assert_eq!(reply.status, 201, "creating token {name}: {}", reply.text());
        reply.json()["token_value"]
            .as_str()
            .expect("token_value")
            .to_owned()
    }

    pub async fn upload(
        &self,
        module: &str,
        version: &str,
        archive: Vec<u8>,
        token: &str,
    ) -> Reply {
        self.send(
            "PUT",
            &format!("/v1/modules/{module}/{version}"),
            Some(token),
            Some(archive),
        )
        .await
    }

    /// A `PUT` of `len` bytes to `path` streamed from a file, so it goes without a
    /// `Content-Length` (chunked), as `token`.
    pub async fn put_streamed(&self, path: &str, len: usize, token: &str) -> reqwest::Response {
        let spool = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(spool.path(), vec![7u8; len]).unwrap();
        let file = tokio::fs::File::open(spool.path()).await.unwrap();
        self.client
            .put(self.url(path))
            .bearer_auth(token)
            .body(reqwest::Body::from(file))
            .send()
            .await
            .unwrap()
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn banner(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Stops the server with SIGTERM, checks that it shut down cleanly, and returns its data
    /// directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.terminate();
        let status = self.child.wait().expect("waiting for tfreg");
        assert!(status.success(), "tfreg exits 0 on SIGTERM, got {status}");
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data_dir, dir)
    }

    /// Kills the server with SIGKILL, as a crash or the OOM killer would: no signal handler
    /// runs, no request in flight finishes, nothing is flushed. [`Self::into_data_dir`] then
    /// hands the data directory to the next start.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The data directory of a server that has stopped (or been killed), to start another on.
    pub fn into_data_dir(mut self) -> tempfile::TempDir {
        self.kill();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data_dir, dir)
    }

    fn terminate(&mut self) {
        // SAFETY-free: `kill` via the command keeps this test crate free of libc.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first message of a `{"errors":[…]}` body.
    pub fn error(&self) -> String {
        self.json()["errors"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Tokens of every tier for a fresh registry: a downloader and an uploader made through the
/// token API, and the master token.
pub struct Tokens {
    pub downloader: String,
    pub uploader: String,
    pub master: String,
}

pub async fn registry_with_tokens() -> (TestRegistry, Tokens) {
    let registry = TestRegistry::start();
    let tokens = Tokens {
        downloader: registry.create_token("dl", "downloader").await,
        uploader: registry.create_token("up", "uploader").await,
        master: registry.master_token.clone(),
    };
    (registry, tokens)
}
