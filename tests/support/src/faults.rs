//! A fault-injecting proxy between the AWS SDK clients and the S3/DynamoDB protocol server
//! (moto): plain HTTP/1.1 on a loopback port, forwarding every request unchanged unless a
//! [`Rule`] matches it, in which case it answers (or breaks the connection) the way S3 or
//! DynamoDB do when they fail: `500 InternalError`, `503 SlowDown`, DynamoDB throttling,
//! a connection reset before or after the request reached the server, a stall, and the
//! conditional-write conflicts moto never produces by itself (S3's `409
//! ConditionalRequestConflict`, DynamoDB's `TransactionConflict`).
//!
//! Requests are classified by service (DynamoDB carries `X-Amz-Target`; everything else is
//! S3, path-style) and operation ([`classify`]), so a rule can say "the second `PutObject` of a
//! key containing `versions.json`". The proxy counts what it saw per operation and what each
//! rule matched and injected: tests assert that the SDK tried again (attempts > 1), and the
//! full run reports the counts.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Which protocol a request speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    S3,
    DynamoDb,
}

/// A request as the rules see it.
#[derive(Debug, Clone)]
pub struct Classified {
    pub service: Service,
    /// `PutObject`, `GetObject`, `HeadObject`, `DeleteObject`, `CopyObject`, `ListObjectsV2`,
    /// `CreateBucket`, …; for DynamoDB the target's operation (`PutItem`, `TransactWriteItems`).
    pub operation: String,
    /// S3: the object key (after the bucket). DynamoDB: the request body, so that a rule can
    /// match an item key such as `"name#ci"` by substring.
    pub subject: String,
}

/// What a request is, from its method, path, query and headers.
pub fn classify(
    method: &str,
    path: &str,
    query: &str,
    target: Option<&str>,
    body: &[u8],
) -> Classified {
    if let Some(target) = target {
        return Classified {
            service: Service::DynamoDb,
            operation: target.rsplit('.').next().unwrap_or(target).to_owned(),
            subject: String::from_utf8_lossy(body).into_owned(),
        };
    }
    let trimmed = path.trim_start_matches('/');
    let key = trimmed.split_once('/').map(|(_, key)| key).unwrap_or("");
    let key = percent_decode(key);
    let has = |name: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    };
    let operation = match (method, key.is_empty()) {
        ("GET", _) if has("list-type") => "ListObjectsV2",
        ("GET", true) => "ListObjects",
        ("GET", false) => "GetObject",
        ("HEAD", false) => "HeadObject",
        ("HEAD", true) => "HeadBucket",
        ("PUT", true) => "CreateBucket",
        ("PUT", false) => "PutObject",
        ("DELETE", false) => "DeleteObject",
        ("DELETE", true) => "DeleteBucket",
        ("POST", true) if has("delete") => "DeleteObjects",
        (other, _) => other,
    };
    Classified {
        service: Service::S3,
        operation: operation.to_owned(),
        subject: key,
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500`: S3's `InternalError`, DynamoDB's `InternalServerError`.
    ServerError,
    /// `503`: S3's `SlowDown`, DynamoDB's `ServiceUnavailable`.
    SlowDown,
    /// DynamoDB's `400 ThrottlingException`.
    Throttling,
    /// DynamoDB's `400 ProvisionedThroughputExceededException`.
    ThroughputExceeded,
    /// The connection is reset before the request is forwarded: nothing happened.
    ResetBefore,
    /// The request is forwarded and done, then the connection is reset instead of the answer:
    /// the write happened, and the client cannot know.
    ResetAfter,
    /// The request is forwarded at once, and its answer held this long: the server acted, and
    /// a client with a shorter timeout gives up first (and, like the SDK, tries again).
    Stall(Duration),
    /// S3's `409 ConditionalRequestConflict` (a concurrent conditional write to the key).
    ConditionalConflict,
    /// DynamoDB's `400 TransactionCanceledException` with a `TransactionConflict` reason.
    TransactionConflict,
    /// DynamoDB's `400 TransactionConflictException` (an item write meeting a transaction).
    TransactionConflictException,
}

impl Fault {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            Fault::ServerError => "500 InternalError".into(),
            Fault::SlowDown => "503 SlowDown".into(),
            Fault::Throttling => "400 ThrottlingException".into(),
            Fault::ThroughputExceeded => "400 ProvisionedThroughputExceeded".into(),
            Fault::ResetBefore => "reset before forwarding".into(),
            Fault::ResetAfter => "reset after forwarding".into(),
            Fault::Stall(d) => format!("stall {} ms", d.as_millis()),
            Fault::ConditionalConflict => "409 ConditionalRequestConflict".into(),
            Fault::TransactionConflict => "TransactionCanceled: TransactionConflict".into(),
            Fault::TransactionConflictException => "400 TransactionConflictException".into(),
        }
    }
}

/// Which of the matching requests fail.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// The first `n` that match.
    First(u64),
    /// Every one.
    Always,
    /// The `n`th, `2n`th, … (1-based).
    EveryNth(u64),
    /// Each with probability `p`, from a seeded generator.
    Probability(f64, u64),
}

/// One fault: the requests it applies to, when, and how they fail.
#[derive(Debug, Clone)]
pub struct Rule {
    pub service: Service,
    /// `None`: every operation of the service.
    pub operation: Option<String>,
    /// A substring of [`Classified::subject`] (an S3 key, a DynamoDB request body).
    pub subject: Option<String>,
    pub when: When,
    pub fault: Fault,
}

impl Rule {
    pub fn s3(operation: &str, fault: Fault, when: When) -> Self {
        Rule {
            service: Service::S3,
            operation: Some(operation.to_owned()),
            subject: None,
            when,
            fault,
        }
    }

    pub fn dynamodb(operation: &str, fault: Fault, when: When) -> Self {
        Rule {
            service: Service::DynamoDb,
            operation: Some(operation.to_owned()),
            subject: None,
            when,
            fault,
        }
    }

    /// Only requests whose subject contains `text`.
    pub fn on(mut self, text: &str) -> Self {
        self.subject = Some(text.to_owned());
        self
    }

    fn matches(&self, request: &Classified) -> bool {
        self.service == request.service
            && self
                .operation
                .as_deref()
                .is_none_or(|op| op == request.operation)
            && self
                .subject
                .as_deref()
                .is_none_or(|text| request.subject.contains(text))
    }
}

/// What a rule has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleStats {
    /// Requests the rule matched.
    pub matched: u64,
    /// Faults it injected.
    pub injected: u64,
}

struct ActiveRule {
    rule: Rule,
    stats: RuleStats,
    rng: StdRng,
}

impl ActiveRule {
    fn fires(&mut self) -> bool {
        self.stats.matched += 1;
        let fire = match self.rule.when {
            When::First(n) => self.stats.matched <= n,
            When::Always => true,
            When::EveryNth(n) => n > 0 && self.stats.matched.is_multiple_of(n),
            When::Probability(p, _) => self.rng.gen_bool(p.clamp(0.0, 1.0)),
        };
        if fire {
            self.stats.injected += 1;
        }
        fire
    }
}

#[derive(Default)]
struct State {
    rules: Vec<Option<ActiveRule>>,
    /// Requests seen per operation (`S3 PutObject`), faulted or not.
    seen: BTreeMap<String, u64>,
    /// Requests that reached the server.
    forwarded: u64,
    /// The server's answers to forwarded requests, per operation and status (`S3 GetObject`,
    /// 304): how many, and their body bytes.
    answered: BTreeMap<(String, u16), Answered>,
    /// Requests being handled (a stalled one, until it is forwarded and answered).
    in_flight: u64,
}

/// The server's answers of one operation and status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answered {
    pub count: u64,
    /// Body bytes of all of them together.
    pub body_bytes: u64,
}

/// A rule's handle, for its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleId(usize);

/// The proxy: started on a free loopback port in front of `upstream`, stopped when dropped.
pub struct FaultProxy {
    endpoint: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream` (`http://127.0.0.1:PORT`, moto's endpoint).
    pub async fn start(upstream: &str) -> FaultProxy {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("an http://IP:PORT upstream");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                // A reset is a close with SO_LINGER 0: the client reads ECONNRESET.
                let _ = stream.set_zero_linger();
                let _ = stream.set_nodelay(true);
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move {
                            state.lock().unwrap().in_flight += 1;
                            // Spawned, so that it finishes (and is counted out) even when
                            // the client hangs up first.
                            tokio::spawn(async move {
                                let handled = handle(request, upstream, state.clone()).await;
                                state.lock().unwrap().in_flight -= 1;
                                handled
                            })
                            .await
                            .unwrap_or(Err(Broken("handler panicked")))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint,
            state,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`: give it to the SDK (or `tfreg serve --endpoint-url`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Adds a rule; the first matching rule that fires decides a request's fate.
    pub fn add(&self, rule: Rule) -> RuleId {
        let seed = match rule.when {
            When::Probability(_, seed) => seed,
            _ => 0,
        };
        let mut state = self.state.lock().unwrap();
        state.rules.push(Some(ActiveRule {
            rule,
            stats: RuleStats::default(),
            rng: StdRng::seed_from_u64(seed),
        }));
        RuleId(state.rules.len() - 1)
    }

    /// Stops a rule (its counts stay readable).
    pub fn remove(&self, id: RuleId) -> RuleStats {
        let mut state = self.state.lock().unwrap();
        let stats = self.stats_locked(&state, id);
        if let Some(Some(active)) = state.rules.get_mut(id.0) {
            // Kept in place for its counts; a rule that never fires again.
            active.rule.when = When::First(0);
        }
        stats
    }

    /// Stops every rule.
    pub fn clear(&self) {
        let ids: Vec<RuleId> = (0..self.state.lock().unwrap().rules.len())
            .map(RuleId)
            .collect();
        for id in ids {
            self.remove(id);
        }
    }

    pub fn stats(&self, id: RuleId) -> RuleStats {
        let state = self.state.lock().unwrap();
        self.stats_locked(&state, id)
    }

    fn stats_locked(&self, state: &State, id: RuleId) -> RuleStats {
        state
            .rules
            .get(id.0)
            .and_then(Option::as_ref)
            .map(|active| active.stats)
            .unwrap_or_default()
    }

    /// Requests seen for an operation (`"PutObject"`, `"TransactWriteItems"`), faulted or not.
    pub fn seen(&self, operation: &str) -> u64 {
        let state = self.state.lock().unwrap();
        state
            .seen
            .iter()
            .filter(|(name, _)| name.split(' ').nth(1) == Some(operation))
            .map(|(_, n)| n)
            .sum()
    }

    /// The server's answers to `operation` (`"GetObject"`), by status, with their body
    /// bytes: what a request that was not faulted got back.
    pub fn answered(&self, operation: &str) -> BTreeMap<u16, Answered> {
        let state = self.state.lock().unwrap();
        let mut answers = BTreeMap::new();
        for ((name, status), answered) in &state.answered {
            if name.split(' ').nth(1) == Some(operation) {
                let entry: &mut Answered = answers.entry(*status).or_default();
                entry.count += answered.count;
                entry.body_bytes += answered.body_bytes;
            }
        }
        answers
    }

    /// Requests that reached the server.
    pub fn forwarded(&self) -> u64 {
        self.state.lock().unwrap().forwarded
    }

    /// Waits until no request is being handled: a stalled request is forwarded late (after
    /// the client gave up), and what it writes must land before anything is checked.
    pub async fn quiesce(&self) {
        while self.state.lock().unwrap().in_flight > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Forgets the per-operation counts (rules keep theirs).
    pub fn reset_counts(&self) {
        let mut state = self.state.lock().unwrap();
        state.seen.clear();
        state.answered.clear();
        state.forwarded = 0;
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a connection was broken on purpose (what hyper is handed to close it).
#[derive(Debug)]
struct Broken(&'static str);

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Broken {}

async fn handle(
    request: Request<Incoming>,
    upstream: SocketAddr,
    state: Arc<Mutex<State>>,
) -> Result<Response<Full<Bytes>>, Broken> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| Broken("request body"))?
        .to_bytes();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let classified = classify(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        target,
        &body,
    );
    let label = format!(
        "{} {}",
        match classified.service {
            Service::S3 => "S3",
            Service::DynamoDb => "DynamoDB",
        },
        classified.operation
    );
    let fault = {
        let mut state = state.lock().unwrap();
        *state.seen.entry(label.clone()).or_default() += 1;
        let mut fault = None;
        for active in state.rules.iter_mut().flatten() {
            if active.rule.matches(&classified) && active.fires() {
                fault = Some(active.rule.fault);
                break;
            }
        }
        fault
    };
    let is_head = parts.method == hyper::Method::HEAD;
    match fault {
        None => {}
        Some(Fault::ResetBefore) => return Err(Broken("reset before forwarding")),
        Some(Fault::ResetAfter) => {
            forward(parts, body, upstream, &state).await?;
            return Err(Broken("reset after forwarding"));
        }
        Some(Fault::Stall(duration)) => {
            let answer = forward(parts, body, upstream, &state).await;
            tokio::time::sleep(duration).await;
            return answer;
        }
        Some(fault) => return Ok(fault_response(fault, &classified, &body, is_head)),
    }
    let answer = forward(parts, body, upstream, &state).await?;
    {
        let mut state = state.lock().unwrap();
        let answered = state
            .answered
            .entry((label, answer.status().as_u16()))
            .or_default();
        answered.count += 1;
        answered.body_bytes += answer.body().size_hint().exact().unwrap_or(0);
    }
    Ok(answer)
}

async fn forward(
    parts: hyper::http::request::Parts,
    body: Bytes,
    upstream: SocketAddr,
    state: &Mutex<State>,
) -> Result<Response<Full<Bytes>>, Broken> {
    let stream = TcpStream::connect(upstream)
        .await
        .map_err(|_| Broken("connecting upstream"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Broken("upstream handshake"))?;
    tokio::spawn(connection);
    let request = Request::from_parts(parts, Full::new(body));
    state.lock().unwrap().forwarded += 1;
    let response = sender
        .send_request(request)
        .await
        .map_err(|_| Broken("upstream request"))?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| Broken("upstream body"))?
        .to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// The answer S3 or DynamoDB gives for `fault`.
fn fault_response(
    fault: Fault,
    request: &Classified,
    body: &[u8],
    is_head: bool,
) -> Response<Full<Bytes>> {
    match request.service {
        Service::S3 => {
            let (status, code, message) = match fault {
                Fault::ServerError => (500, "InternalError", "We encountered an internal error. Please try again."),
                Fault::ConditionalConflict => (409, "ConditionalRequestConflict", "A conflicting operation occurred. If using PutObject you can retry the request. If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part."),
                // S3's throttling is SlowDown; DynamoDB-only faults are answered the same way.
                _ => (503, "SlowDown", "Please reduce your request rate."),
            };
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>FAULTPROXY</RequestId><HostId>fault-proxy</HostId></Error>"
            );
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .header("content-type", "application/xml")
                .header("x-amz-request-id", "FAULTPROXY")
                .body(Full::new(if is_head {
                    Bytes::new()
                } else {
                    Bytes::from(xml)
                }))
                .unwrap()
        }
        Service::DynamoDb => {
            let prefix = "com.amazonaws.dynamodb.v20120810#";
            let (status, document) = match fault {
                Fault::ServerError => (
                    500,
                    serde_json::json!({"__type": format!("{prefix}InternalServerError"), "message": "Internal server error"}),
                ),
                Fault::SlowDown => (
                    503,
                    serde_json::json!({"__type": format!("{prefix}ServiceUnavailable"), "message": "Service unavailable"}),
                ),
                Fault::ThroughputExceeded => (
                    400,
                    serde_json::json!({"__type": format!("{prefix}ProvisionedThroughputExceededException"), "message": "The level of configured provisioned throughput for the table was exceeded."}),
                ),
                Fault::TransactionConflictException => (
                    400,
                    serde_json::json!({"__type": format!("{prefix}TransactionConflictException"), "message": "Transaction is ongoing for the item"}),
                ),
                Fault::TransactionConflict => {
                    let items = serde_json::from_slice::<serde_json::Value>(body)
                        .ok()
                        .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
                        .unwrap_or(1)
                        .max(1);
                    let mut reasons = vec![
                        serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}),
                    ];
                    reasons.extend((1..items).map(|_| serde_json::json!({"Code": "None"})));
                    let names: Vec<&str> = reasons
                        .iter()
                        .map(|r| r["Code"].as_str().unwrap())
                        .collect();
                    (
                        400,
                        serde_json::json!({
                            "__type": format!("{prefix}TransactionCanceledException"),
                            "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", names.join(", ")),
                            "CancellationReasons": reasons,
                        }),
                    )
                }
                // Throttling, and S3-only faults on a DynamoDB request.
                _ => (
                    400,
                    serde_json::json!({"__type": "com.amazon.coral.availability#ThrottlingException", "message": "Rate of requests exceeds the allowed throughput."}),
                ),
            };
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap())
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amzn-requestid", "FAULTPROXY")
                .body(Full::new(Bytes::from(document.to_string())))
                .unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_by_service_and_operation() {
        let s3 = |method, path, query| classify(method, path, query, None, b"").operation;
        assert_eq!(
            s3("PUT", "/b/archives/a/v/aws/1.0.0/module.tar.gz", ""),
            "PutObject"
        );
        assert_eq!(s3("GET", "/b", "list-type=2&prefix=x"), "ListObjectsV2");
        assert_eq!(s3("GET", "/b/k", ""), "GetObject");
        assert_eq!(s3("HEAD", "/b/k", ""), "HeadObject");
        assert_eq!(s3("DELETE", "/b/k", "x-id=DeleteObject"), "DeleteObject");
        assert_eq!(s3("PUT", "/b", ""), "CreateBucket");
        let key = classify("GET", "/b/a%2Fb/versions.json", "", None, b"").subject;
        assert_eq!(key, "a/b/versions.json");
        let dynamo = classify(
            "POST",
            "/",
            "",
            Some("DynamoDB_20120810.TransactWriteItems"),
            br#"{"x":"name#ci"}"#,
        );
        assert_eq!(dynamo.service, Service::DynamoDb);
        assert_eq!(dynamo.operation, "TransactWriteItems");
        assert!(
            Rule::dynamodb("TransactWriteItems", Fault::Throttling, When::Always)
                .on("name#ci")
                .matches(&dynamo)
        );
    }

    #[test]
    fn occurrences_follow_the_rule() {
        let rule = |when| ActiveRule {
            rule: Rule::s3("GetObject", Fault::ServerError, when),
            stats: RuleStats::default(),
            rng: StdRng::seed_from_u64(7),
        };
        let fired = |mut active: ActiveRule| (0..6).map(|_| active.fires()).collect::<Vec<_>>();
        assert_eq!(
            fired(rule(When::First(2))),
            [true, true, false, false, false, false]
        );
        assert_eq!(
            fired(rule(When::EveryNth(3))),
            [false, false, true, false, false, true]
        );
        assert_eq!(fired(rule(When::Always)), [true; 6]);
        let a = fired(rule(When::Probability(0.5, 7)));
        assert_eq!(a, fired(rule(When::Probability(0.5, 7))), "seeded");
    }
}
