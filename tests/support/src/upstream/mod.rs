//! In-process stand-ins for the two upstreams of the registry's proxy mode: the public module
//! registry (registry.terraform.io, [`registry`]) and GitHub's archive host
//! (codeload.github.com, [`github`]). Both are plain HTTP servers on loopback ports, run as tasks
//! of the test's tokio runtime, so proxy and pin tests never leave the machine.
//!
//! They answer in the formats the real services use. The public registry's `download` endpoint
//! mostly answers `X-Terraform-Get: git::https://github.com/ORG/REPO?ref=SHA` (with `//SUBDIR`
//! before the `?` for a module in a subdirectory), so a proxy has to fetch the commit's tarball
//! from GitHub; older answers name `https://github.com/ORG/REPO/archive/TAG.tar.gz`, which
//! redirects to codeload. GitHub serves a tarball as `git archive` writes it: a
//! `pax_global_header` whose comment is the commit id, then everything beneath one top folder
//! named `REPO-REF`.
//!
//! ```ignore
//! let upstream = StandIns::start().await;
//! upstream
//!     .repo("hashicorp", "terraform-aws-consul", SHA, Repo::files(&[("main.tf", "# consul\n")]))
//!     .module("hashicorp/consul/aws", [
//!         ("0.2.0", Download::git("hashicorp", "terraform-aws-consul", SHA)),
//!         ("0.1.0", Download::root_relative(&[("main.tf", "# old\n")])),
//!     ]);
//! upstream.set_registry_fault("hashicorp/consul/aws", Endpoint::Versions, Some(Fault::Hang));
//! // point the registry at upstream.registry_url() and upstream.github_url(), run Terraform…
//! upstream.shutdown().await; // later connections are refused
//! ```

pub mod files;
pub mod github;
pub mod registry;

pub use github::{sample_repo, tag_commit, RawEntry, Repo};
pub use registry::Download;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use registry::ModuleVersion;

/// A secret-looking string in every `Fault::ServerError` answer (body and `X-Upstream-Trace`
/// header), so a test can assert that the registry never passes upstream internals on.
pub const UPSTREAM_SECRET: &str = "upstream-internal-trace-7f3a";

/// A misbehaviour of an upstream endpoint, set with [`StandIns::set_registry_fault`] or
/// [`StandIns::set_github_fault`] and changeable at any time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Waits this long, then answers normally (other requests are not held up).
    Slow(Duration),
    /// `200` with a body that is neither JSON nor an archive, and no `X-Terraform-Get`.
    Garbage,
    /// `500` with a body (and header) containing [`UPSTREAM_SECRET`].
    ServerError,
    /// Accepts the request and never answers; the connection closes at shutdown.
    Hang,
}

/// The registry stand-in's endpoints, each of which can be given its own fault per module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /v1/modules/{ns}/{name}/{system}/versions`
    Versions,
    /// `GET /v1/modules/{ns}/{name}/{system}/{version}/download`
    Download,
    /// The registry's own archive URLs: `/files/…` ([`Download::RootRelative`]) and
    /// `/redirect/…` ([`Download::Redirect`]).
    Archive,
}

/// One request a stand-in received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query, as sent: `/v1/modules/a/b/c/versions`.
    pub target: String,
    /// Header names (lower case) and values, in the order received.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The value of the first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl std::fmt::Display for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.target)
    }
}

/// The running registry and GitHub stand-ins. Everything they serve and every fault can be
/// changed while they run. Dropping it stops both servers, like [`StandIns::shutdown`].
pub struct StandIns {
    state: Arc<State>,
    registry_url: String,
    github_url: String,
    stop: watch::Sender<bool>,
    accept_loops: Mutex<Vec<JoinHandle<()>>>,
}

impl StandIns {
    /// Starts both servers on ephemeral loopback ports, serving nothing yet (discovery aside).
    pub async fn start() -> StandIns {
        let registry = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the registry stand-in");
        let github = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the GitHub stand-in");
        let registry_url = format!("http://{}", registry.local_addr().unwrap());
        let github_url = format!("http://{}", github.local_addr().unwrap());
        let state = Arc::new(State {
            github_url: github_url.clone(),
            modules: Mutex::new(HashMap::new()),
            archives: Mutex::new(HashMap::new()),
            registry_faults: Mutex::new(HashMap::new()),
            github_faults: Mutex::new(HashMap::new()),
            registry_log: Mutex::new(Vec::new()),
            github_log: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let accept_loops = vec![
            tokio::spawn(accept_loop(
                registry,
                Upstream::Registry,
                state.clone(),
                stopped.clone(),
            )),
            tokio::spawn(accept_loop(
                github,
                Upstream::Github,
                state.clone(),
                stopped,
            )),
        ];
        StandIns {
            state,
            registry_url,
            github_url,
            stop,
            accept_loops: Mutex::new(accept_loops),
        }
    }

    /// `http://127.0.0.1:PORT` of the registry stand-in (no trailing slash).
    pub fn registry_url(&self) -> &str {
        &self.registry_url
    }

    /// `http://127.0.0.1:PORT` of the GitHub stand-in (codeload's URL shape beneath it).
    pub fn github_url(&self) -> &str {
        &self.github_url
    }

    /// Sets (`Some`) or clears (`None`) the fault of one registry endpoint for `module`
    /// (`ns/name/system`, declared or not).
    pub fn set_registry_fault(&self, module: &str, endpoint: Endpoint, fault: Option<Fault>) {
        let key = (module.to_owned(), endpoint);
        let mut faults = lock(&self.state.registry_faults);
        match fault {
            Some(fault) => faults.insert(key, fault),
            None => faults.remove(&key),
        };
    }

    /// Sets (`Some`) or clears (`None`) the fault of every tarball of `owner/repo`.
    pub fn set_github_fault(&self, owner: &str, repo: &str, fault: Option<Fault>) {
        let key = (owner.to_owned(), repo.to_owned());
        let mut faults = lock(&self.state.github_faults);
        match fault {
            Some(fault) => faults.insert(key, fault),
            None => faults.remove(&key),
        };
    }

    /// Clears every fault of both stand-ins.
    pub fn clear_faults(&self) {
        lock(&self.state.registry_faults).clear();
        lock(&self.state.github_faults).clear();
    }

    /// Requests the registry stand-in received, oldest first: `"GET /v1/modules/a/b/c/versions"`.
    pub fn registry_requests(&self) -> Vec<String> {
        lock(&self.state.registry_log)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Requests the GitHub stand-in received, oldest first: `"GET /owner/repo/tar.gz/SHA"`.
    pub fn github_requests(&self) -> Vec<String> {
        lock(&self.state.github_log)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Requests the registry stand-in received, with their headers (to check what was
    /// forwarded, such as an `Authorization` header that must not be).
    pub fn registry_requests_with_headers(&self) -> Vec<RecordedRequest> {
        lock(&self.state.registry_log).clone()
    }

    /// Requests the GitHub stand-in received, with their headers.
    pub fn github_requests_with_headers(&self) -> Vec<RecordedRequest> {
        lock(&self.state.github_log).clone()
    }

    /// Empties both request logs.
    pub fn clear_requests(&self) {
        lock(&self.state.registry_log).clear();
        lock(&self.state.github_log).clear();
    }

    /// Stops both servers: once this returns, their listeners are closed (new connections are
    /// refused) and open connections, hanging ones included, are closed. Idempotent.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let accept_loops: Vec<_> = lock(&self.accept_loops).drain(..).collect();
        for accept_loop in accept_loops {
            let _ = accept_loop.await;
        }
    }
}

impl Drop for StandIns {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        for accept_loop in lock(&self.accept_loops).drain(..) {
            // Aborting drops the listener and the connections the loop owns.
            accept_loop.abort();
        }
    }
}

struct State {
    github_url: String,
    /// `ns/name/system` -> versions in declared order.
    modules: Mutex<HashMap<String, Vec<ModuleVersion>>>,
    /// `(owner, repo)` -> ref (tag or commit) -> tar.gz.
    archives: Mutex<HashMap<(String, String), HashMap<String, Bytes>>>,
    registry_faults: Mutex<HashMap<(String, Endpoint), Fault>>,
    github_faults: Mutex<HashMap<(String, String), Fault>>,
    registry_log: Mutex<Vec<RecordedRequest>>,
    github_log: Mutex<Vec<RecordedRequest>>,
}

#[derive(Clone, Copy)]
enum Upstream {
    Registry,
    Github,
}

/// What a request's body would be if it were not faulty: garbage must look wrong for it.
#[derive(Clone, Copy)]
enum BodyKind {
    Json,
    Archive,
}

/// A routed request: its normal answer and the fault (if any) that replaces it.
struct Routed {
    fault: Option<Fault>,
    kind: BodyKind,
    response: Response<Full<Bytes>>,
}

/// A poisoned lock only means another test thread panicked; the data is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept_loop(
    listener: TcpListener,
    upstream: Upstream,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    // Owning the connections here means stopping the loop closes them too.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = until_stopped(&mut stopped) => break,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors and the like: do not spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| handle(upstream, state.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    drop(listener);
    connections.shutdown().await;
}

/// Returns once `stop` is set (or its sender is gone), holding no lock on it.
async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stopped| *stopped).await;
}

async fn handle(
    upstream: Upstream,
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let recorded = RecordedRequest {
        method: request.method().to_string(),
        target: request
            .uri()
            .path_and_query()
            .map_or_else(|| request.uri().path().to_owned(), ToString::to_string),
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    let log = match upstream {
        Upstream::Registry => &state.registry_log,
        Upstream::Github => &state.github_log,
    };
    lock(log).push(recorded);

    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(respond(
            StatusCode::METHOD_NOT_ALLOWED,
            "application/json",
            r#"{"errors":["Method Not Allowed"]}"#,
        ));
    }
    let path = request.uri().path();
    let routed = match upstream {
        Upstream::Registry => registry::route_registry(&state, path),
        Upstream::Github => github::route_github(&state, path),
    };
    Ok(apply(routed).await)
}

async fn apply(routed: Routed) -> Response<Full<Bytes>> {
    match routed.fault {
        None => routed.response,
        Some(Fault::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            routed.response
        }
        Some(Fault::Hang) => std::future::pending().await,
        Some(Fault::Garbage) => match routed.kind {
            BodyKind::Json => respond(
                StatusCode::OK,
                "text/html",
                "<html><head><title>Just a moment...</title></head><body>not JSON</body></html>",
            ),
            BodyKind::Archive => {
                use rand::Rng;
                // Starts with text, so it is not even a gzip stream.
                let mut body = b"GARBAGE".to_vec();
                let mut noise = vec![0u8; 4096];
                rand::thread_rng().fill(&mut noise[..]);
                body.extend(noise);
                respond(StatusCode::OK, "application/x-gzip", body)
            }
        },
        Some(Fault::ServerError) => {
            let mut response = respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                format!(
                    r#"{{"errors":["internal error {UPSTREAM_SECRET}: pq: connection to 10.0.3.7:5432 refused (user=registry_rw)"]}}"#
                ),
            );
            response.headers_mut().insert(
                "x-upstream-trace",
                HeaderValue::from_static(UPSTREAM_SECRET),
            );
            response
        }
    }
}

fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    response
}
