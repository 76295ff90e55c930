//! The origin Lambda's cold start refused: a setting it cannot use, a signing secret that is
//! not there. The binary exits before it asks for any event, with the reason on stderr (which
//! Lambda reports as `Runtime.ExitError` and logs).

use super::{bootstrap_command, Running};
use tfreg_testkit::{lambda_api, moto};

/// Waits (at most 30 s) for `bootstrap` to exit: its status, stdout and stderr.
async fn exited(bootstrap: &mut Running, what: &str) -> (std::process::ExitStatus, String, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = bootstrap.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: bootstrap is still running"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let stdout = std::io::read_to_string(bootstrap.0.stdout.take().unwrap()).unwrap();
    let stderr = std::io::read_to_string(bootstrap.0.stderr.take().unwrap()).unwrap();
    (status, stdout, stderr)
}

/// A proxy setting the Lambda cannot use stops it at cold start, with a message naming the
/// variable, before it asks for any event. The binary exits with the error on stderr (which
/// Lambda reports as `Runtime.ExitError` and logs); it does not post to the Runtime API's
/// init error endpoint, so that is not where the test looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_binary_fails_its_init_on_an_invalid_proxy_setting() {
    for (variable, value) in [
        ("TFREG_PROXY_ALLOW_LIST", "Bad/*"),
        ("TFREG_PROXY_DENY_LIST", "acme//vpc"),
        ("TFREG_PROXY_UPSTREAM", "ftp://x"),
        (
            "TFREG_PROXY_GITHUB_ARCHIVE_URL",
            "https://user:pw@github.example",
        ),
        ("TFREG_PROXY_ENABLED", "maybe"),
        ("TFREG_PROXY_TIMEOUT_SECS", "0"),
        ("TFREG_PROXY_MAX_ARCHIVE_BYTES", "lots"),
    ] {
        let api = lambda_api::FakeRuntimeApi::start().await;
        // The storage is never reached: the configuration is read first.
        let mut bootstrap = Running(
            bootstrap_command(&api, "http://127.0.0.1:9", "bucket", "table", "secret")
                .env(variable, value)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("starting bootstrap"),
        );
        let (status, stdout, stderr) = exited(&mut bootstrap, &format!("{variable}={value}")).await;
        assert!(
            !status.success(),
            "{variable}={value}: {status}\n{stdout}\n{stderr}"
        );
        assert!(
            stderr.contains(variable),
            "{variable}={value}: stderr does not name it:\n{stderr}"
        );
        // The JSON log line (CloudWatch) names it too.
        assert!(
            stdout.contains(variable),
            "{variable}={value}: the log does not name it:\n{stdout}"
        );
        assert!(api.first_poll().is_none(), "{variable}={value}: it polled");
    }
}

/// A signing secret that does not exist stops the Lambda at cold start with Secrets Manager's
/// own error (status and AWS error code, through the origin's signed GetSecretValue), and the
/// secret's name, before it asks for any event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_signing_secret_fails_the_init_with_the_aws_error() {
    let moto = moto::Moto::shared();
    let sdk = moto.sdk_config().await;
    let bucket = moto.create_bucket(&sdk).await;
    let table = moto.create_table(&sdk).await;
    let api = lambda_api::FakeRuntimeApi::start().await;
    let mut bootstrap = Running(
        bootstrap_command(
            &api,
            moto.endpoint(),
            &bucket,
            &table,
            "tfreg/no-such-secret",
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting bootstrap"),
    );
    let (status, _, stderr) = exited(&mut bootstrap, "tfreg/no-such-secret").await;
    assert!(!status.success(), "{status}\n{stderr}");
    // AWS answers 400, moto 404: the status is in the message, the code is what counts.
    for expected in [
        "tfreg/no-such-secret",
        "Secrets Manager answered",
        "ResourceNotFoundException",
    ] {
        assert!(stderr.contains(expected), "no {expected:?} in:\n{stderr}");
    }
    assert!(api.first_poll().is_none(), "it polled");
}
