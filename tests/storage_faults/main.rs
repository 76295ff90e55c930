//! Storage faults: the registry over S3 and DynamoDB (moto) with a fault-injecting proxy
//! between its SDK clients and the server ([`tfreg_testkit::faults`]). Under `500`s, `503
//! SlowDown`, throttling, connection resets before and after the server acted, stalls past
//! the SDK's timeout, and the conditional-write conflicts moto never produces itself, every
//! upload, pin, unpin, token creation and revocation either succeeds (the SDK or the store
//! retried) or answers a clear `503`; afterwards no partial version is visible, each
//! `versions.json` lists exactly the objects there, the catalogue agrees, tokens are whole or
//! absent, and the same request without the fault succeeds.
//!
//! The quick cases below run in CI (`cargo test -p tfreg-cloudfront --test storage_faults`);
//! the whole matrix, every operation × request × fault, once, persistently and at random with
//! several seeds, is `full_matrix` (ignored by default), which writes tests/faults/RESULTS.md.

mod cases;
#[path = "../common/mod.rs"]
mod common;
mod listings;
mod matrix;
mod rig;
mod serve;
mod transfers;

use cases::{run, Operation, Outcome, Target};
use rig::Rig;
use tfreg_testkit::faults::{Fault, When};

fn target(operation: Operation, label: &str) -> Target {
    operation
        .targets()
        .into_iter()
        .find(|t| t.label == label)
        .unwrap_or_else(|| panic!("{} has no target {label:?}", operation.name()))
}

async fn case(
    rig: &Rig,
    operation: Operation,
    n: usize,
    label: &str,
    fault: Fault,
    when: When,
) -> Outcome {
    let outcome = run(rig, operation, n, target(operation, label), fault, when).await;
    assert!(outcome.holds(), "{}", outcome.describe());
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_fault_on_an_upload_is_retried_by_the_sdk() {
    let rig = Rig::start().await;
    for (n, fault) in [Fault::SlowDown, Fault::ServerError, Fault::ResetBefore]
        .into_iter()
        .enumerate()
    {
        let outcome = case(
            &rig,
            Operation::Upload,
            n,
            "archive PutObject",
            fault,
            When::First(1),
        )
        .await;
        assert_eq!(outcome.status, 201);
        assert!(
            outcome.attempts >= 2,
            "the SDK tried again: {}",
            outcome.describe()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_answer_is_lost_is_still_the_uploaders() {
    let rig = Rig::start().await;
    // Written, then every answer lost: the publisher reads back its own object.
    let outcome = case(
        &rig,
        Operation::Upload,
        0,
        "archive PutObject",
        Fault::ResetAfter,
        When::Always,
    )
    .await;
    assert_eq!(outcome.status, 201, "{}", outcome.describe());
    case(
        &rig,
        Operation::Upload,
        1,
        "archive PutObject",
        Fault::ResetAfter,
        When::First(1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_write_conflicts_are_retried_by_the_store() {
    let rig = Rig::start().await;
    for (n, label) in [
        "archive PutObject",
        "index PutObject",
        "namespace mark PutObject",
    ]
    .into_iter()
    .enumerate()
    {
        let outcome = case(
            &rig,
            Operation::Upload,
            n,
            label,
            Fault::ConditionalConflict,
            When::First(3),
        )
        .await;
        assert_eq!(outcome.status, 201, "{}", outcome.describe());
        assert!(outcome.attempts >= 4, "{}", outcome.describe());
    }
    let outcome = case(
        &rig,
        Operation::Upload,
        5,
        "archive PutObject",
        Fault::ConditionalConflict,
        When::Always,
    )
    .await;
    assert_eq!(outcome.status, 503, "{}", outcome.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_fault_is_a_clear_503_and_the_retry_succeeds() {
    let rig = Rig::start().await;
    let outcome = case(
        &rig,
        Operation::Upload,
        0,
        "archive PutObject",
        Fault::ServerError,
        When::Always,
    )
    .await;
    assert_eq!(outcome.status, 503);
    assert_eq!(
        outcome.attempts, 3,
        "the SDK's standard mode tries three times"
    );
    assert_eq!(outcome.retry_status, Some(201));
    // A failed index update does not fail the upload: the index is dropped and rebuilt.
    let outcome = case(
        &rig,
        Operation::Upload,
        1,
        "index PutObject",
        Fault::SlowDown,
        When::Always,
    )
    .await;
    assert_eq!(outcome.status, 201, "{}", outcome.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_writes_whose_answers_are_lost_are_recognised() {
    let rig = Rig::start().await;
    let outcome = case(
        &rig,
        Operation::TokenCreate,
        0,
        "TransactWriteItems",
        Fault::ResetAfter,
        When::First(1),
    )
    .await;
    assert_eq!(outcome.status, 201, "{}", outcome.describe());
    let outcome = case(
        &rig,
        Operation::TokenRevoke,
        1,
        "TransactWriteItems",
        Fault::ResetAfter,
        When::First(1),
    )
    .await;
    assert_eq!(outcome.status, 200, "{}", outcome.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_conflicts_are_retried_and_then_a_clear_503() {
    let rig = Rig::start().await;
    let outcome = case(
        &rig,
        Operation::TokenCreate,
        0,
        "TransactWriteItems",
        Fault::TransactionConflict,
        When::First(3),
    )
    .await;
    assert_eq!(outcome.status, 201, "{}", outcome.describe());
    let outcome = case(
        &rig,
        Operation::TokenCreate,
        1,
        "TransactWriteItems",
        Fault::TransactionConflict,
        When::Always,
    )
    .await;
    assert_eq!(outcome.status, 503, "{}", outcome.describe());
    let outcome = case(
        &rig,
        Operation::TokenCreate,
        2,
        "TransactWriteItems",
        Fault::Throttling,
        When::First(2),
    )
    .await;
    assert_eq!(outcome.status, 201, "{}", outcome.describe());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_unpin_leaves_the_version_whole() {
    let rig = Rig::start().await;
    let outcome = case(
        &rig,
        Operation::Unpin,
        0,
        "archive DeleteObject",
        Fault::ServerError,
        When::Always,
    )
    .await;
    assert_eq!(outcome.status, 503, "{}", outcome.describe());
    assert_eq!(outcome.retry_status, Some(204));
    // The index write that takes the version out lands, and every answer is lost: the
    // version goes back in, since its archive stays.
    let outcome = case(
        &rig,
        Operation::Unpin,
        1,
        "index PutObject",
        Fault::ResetAfter,
        When::Always,
    )
    .await;
    assert_eq!(outcome.status, 503, "{}", outcome.describe());
    assert_eq!(outcome.retry_status, Some(204));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_pin_record_leaves_no_half_pin() {
    let rig = Rig::start().await;
    let outcome = case(
        &rig,
        Operation::Pin,
        0,
        "pin record PutItem",
        Fault::ServerError,
        When::Always,
    )
    .await;
    assert_eq!(outcome.status, 503, "{}", outcome.describe());
    assert_eq!(outcome.retry_status, Some(201));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_past_the_sdk_timeout_is_retried() {
    let rig = Rig::start().await;
    let outcome = case(
        &rig,
        Operation::TokenRevoke,
        0,
        "name GetItem",
        Fault::Stall(rig::STALL),
        When::First(1),
    )
    .await;
    assert_eq!(outcome.status, 200, "{}", outcome.describe());
    assert!(outcome.attempts >= 2, "{}", outcome.describe());
}
