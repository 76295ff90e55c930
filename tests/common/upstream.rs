//! In-process stand-ins for the two upstreams of the registry's proxy mode: the public module
//! registry (registry.terraform.io) and GitHub's archive host (codeload.github.com). Both are
//! plain HTTP servers on loopback ports, run as tasks of the test's tokio runtime, so proxy and
//! pin tests never leave the machine. They answer in the formats the real services use today
//! (DESIGN.md, "Protocol"): the registry mostly answers `git::https://github.com/ORG/REPO?ref=SHA`
//! and GitHub serves tarballs with a `pax_global_header` and one top folder.
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

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sha2::Digest;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// A secret-looking string in every `Fault::ServerError` answer (body and `X-Upstream-Trace`
/// header), so a test can assert that the registry never passes upstream internals on.
pub const UPSTREAM_SECRET: &str = "upstream-internal-trace-7f3a";

/// The modification time of every entry in a GitHub tarball (GitHub uses the commit's time).
const COMMIT_TIME: u64 = 1_700_000_000;

/// Where the public registry sends Terraform for one module version: what its `download`
/// endpoint answers in `X-Terraform-Get`.
#[derive(Clone, Debug)]
pub enum Download {
    /// `git::https://github.com/{owner}/{repo}?ref={commit}`, or
    /// `git::https://github.com/{owner}/{repo}//{subdir}?ref={commit}` with a subdirectory: what
    /// the public registry answers for most GitHub-hosted modules today. The GitHub stand-in
    /// serves the tarball declared with [`StandIns::repo`] for `(owner, repo, commit)`.
    Git {
        owner: String,
        repo: String,
        commit: String,
        subdir: Option<String>,
    },
    /// `https://github.com/{owner}/{repo}/archive/{tag}.tar.gz//{subdir}?archive=tar.gz`, the
    /// registry's older answer (`subdir` like `*`, `modules/sub` or `*/modules/sub`).
    GithubArchive {
        owner: String,
        repo: String,
        tag: String,
        subdir: String,
    },
    /// `/files/{ns}/{name}/{system}/{version}.tar.gz`, a root-relative URL the registry stand-in
    /// serves itself: a plain tar.gz with `files` (path, contents) at the archive root.
    RootRelative { files: Vec<(String, String)> },
    /// `/redirect/{ns}/{name}/{system}/{version}` on the registry stand-in, which answers
    /// `302 Location: {github_url}/{owner}/{repo}/tar.gz/{commit}`.
    Redirect {
        owner: String,
        repo: String,
        commit: String,
    },
    /// Any location, verbatim (hostile cases: another forge, a metadata address, `..`).
    Literal(String),
}

impl Download {
    /// [`Download::Git`] without a subdirectory.
    pub fn git(owner: &str, repo: &str, commit: &str) -> Self {
        Download::Git {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            commit: commit.to_owned(),
            subdir: None,
        }
    }

    /// [`Download::Git`] for the module in `subdir` of the repository.
    pub fn git_subdir(owner: &str, repo: &str, commit: &str, subdir: &str) -> Self {
        Download::Git {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            commit: commit.to_owned(),
            subdir: Some(subdir.to_owned()),
        }
    }

    /// [`Download::GithubArchive`].
    pub fn github_archive(owner: &str, repo: &str, tag: &str, subdir: &str) -> Self {
        Download::GithubArchive {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            subdir: subdir.to_owned(),
        }
    }

    /// [`Download::RootRelative`] holding `files`.
    pub fn root_relative(files: &[(&str, &str)]) -> Self {
        Download::RootRelative {
            files: owned_files(files),
        }
    }

    /// [`Download::Redirect`].
    pub fn redirect(owner: &str, repo: &str, commit: &str) -> Self {
        Download::Redirect {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            commit: commit.to_owned(),
        }
    }

    /// [`Download::Literal`].
    pub fn literal(location: &str) -> Self {
        Download::Literal(location.to_owned())
    }

    /// The `X-Terraform-Get` value for this version of `module` (`ns/name/system`).
    fn location(&self, module: &str, version: &str) -> String {
        match self {
            Download::Git {
                owner,
                repo,
                commit,
                subdir: None,
            } => format!("git::https://github.com/{owner}/{repo}?ref={commit}"),
            Download::Git {
                owner,
                repo,
                commit,
                subdir: Some(subdir),
            } => format!("git::https://github.com/{owner}/{repo}//{subdir}?ref={commit}"),
            Download::GithubArchive {
                owner,
                repo,
                tag,
                subdir,
            } => format!(
                "https://github.com/{owner}/{repo}/archive/{tag}.tar.gz//{subdir}?archive=tar.gz"
            ),
            Download::RootRelative { .. } => format!("/files/{module}/{version}.tar.gz"),
            Download::Redirect { .. } => format!("/redirect/{module}/{version}"),
            Download::Literal(location) => location.clone(),
        }
    }
}

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

/// The contents of one ref of a repository, as the GitHub stand-in's tarball holds them
/// beneath its top folder.
#[derive(Clone, Debug, Default)]
pub struct Repo {
    /// Regular files `(path, contents)`, paths relative to the repository root.
    pub files: Vec<(String, String)>,
    /// Entries written after the files, for hostile archives.
    pub raw: Vec<RawEntry>,
}

impl Repo {
    /// A repository holding `files` (`("main.tf", "…")`, `("modules/sub/main.tf", "…")`).
    pub fn files(files: &[(&str, &str)]) -> Self {
        Repo {
            files: owned_files(files),
            raw: Vec::new(),
        }
    }

    /// Adds a raw entry after the files.
    pub fn with(mut self, entry: RawEntry) -> Self {
        self.raw.push(entry);
        self
    }
}

/// A tar entry written as given, without the checks the `tar` crate makes, for hostile
/// archives. Paths are beneath the top folder unless the variant says otherwise.
#[derive(Clone, Debug)]
pub enum RawEntry {
    /// A regular file with any contents and mode (binary, large, setuid…).
    File {
        path: String,
        contents: Vec<u8>,
        mode: u32,
    },
    /// A symbolic link to `target` (written verbatim: `/etc/passwd`, `../../x`).
    Symlink { path: String, target: String },
    /// A hard link to `target` (written verbatim).
    Hardlink { path: String, target: String },
    /// A regular file whose header name is `path` exactly, not beneath the top folder
    /// (`../escape`, `/etc/cron.d/x`, a second top folder).
    Verbatim { path: String, contents: Vec<u8> },
}

impl RawEntry {
    /// [`RawEntry::Symlink`].
    pub fn symlink(path: &str, target: &str) -> Self {
        RawEntry::Symlink {
            path: path.to_owned(),
            target: target.to_owned(),
        }
    }

    /// [`RawEntry::Hardlink`].
    pub fn hardlink(path: &str, target: &str) -> Self {
        RawEntry::Hardlink {
            path: path.to_owned(),
            target: target.to_owned(),
        }
    }

    /// [`RawEntry::File`].
    pub fn file(path: &str, contents: impl Into<Vec<u8>>, mode: u32) -> Self {
        RawEntry::File {
            path: path.to_owned(),
            contents: contents.into(),
            mode,
        }
    }

    /// [`RawEntry::Verbatim`].
    pub fn verbatim(path: &str, contents: impl Into<Vec<u8>>) -> Self {
        RawEntry::Verbatim {
            path: path.to_owned(),
            contents: contents.into(),
        }
    }
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

    /// Serves `content` for `owner/name` at `git_ref`: a 40-hex commit sha or a tag. A tag's
    /// tarball is also served by its commit ([`tag_commit`]) and as `refs/tags/{tag}`.
    pub fn repo(&self, owner: &str, name: &str, git_ref: &str, content: Repo) -> &Self {
        let mut by_ref = HashMap::new();
        if is_commit(git_ref) {
            by_ref.insert(
                git_ref.to_owned(),
                github_tarball(name, git_ref, git_ref, &content),
            );
        } else {
            let commit = tag_commit(owner, name, git_ref);
            // GitHub names the folder after the version: `v1.2.0` -> `{repo}-1.2.0`.
            let folder = match git_ref.strip_prefix('v') {
                Some(version) if version.starts_with(|c: char| c.is_ascii_digit()) => version,
                _ => git_ref,
            }
            .replace('/', "-");
            by_ref.insert(
                git_ref.to_owned(),
                github_tarball(name, &folder, &commit, &content),
            );
            by_ref.insert(
                commit.clone(),
                github_tarball(name, &commit, &commit, &content),
            );
        }
        lock(&self.state.archives)
            .entry((owner.to_owned(), name.to_owned()))
            .or_default()
            .extend(by_ref);
        self
    }

    /// Declares `module` (`ns/name/system`) with `versions` in exactly the given order,
    /// replacing any earlier declaration. Panics on a malformed module address or a location
    /// that cannot be an HTTP header value.
    pub fn module<'a>(
        &self,
        module: &str,
        versions: impl IntoIterator<Item = (&'a str, Download)>,
    ) -> &Self {
        assert!(
            module.split('/').count() == 3 && module.split('/').all(|part| !part.is_empty()),
            "module addresses are ns/name/system, got {module:?}"
        );
        let versions = versions
            .into_iter()
            .map(|(version, download)| {
                let location = download.location(module, version);
                assert!(
                    HeaderValue::from_str(&location).is_ok(),
                    "{module} {version}: {location:?} cannot be sent as X-Terraform-Get"
                );
                let archive = match &download {
                    Download::RootRelative { files } => Some(Bytes::from(
                        tarball(None, None, files, &[])
                            .unwrap_or_else(|e| panic!("{module} {version}: {e}")),
                    )),
                    _ => None,
                };
                ModuleVersion {
                    version: version.to_owned(),
                    download,
                    archive,
                }
            })
            .collect();
        lock(&self.state.modules).insert(module.to_owned(), versions);
        self
    }

    /// Forgets `module`: its endpoints answer 404 from now on.
    pub fn remove_module(&self, module: &str) -> &Self {
        lock(&self.state.modules).remove(module);
        self
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

/// A repository with a root module, a submodule and an example, each file naming `label`, so a
/// test can tell which repository and which directory an installed module came from.
pub fn sample_repo(label: &str) -> Repo {
    Repo::files(&[
        (
            "main.tf",
            &format!("# {label} root\noutput \"which\" {{ value = \"{label}\" }}\n"),
        ),
        ("README.md", &format!("{label} readme\n")),
        (
            "modules/sub/main.tf",
            &format!("# {label} sub\noutput \"which\" {{ value = \"{label}/sub\" }}\n"),
        ),
        ("examples/basic/main.tf", "# example\n"),
    ])
}

/// The commit sha the GitHub stand-in gives a tag declared with [`StandIns::repo`]: stable,
/// 40 hex digits, and different per `(owner, repo, tag)`.
pub fn tag_commit(owner: &str, repo: &str, tag: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{owner}/{repo}@{tag}").as_bytes());
    hex::encode(&digest[..20])
}

struct ModuleVersion {
    version: String,
    download: Download,
    /// The tar.gz of a [`Download::RootRelative`] version.
    archive: Option<Bytes>,
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

fn owned_files(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(path, contents)| ((*path).to_owned(), (*contents).to_owned()))
        .collect()
}

fn is_commit(git_ref: &str) -> bool {
    git_ref.len() == 40
        && git_ref
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
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
        Upstream::Registry => route_registry(&state, path),
        Upstream::Github => route_github(&state, path),
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

fn route_registry(state: &State, path: &str) -> Routed {
    let json = |fault, response| Routed {
        fault,
        kind: BodyKind::Json,
        response,
    };
    let not_found = || respond(StatusCode::NOT_FOUND, "application/json", NOT_FOUND_JSON);
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let fault = |module: &str, endpoint| {
        lock(&state.registry_faults)
            .get(&(module.to_owned(), endpoint))
            .copied()
    };
    let modules = lock(&state.modules);
    match segments.as_slice() {
        [".well-known", "terraform.json"] => json(
            None,
            respond(
                StatusCode::OK,
                "application/json",
                r#"{"modules.v1":"/v1/modules/"}"#,
            ),
        ),
        ["v1", "modules", ns, name, system, "versions"] => {
            let module = format!("{ns}/{name}/{system}");
            let response = match modules.get(&module) {
                Some(versions) => {
                    let versions: Vec<_> = versions
                        .iter()
                        .map(|v| serde_json::json!({ "version": v.version }))
                        .collect();
                    let body = serde_json::json!({ "modules": [{ "versions": versions }] });
                    respond(StatusCode::OK, "application/json", body.to_string())
                }
                None => not_found(),
            };
            json(fault(&module, Endpoint::Versions), response)
        }
        ["v1", "modules", ns, name, system, version, "download"] => {
            let module = format!("{ns}/{name}/{system}");
            let location = modules
                .get(&module)
                .and_then(|versions| versions.iter().find(|v| v.version == *version))
                .map(|v| v.download.location(&module, version));
            let response = match location.map(|l| HeaderValue::from_str(&l)) {
                Some(Ok(location)) => {
                    let mut response = respond(StatusCode::NO_CONTENT, "text/plain", "");
                    response.headers_mut().remove("content-type");
                    response.headers_mut().insert("x-terraform-get", location);
                    response
                }
                Some(Err(_)) => respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "stand-in: location is not a header value",
                ),
                None => not_found(),
            };
            json(fault(&module, Endpoint::Download), response)
        }
        ["files", ns, name, system, file] => {
            let module = format!("{ns}/{name}/{system}");
            let archive = file.strip_suffix(".tar.gz").and_then(|version| {
                modules
                    .get(&module)?
                    .iter()
                    .find(|v| v.version == version)?
                    .archive
                    .clone()
            });
            let response = match archive {
                Some(archive) => respond(StatusCode::OK, "application/x-gzip", archive),
                None => not_found(),
            };
            Routed {
                fault: fault(&module, Endpoint::Archive),
                kind: BodyKind::Archive,
                response,
            }
        }
        ["redirect", ns, name, system, version] => {
            let module = format!("{ns}/{name}/{system}");
            let target = modules
                .get(&module)
                .and_then(|versions| versions.iter().find(|v| v.version == *version))
                .and_then(|v| match &v.download {
                    Download::Redirect {
                        owner,
                        repo,
                        commit,
                    } => Some(format!(
                        "{}/{owner}/{repo}/tar.gz/{commit}",
                        state.github_url
                    )),
                    _ => None,
                });
            let response = match target.map(|t| HeaderValue::from_str(&t)) {
                Some(Ok(target)) => {
                    let mut response = respond(StatusCode::FOUND, "text/plain", "");
                    response.headers_mut().insert("location", target);
                    response
                }
                _ => not_found(),
            };
            Routed {
                fault: fault(&module, Endpoint::Archive),
                kind: BodyKind::Archive,
                response,
            }
        }
        _ => json(None, not_found()),
    }
}

fn route_github(state: &State, path: &str) -> Routed {
    let archive = |fault, response| Routed {
        fault,
        kind: BodyKind::Archive,
        response,
    };
    let not_found = || respond(StatusCode::NOT_FOUND, "text/plain", "404: Not Found");
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let (owner, repo, rest) = match segments.as_slice() {
        [owner, repo, rest @ ..] if !rest.is_empty() => (*owner, *repo, rest),
        _ => return archive(None, not_found()),
    };
    let fault = lock(&state.github_faults)
        .get(&(owner.to_owned(), repo.to_owned()))
        .copied();
    let response = match rest {
        // codeload.github.com/{owner}/{repo}/tar.gz/{ref}
        ["tar.gz", git_ref @ ..] if !git_ref.is_empty() => {
            let git_ref = git_ref.join("/");
            let git_ref = git_ref.strip_prefix("refs/tags/").unwrap_or(&git_ref);
            let tarball = lock(&state.archives)
                .get(&(owner.to_owned(), repo.to_owned()))
                .and_then(|refs| refs.get(git_ref).cloned());
            match tarball {
                Some(tarball) => {
                    let mut response = respond(StatusCode::OK, "application/x-gzip", tarball);
                    let disposition = format!(
                        "attachment; filename={repo}-{}.tar.gz",
                        git_ref.replace('/', "-")
                    );
                    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
                        response
                            .headers_mut()
                            .insert("content-disposition", disposition);
                    }
                    response
                }
                None => not_found(),
            }
        }
        // github.com/{owner}/{repo}/archive/{ref}.tar.gz redirects to codeload, as GitHub does.
        ["archive", git_ref @ ..] if !git_ref.is_empty() => {
            let git_ref = git_ref.join("/");
            let target = git_ref
                .strip_suffix(".tar.gz")
                .map(|git_ref| format!("{}/{owner}/{repo}/tar.gz/{git_ref}", state.github_url));
            match target.map(|t| HeaderValue::from_str(&t)) {
                Some(Ok(target)) => {
                    let mut response = respond(StatusCode::FOUND, "text/plain", "");
                    response.headers_mut().insert("location", target);
                    response
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    };
    archive(fault, response)
}

const NOT_FOUND_JSON: &str = r#"{"errors":["Not Found"]}"#;

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

/// A tarball laid out like GitHub's: a `pax_global_header` whose comment is the commit, then
/// one top folder `{repo}-{folder_ref}/` with every directory and file of `content` beneath it.
fn github_tarball(repo: &str, folder_ref: &str, commit: &str, content: &Repo) -> Bytes {
    let top = format!("{repo}-{folder_ref}");
    tarball(Some(&top), Some(commit), &content.files, &content.raw)
        .map(Bytes::from)
        .unwrap_or_else(|e| panic!("{repo}@{folder_ref}: {e}"))
}

/// Writes `files` (and `raw` entries) beneath `top`, or at the root without it. Names are
/// written byte for byte, so hostile paths and links survive; names too long for ustar get a
/// pax extended header.
fn tarball(
    top: Option<&str>,
    pax_comment: Option<&str>,
    files: &[(String, String)],
    raw: &[RawEntry],
) -> Result<Vec<u8>, String> {
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut writer = TarWriter {
        builder: tar::Builder::new(gzip),
        top: top.map(str::to_owned),
        directories: HashSet::new(),
    };
    if let Some(commit) = pax_comment {
        let record = pax_record("comment", commit);
        writer.append(
            tar::EntryType::XGlobalHeader,
            "pax_global_header",
            None,
            record.as_bytes(),
            0o666,
        )?;
    }
    if let Some(top) = top {
        writer.directories.insert(top.to_owned());
        writer.append(
            tar::EntryType::Directory,
            &format!("{top}/"),
            None,
            &[],
            0o775,
        )?;
    }
    for (path, contents) in files {
        let name = writer.beneath_top(path)?;
        writer.append(
            tar::EntryType::Regular,
            &name,
            None,
            contents.as_bytes(),
            0o664,
        )?;
    }
    for entry in raw {
        match entry {
            RawEntry::File {
                path,
                contents,
                mode,
            } => {
                let name = writer.beneath_top(path)?;
                writer.append(tar::EntryType::Regular, &name, None, contents, *mode)?;
            }
            RawEntry::Symlink { path, target } => {
                let name = writer.beneath_top(path)?;
                writer.append(tar::EntryType::Symlink, &name, Some(target), &[], 0o777)?;
            }
            RawEntry::Hardlink { path, target } => {
                let name = writer.beneath_top(path)?;
                writer.append(tar::EntryType::Link, &name, Some(target), &[], 0o664)?;
            }
            RawEntry::Verbatim { path, contents } => {
                writer.append(tar::EntryType::Regular, path, None, contents, 0o664)?;
            }
        }
    }
    let gzip = writer
        .builder
        .into_inner()
        .map_err(|e| format!("finishing the tar stream: {e}"))?;
    gzip.finish()
        .map_err(|e| format!("finishing the gzip stream: {e}"))
}

struct TarWriter {
    builder: tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
    top: Option<String>,
    /// Directories already written (without trailing slash).
    directories: HashSet<String>,
}

impl TarWriter {
    /// The entry name for `path` beneath the top folder, writing any directory entries it
    /// needs first, as GitHub lists every directory before its contents.
    fn beneath_top(&mut self, path: &str) -> Result<String, String> {
        let Some(top) = self.top.clone() else {
            return Ok(path.to_owned());
        };
        let mut directory = top.clone();
        let parents: Vec<&str> = path.split('/').collect();
        for part in &parents[..parents.len() - 1] {
            directory = format!("{directory}/{part}");
            if self.directories.insert(directory.clone()) {
                self.append(
                    tar::EntryType::Directory,
                    &format!("{directory}/"),
                    None,
                    &[],
                    0o775,
                )?;
            }
        }
        Ok(format!("{top}/{path}"))
    }

    fn append(
        &mut self,
        kind: tar::EntryType,
        name: &str,
        link: Option<&str>,
        data: &[u8],
        mode: u32,
    ) -> Result<(), String> {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(COMMIT_TIME);
        header.set_uid(0);
        header.set_gid(0);
        // Names are copied byte for byte: `Header::set_path` refuses `..` and absolute paths,
        // which hostile entries need. What does not fit goes in a pax extended header first,
        // as `git archive` does.
        let mut extended = String::new();
        let ustar = header.as_ustar_mut().expect("a ustar header");
        if set_ustar_name(&mut ustar.name, &mut ustar.prefix, name).is_err() {
            extended.push_str(&pax_record("path", name));
            copy_field(&mut ustar.name, truncate(name, 100))?;
        }
        if let Some(link) = link {
            if copy_field(&mut ustar.linkname, link).is_err() {
                extended.push_str(&pax_record("linkpath", link));
                copy_field(&mut ustar.linkname, truncate(link, 100))?;
            }
        }
        copy_field(&mut ustar.uname, "root")?;
        copy_field(&mut ustar.gname, "root")?;
        if !extended.is_empty() {
            let mut pax = tar::Header::new_ustar();
            pax.set_entry_type(tar::EntryType::XHeader);
            pax.set_size(extended.len() as u64);
            pax.set_mode(0o644);
            pax.set_mtime(COMMIT_TIME);
            copy_field(
                &mut pax.as_ustar_mut().expect("a ustar header").name,
                "pax_header",
            )?;
            pax.set_cksum();
            self.builder
                .append(&pax, extended.as_bytes())
                .map_err(|e| format!("writing the pax header of {name}: {e}"))?;
        }
        header.set_cksum();
        self.builder
            .append(&header, data)
            .map_err(|e| format!("writing {name}: {e}"))
    }
}

/// Puts `name` in ustar's name field, splitting a long one at a `/` into the prefix field;
/// an error if it does not fit either way.
fn set_ustar_name(field: &mut [u8; 100], prefix: &mut [u8; 155], name: &str) -> Result<(), String> {
    if name.len() <= field.len() {
        return copy_field(field, name);
    }
    let split = name
        .char_indices()
        .filter(|&(i, c)| c == '/' && i <= prefix.len() && name.len() - i - 1 <= field.len())
        .map(|(i, _)| i)
        .find(|&i| i + 1 < name.len())
        .ok_or_else(|| format!("{name:?} is too long for a ustar header"))?;
    copy_field(prefix, &name[..split])?;
    copy_field(field, &name[split + 1..])
}

/// The longest prefix of `value` that fits in `limit` bytes, cut at a character boundary.
fn truncate(value: &str, limit: usize) -> &str {
    let mut end = value.len().min(limit);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

fn copy_field(field: &mut [u8], value: &str) -> Result<(), String> {
    if value.len() > field.len() {
        return Err(format!(
            "{value:?} is longer than the {}-byte tar field",
            field.len()
        ));
    }
    field.fill(0);
    field[..value.len()].copy_from_slice(value.as_bytes());
    Ok(())
}

/// One pax extended header record: `"{length} {key}={value}\n"`, where the length counts
/// itself.
fn pax_record(key: &str, value: &str) -> String {
    let rest = format!(" {key}={value}\n");
    let mut length = rest.len() + 1;
    while rest.len() + length.to_string().len() != length {
        length = rest.len() + length.to_string().len();
    }
    format!("{length}{rest}")
}
