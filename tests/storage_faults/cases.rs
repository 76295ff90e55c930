//! One case: an operation (upload, pin, unpin, token create or revoke), a fault on one of the
//! storage requests it makes, and how often the fault fires. The case runs the operation
//! through the registry, checks the answer and what is stored, and when the operation failed,
//! retries it with the fault gone.

use super::rig::{Rig, MODULE, PINNED_MODULE, STALL};
use std::collections::BTreeSet;
use tfreg_edge::Tier;
use tfreg_origin::OriginResponse;
use tfreg_testkit::archive::versioned_module;
use tfreg_testkit::faults::{Fault, Rule, Service, When};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Upload,
    Pin,
    Unpin,
    TokenCreate,
    TokenRevoke,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::Upload,
        Operation::Pin,
        Operation::Unpin,
        Operation::TokenCreate,
        Operation::TokenRevoke,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::Upload => "upload",
            Operation::Pin => "pin",
            Operation::Unpin => "unpin",
            Operation::TokenCreate => "token create",
            Operation::TokenRevoke => "token revoke",
        }
    }

    fn success(self) -> u16 {
        match self {
            Operation::Upload | Operation::Pin | Operation::TokenCreate => 201,
            Operation::Unpin => 204,
            Operation::TokenRevoke => 200,
        }
    }

    /// The storage requests the operation makes that a fault can hit.
    pub fn targets(self) -> Vec<Target> {
        use Service::{DynamoDb, S3};
        let t = |label, service, operation, subject| Target {
            label,
            service,
            operation,
            subject,
        };
        match self {
            Operation::Upload => vec![
                t("archive HeadObject", S3, "HeadObject", "module.tar.gz"),
                t("namespace mark PutObject", S3, "PutObject", ".uploads"),
                t("archive PutObject", S3, "PutObject", "module.tar.gz"),
                t("index GetObject", S3, "GetObject", "versions.json"),
                t("index PutObject", S3, "PutObject", "versions.json"),
                t("docs PutObject", S3, "PutObject", "docs.json"),
                t("catalogue PutObject", S3, "PutObject", "modules.json"),
            ],
            Operation::Pin => vec![
                t("archive PutObject", S3, "PutObject", "module.tar.gz"),
                t("index PutObject", S3, "PutObject", "versions.json"),
                t("pin record PutItem", DynamoDb, "PutItem", "pin#"),
            ],
            Operation::Unpin => vec![
                t("archive HeadObject", S3, "HeadObject", "module.tar.gz"),
                t("index PutObject", S3, "PutObject", "versions.json"),
                t("pin record GetItem", DynamoDb, "GetItem", "pin#"),
                t("archive DeleteObject", S3, "DeleteObject", "module.tar.gz"),
                t("pin record DeleteItem", DynamoDb, "DeleteItem", "pin#"),
            ],
            Operation::TokenCreate => {
                vec![t("TransactWriteItems", DynamoDb, "TransactWriteItems", "")]
            }
            Operation::TokenRevoke => vec![
                t("name GetItem", DynamoDb, "GetItem", "name#"),
                t("TransactWriteItems", DynamoDb, "TransactWriteItems", ""),
            ],
        }
    }
}

/// The request a fault hits.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub label: &'static str,
    pub service: Service,
    pub operation: &'static str,
    pub subject: &'static str,
}

impl Target {
    pub fn rule(&self, fault: Fault, when: When) -> Rule {
        let rule = match self.service {
            Service::S3 => Rule::s3(self.operation, fault, when),
            Service::DynamoDb => Rule::dynamodb(self.operation, fault, when),
        };
        rule.on(self.subject)
    }

    /// The faults this request can meet.
    pub fn faults(&self) -> Vec<Fault> {
        let mut faults = vec![
            Fault::ServerError,
            Fault::SlowDown,
            Fault::ResetBefore,
            Fault::ResetAfter,
            Fault::Stall(STALL),
        ];
        match (self.service, self.operation) {
            (Service::S3, "PutObject" | "DeleteObject") => faults.push(Fault::ConditionalConflict),
            (Service::S3, _) => {}
            (Service::DynamoDb, op) => {
                faults.extend([Fault::Throttling, Fault::ThroughputExceeded]);
                match op {
                    "TransactWriteItems" => faults.push(Fault::TransactionConflict),
                    "PutItem" | "DeleteItem" => faults.push(Fault::TransactionConflictException),
                    _ => {}
                }
            }
        }
        faults
    }
}

/// What one case found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub operation: Operation,
    pub target: &'static str,
    pub fault: Fault,
    pub when: When,
    /// Requests the fault's rule matched (the attempts at the target) and faults injected.
    pub attempts: u64,
    pub injected: u64,
    pub status: u16,
    /// The status of the retry with the fault gone, when the first try failed.
    pub retry_status: Option<u16>,
    /// Every broken promise; empty when the case holds.
    pub problems: Vec<String>,
    /// Allowed lags (the catalogue behind a best-effort update that failed).
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn holds(&self) -> bool {
        self.problems.is_empty()
    }

    /// "holds", "holds; catalogue lags: …", or the broken promises.
    pub fn verdict(&self) -> String {
        if !self.holds() {
            return self.problems.join("; ");
        }
        match self.notes.as_slice() {
            [] => "holds".to_owned(),
            notes => format!("holds; catalogue lags: {}", notes.join("; ")),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} / {} / {} / {:?}: {} attempts, {} injected, status {}{}; {}",
            self.operation.name(),
            self.target,
            self.fault.name(),
            self.when,
            self.attempts,
            self.injected,
            self.status,
            self.retry_status
                .map(|s| format!(", retry {s}"))
                .unwrap_or_default(),
            self.verdict()
        )
    }
}

/// Faults the SDK and the stores are expected to ride out when they fire once: everything but
/// DynamoDB's `TransactionConflictException` on a single-item write, which the SDK does not
/// retry (pin items are never part of a transaction, so it cannot happen to them).
fn ridden_out(fault: Fault) -> bool {
    fault != Fault::TransactionConflictException
}

/// Runs `operation` on case number `n` (its own version or token name) with `fault` on
/// `target` when `when` says.
pub async fn run(
    rig: &Rig,
    operation: Operation,
    n: usize,
    target: Target,
    fault: Fault,
    when: When,
) -> Outcome {
    prepare(rig, operation, n).await;
    let rule = rig.proxy.add(target.rule(fault, when));
    let first = perform(rig, operation, n).await;
    let stats = rig.proxy.remove(rule);
    rig.proxy.quiesce().await;
    let mut outcome = Outcome {
        operation,
        target: target.label,
        fault,
        when,
        attempts: stats.matched,
        injected: stats.injected,
        status: first.status,
        retry_status: None,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let problems = &mut outcome.problems;
    check_answer(&first, operation, problems);
    if stats.injected == 0 && !matches!(when, When::Probability(..)) {
        problems.push("the fault never fired: the target was not requested".into());
    }
    if matches!(when, When::First(1)) && ridden_out(fault) && first.status != operation.success() {
        problems.push(format!(
            "a single {} was not ridden out: {}",
            fault.name(),
            text(&first)
        ));
    }
    if first.status == operation.success() {
        check_done(rig, operation, n, &first, problems).await;
    }
    // The catalogue's update is best effort (logged, and put right by the module's next
    // change or `tfreg reindex --all`): when the fault hits its own write, or the reads it
    // computes the entry from (the index, the latest version's metadata), it may lag; that
    // is noted, not a broken promise.
    let catalogue_may_lag = matches!(
        target.label,
        "catalogue PutObject" | "index GetObject" | "archive HeadObject"
    );
    let mut lag = Vec::new();
    check_invariants(rig, problems, catalogue_may_lag.then_some(&mut lag)).await;
    outcome.notes = lag;
    if first.status != operation.success() {
        let retry = perform(rig, operation, n).await;
        outcome.retry_status = Some(retry.status);
        if retry.status == operation.success() {
            check_done(rig, operation, n, &retry, &mut outcome.problems).await;
        } else {
            outcome.problems.push(format!(
                "the retry without the fault failed: {}",
                text(&retry)
            ));
        }
        check_invariants(rig, &mut outcome.problems, None).await;
    }
    outcome
}

fn upload_version(n: usize) -> String {
    format!("1.{n}.0")
}

fn pin_version(n: usize) -> String {
    format!("0.{n}.0")
}

fn token_name(n: usize) -> String {
    format!("ci-{n}")
}

fn text(response: &OriginResponse) -> String {
    format!(
        "{} {}",
        response.status,
        String::from_utf8_lossy(&response.body)
    )
}

fn json(response: &OriginResponse) -> serde_json::Value {
    serde_json::from_slice(&response.body).unwrap_or(serde_json::Value::Null)
}

/// What must exist before the operation: a pin to remove, a token to revoke.
async fn prepare(rig: &Rig, operation: Operation, n: usize) {
    let prepared = match operation {
        Operation::Unpin => Some(perform(rig, Operation::Pin, n).await),
        Operation::TokenRevoke => Some(perform(rig, Operation::TokenCreate, n).await),
        _ => None,
    };
    if let Some(response) = prepared {
        assert!(
            matches!(response.status, 201),
            "preparing {}: {}",
            operation.name(),
            text(&response)
        );
    }
}

pub async fn perform(rig: &Rig, operation: Operation, n: usize) -> OriginResponse {
    match operation {
        Operation::Upload => {
            let version = upload_version(n);
            rig.as_master(
                "PUT",
                &format!("/v1/modules/{MODULE}/{version}"),
                Some(versioned_module(&version)),
            )
            .await
        }
        Operation::Pin => {
            rig.as_master(
                "POST",
                &format!("/v1/pins/{PINNED_MODULE}/{}", pin_version(n)),
                None,
            )
            .await
        }
        Operation::Unpin => {
            rig.as_master(
                "DELETE",
                &format!("/v1/pins/{PINNED_MODULE}/{}", pin_version(n)),
                None,
            )
            .await
        }
        Operation::TokenCreate => {
            let body = serde_json::json!({"name": token_name(n), "permission": "downloader"});
            rig.as_master("POST", "/v1/tokens", Some(body.to_string().into_bytes()))
                .await
        }
        Operation::TokenRevoke => {
            rig.as_master("DELETE", &format!("/v1/tokens/{}", token_name(n)), None)
                .await
        }
    }
}

/// The answer is the operation's success, or a clear `503` that says nothing of the
/// storage's own error.
fn check_answer(response: &OriginResponse, operation: Operation, problems: &mut Vec<String>) {
    if response.status == operation.success() {
        return;
    }
    let body = json(response);
    if response.status != 503 || body["code"] != "storage_unavailable" {
        problems.push(format!("not a clear 503: {}", text(response)));
    }
    let raw = String::from_utf8_lossy(&response.body).to_lowercase();
    for leak in [
        "127.0.0.1",
        "dispatch",
        "internalerror",
        "slowdown",
        "throttl",
        "conflict",
        "tfreg-",
        "service error",
        "timeout",
    ] {
        if raw.contains(leak) {
            problems.push(format!(
                "the error names storage internals ({leak:?}): {raw}"
            ));
        }
    }
}

/// A success did what it says.
async fn check_done(
    rig: &Rig,
    operation: Operation,
    n: usize,
    response: &OriginResponse,
    problems: &mut Vec<String>,
) {
    match operation {
        Operation::Upload => {
            let key = format!("archives/{MODULE}/{}/module.tar.gz", upload_version(n));
            if rig.object(&key).await.is_none() {
                problems.push("201 for an upload with nothing stored".into());
            }
        }
        Operation::Pin => {
            let version = pin_version(n);
            if rig
                .object(&format!("archives/{PINNED_MODULE}/{version}/module.tar.gz"))
                .await
                .is_none()
            {
                problems.push("201 for a pin with no archive stored".into());
            }
            if rig
                .item(&format!("pin#{PINNED_MODULE}/{version}"))
                .await
                .is_none()
            {
                problems.push("201 for a pin with no pin record".into());
            }
        }
        Operation::Unpin => {
            let version = pin_version(n);
            if rig
                .object(&format!("archives/{PINNED_MODULE}/{version}/module.tar.gz"))
                .await
                .is_some()
            {
                problems.push("204 for an unpin that left the archive".into());
            }
            if rig
                .item(&format!("pin#{PINNED_MODULE}/{version}"))
                .await
                .is_some()
            {
                problems.push("204 for an unpin that left the pin record".into());
            }
        }
        Operation::TokenCreate => {
            let value = json(response)["token_value"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let hash = tfreg_edge::hash_token(&value);
            let item = rig.item(&format!("token#{}", hash.as_hex())).await;
            if item.is_none() {
                problems.push("201 for a token that is not stored".into());
            }
            let name = rig.item(&format!("name#{}", token_name(n))).await;
            let names_it = name
                .as_ref()
                .and_then(|item| item.get("token_hash")?.as_s().ok().cloned())
                == Some(hash.as_hex().to_owned());
            if !names_it {
                problems.push("201 for a token whose name names another token".into());
            }
        }
        Operation::TokenRevoke => {
            if rig.item(&format!("name#{}", token_name(n))).await.is_some() {
                problems.push("200 for a revoke that left the token's name".into());
            }
        }
    }
}

/// How a list of versions differs from the objects there.
fn difference(listed: &BTreeSet<String>, objects: &BTreeSet<String>) -> String {
    let missing: Vec<&String> = objects.difference(listed).collect();
    let extra: Vec<&String> = listed.difference(objects).collect();
    format!("lacks {missing:?} (stored) and offers {extra:?} (not stored)")
}

/// Versions stored as objects, by module.
async fn stored_versions(rig: &Rig, module: &str) -> BTreeSet<String> {
    rig.keys(&format!("archives/{module}/"))
        .await
        .iter()
        .filter_map(|key| {
            let rest = key.strip_prefix(&format!("archives/{module}/"))?;
            rest.strip_suffix("/module.tar.gz").map(str::to_owned)
        })
        .collect()
}

/// What is stored agrees with itself: each module's index lists exactly its objects and so
/// does the registry's answer, the catalogue has each module's count (unless the fault was on
/// the catalogue itself: `catalogue_may_lag`), pin records and pinned archives go together,
/// and every token's two items name each other.
pub async fn check_invariants(
    rig: &Rig,
    problems: &mut Vec<String>,
    mut catalogue_lag: Option<&mut Vec<String>>,
) {
    let catalogue: serde_json::Value = rig
        .object("archives/_catalogue/modules.json")
        .await
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(serde_json::json!({"modules": []}));
    for module in [MODULE, PINNED_MODULE] {
        let objects = stored_versions(rig, module).await;
        if let Some(bytes) = rig
            .object(&format!("archives/{module}/versions.json"))
            .await
        {
            let index: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let listed: BTreeSet<String> = index["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            if listed != objects {
                problems.push(format!(
                    "{module}: versions.json {}",
                    difference(&listed, &objects)
                ));
            }
        }
        let answer = rig
            .request(
                "GET",
                &format!("/v1/modules/{module}/versions"),
                ("reader", Tier::Downloader),
                None,
            )
            .await;
        let answered: BTreeSet<String> = json(&answer)["modules"][0]["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["version"].as_str().map(str::to_owned))
            .collect();
        if answered != objects {
            problems.push(format!(
                "{module}: the registry's list {}",
                difference(&answered, &objects)
            ));
        }
        let (namespace, rest) = module.split_once('/').unwrap();
        let name = rest.split('/').next().unwrap();
        let entry = catalogue["modules"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["namespace"] == namespace && e["name"] == name);
        let counted = entry.and_then(|e| e["versions"].as_u64()).unwrap_or(0) as usize;
        if counted != objects.len() {
            let lag = format!(
                "{module}: the catalogue counts {counted} versions, there are {}",
                objects.len()
            );
            match catalogue_lag.as_deref_mut() {
                Some(notes) => notes.push(lag),
                None => problems.push(lag),
            }
        }
    }
    let pinned = stored_versions(rig, PINNED_MODULE).await;
    let scanned = rig
        .dynamodb
        .scan()
        .table_name(&rig.table)
        .consistent_read(true)
        .send()
        .await
        .expect("scanning moto directly");
    let mut records = BTreeSet::new();
    let mut names = 0;
    for item in scanned.items() {
        let pk = item["pk"].as_s().unwrap();
        if let Some(pin) = pk.strip_prefix(&format!("pin#{PINNED_MODULE}/")) {
            records.insert(pin.to_owned());
        } else if let Some(name) = pk.strip_prefix("name#") {
            names += 1;
            let hash = item
                .get("token_hash")
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let token = scanned.items().iter().find(|i| {
                i["pk"].as_s().ok().map(String::as_str) == Some(&format!("token#{hash}"))
            });
            if token
                .and_then(|t| t.get("token_name")?.as_s().ok())
                .map(String::as_str)
                != Some(name)
            {
                problems.push(format!("token name {name:?} without its token item"));
            }
        }
    }
    let tokens = scanned
        .items()
        .iter()
        .filter(|i| i["pk"].as_s().is_ok_and(|pk| pk.starts_with("token#")))
        .count();
    if tokens != names {
        problems.push(format!("{tokens} token items but {names} name items"));
    }
    if records != pinned {
        problems.push(format!(
            "pin records {records:?}, pinned archives {pinned:?}"
        ));
    }
}
