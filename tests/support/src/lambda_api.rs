//! A stand-in for the Lambda Runtime API (the HTTP interface a `provided.al2023` function's
//! `bootstrap` polls), so the real origin binary can be run as Lambda runs it: it asks for
//! the next invocation, handles it, and posts the response.
//! Paths and headers are the documented ones (`/2018-06-01/runtime/invocation/next`,
//! `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`, …).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug)]
pub enum Outcome {
    Response(serde_json::Value),
    Error(String),
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, serde_json::Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_errors: Mutex<Vec<String>>,
    /// When the function first asked for an invocation: it is ready.
    first_poll: Mutex<Option<std::time::Instant>>,
}

pub struct FakeRuntimeApi {
    pub addr: SocketAddr,
    sender: mpsc::UnboundedSender<(String, serde_json::Value)>,
    shared: Arc<Shared>,
    counter: Mutex<u64>,
    /// The function's own `/tmp` (`TMPDIR`), as each Lambda execution environment has one:
    /// functions of concurrent tests never share scratch files.
    tmp: tempfile::TempDir,
}

impl FakeRuntimeApi {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(receiver),
            waiting: Mutex::new(HashMap::new()),
            init_errors: Mutex::new(Vec::new()),
            first_poll: Mutex::new(None),
        });
        let server_shared = shared.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let shared = server_shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| serve(shared.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeRuntimeApi {
            addr,
            sender,
            shared,
            counter: Mutex::new(0),
            tmp: tempfile::tempdir().expect("the function's /tmp"),
        }
    }

    /// Queues `event`, waits for the function's answer.
    pub async fn invoke(&self, event: serde_json::Value) -> Outcome {
        let id = {
            let mut counter = self.counter.lock().unwrap();
            *counter += 1;
            format!("req-{counter}")
        };
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().unwrap().insert(id.clone(), tx);
        self.sender.send((id, event)).unwrap();
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "no answer from the function; init errors: {:?}",
                self.shared.init_errors.lock().unwrap()
            ),
        }
    }

    /// When the function first polled for an invocation, if it has.
    /// A command that runs `binary` as Lambda starts a `provided.al2023` function polling this
    /// Runtime API: the runtime's own variables and `PATH`, nothing else of this process's
    /// environment. The caller adds the function's configuration.
    pub fn function_command(&self, binary: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        let mut command = std::process::Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TMPDIR", self.tmp.path())
            .env("AWS_LAMBDA_RUNTIME_API", self.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "tfreg-origin")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]0123")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/tfreg-origin");
        command
    }

    pub fn first_poll(&self) -> Option<std::time::Instant> {
        *self.shared.first_poll.lock().unwrap()
    }

    pub fn init_errors(&self) -> Vec<String> {
        self.shared.init_errors.lock().unwrap().clone()
    }
}

async fn serve(
    shared: Arc<Shared>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = request.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    let accepted = || {
        Response::builder()
            .status(202)
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    };
    if method == hyper::Method::GET && path == "/2018-06-01/runtime/invocation/next" {
        shared
            .first_poll
            .lock()
            .unwrap()
            .get_or_insert_with(std::time::Instant::now);
        let (id, event) = {
            let mut queue = shared.queue.lock().await;
            queue.recv().await.expect("the test keeps the sender")
        };
        let deadline =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(30);
        return Ok(Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .header("lambda-runtime-aws-request-id", &id)
            .header(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            )
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:tfreg-origin",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            )
            .body(Full::new(Bytes::from(event.to_string())))
            .unwrap());
    }
    if method == hyper::Method::POST && path == "/2018-06-01/runtime/init/error" {
        shared.init_errors.lock().unwrap().push(text);
        return Ok(accepted());
    }
    if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
        if let Some((id, kind)) = rest.split_once('/') {
            let outcome = match kind {
                "response" => Outcome::Response(
                    serde_json::from_slice(&body).unwrap_or(serde_json::Value::String(text)),
                ),
                _ => Outcome::Error(text),
            };
            if let Some(waiter) = shared.waiting.lock().unwrap().remove(id) {
                let _ = waiter.send(outcome);
            }
            return Ok(accepted());
        }
    }
    Ok(Response::builder()
        .status(404)
        .body(Full::new(Bytes::from_static(b"not found")))
        .unwrap())
}
