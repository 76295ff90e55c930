//! A stand-in that serves whatever files it is given, by path: enough for a provider
//! registry (discovery, version lists and download answers are JSON files at fixed paths) and
//! for a release host (zips, `SHA256SUMS` and signatures). Files can be replaced while it
//! runs, which is how tests tamper with a release.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::lock;

#[derive(Default)]
struct Files {
    by_path: Mutex<HashMap<String, Bytes>>,
    /// How long answers for paths ending with a suffix wait before they are sent.
    delays: Mutex<Vec<(String, std::time::Duration)>>,
    log: Mutex<Vec<String>>,
}

/// A plain HTTP file server on a loopback port. Unknown paths are `404`. Dropping it (or
/// [`FileServer::shutdown`]) stops it: later connections are refused.
pub struct FileServer {
    url: String,
    files: Arc<Files>,
    stop: watch::Sender<bool>,
    accept_loop: Mutex<Option<JoinHandle<()>>>,
}

impl FileServer {
    pub async fn start() -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the file stand-in");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let files = Arc::new(Files::default());
        let (stop, stopped) = watch::channel(false);
        let accept_loop = tokio::spawn(accept_loop(listener, files.clone(), stopped));
        FileServer {
            url,
            files,
            stop,
            accept_loop: Mutex::new(Some(accept_loop)),
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves `body` at `path` (`/v1/providers/…`), replacing what was there.
    pub fn put(&self, path: &str, body: impl Into<Bytes>) {
        lock(&self.files.by_path).insert(path.to_owned(), body.into());
    }

    /// Holds each answer for a path ending with `suffix` (`.zip`) for `delay` before sending
    /// it: a slow release host.
    pub fn delay(&self, suffix: &str, delay: std::time::Duration) {
        lock(&self.files.delays).push((suffix.to_owned(), delay));
    }

    /// Requests received, oldest first: `"GET /path"`.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.files.log).clone()
    }

    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let accept_loop = lock(&self.accept_loop).take();
        if let Some(accept_loop) = accept_loop {
            let _ = accept_loop.await;
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if let Some(accept_loop) = lock(&self.accept_loop).take() {
            accept_loop.abort();
        }
    }
}

async fn accept_loop(listener: TcpListener, files: Arc<Files>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stopped| *stopped) => break,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let files = files.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| serve(files.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve(
    files: Arc<Files>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    lock(&files.log).push(format!("{} {path}", request.method()));
    let delay = lock(&files.delays)
        .iter()
        .find(|(suffix, _)| path.ends_with(suffix.as_str()))
        .map(|(_, delay)| *delay);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let body = lock(&files.by_path).get(&path).cloned();
    let mut response = match body {
        Some(body) => Response::new(Full::new(body)),
        None => {
            let mut response = Response::new(Full::new(Bytes::from_static(
                b"{\"errors\":[\"Not Found\"]}",
            )));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        }
    };
    let content_type = if path.ends_with(".json") || path.starts_with("/v1/") {
        "application/json"
    } else {
        "application/octet-stream"
    };
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static(content_type));
    Ok(response)
}
