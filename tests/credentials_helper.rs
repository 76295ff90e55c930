//! The credentials helper end to end: the real Terraform CLI runs the real `tfreg` binary as
//! `terraform-credentials-tfreg`, which trades moto's AWS identity (STS `GetCallerIdentity`)
//! for a short-lived token of the real `tfreg serve`; no token is written anywhere.

mod common;

use common::terraform::module_block;
use common::{terraform_binary, tfreg_binary, TestRegistry};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tfreg_testkit::archive::versioned_module;
use tfreg_testkit::moto::{self, Moto};
use tfreg_testkit::oidc::{gitlab_claims, IssuerStandIn};

const MOTO_USER_ARN: &str = "arn:aws:sts::123456789012:user/moto";
/// What the registry logs for each token an exchange issues.
const ISSUED_LOG: &str = "token issued by exchange";

/// `tfreg serve` with the AWS exchange against moto's STS, one rule admitting `rule_arn` as a
/// downloader, and `acme/vpc/aws` 1.0.0 published with the master token.
async fn registry_trusting(rule_arn: &str) -> TestRegistry {
    let moto = Moto::shared();
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("auth.json");
    let auth = serde_json::json!({
        "aws": {
            "sts_endpoint": format!("{}/", moto.endpoint()),
            // The registry's host name: the helper signs only for the host it is asked about.
            "server_id": "127.0.0.1",
            "rules": [{"arn": rule_arn, "tier": "downloader", "ttl_secs": 600}]
        }
    });
    std::fs::write(&config, auth.to_string()).unwrap();
    let registry = TestRegistry::start_with(&["--auth-config", config.to_str().unwrap()]);
    let reply = registry
        .upload(
            "acme/vpc/aws",
            "1.0.0",
            versioned_module("1.0.0"),
            &registry.master_token,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    registry
}

/// A user's home: the helper installed with `tfreg credentials-helper install` in Terraform's
/// default plugin directory, and a CLI configuration naming the helper and nothing else.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        let output = home
            .command(tfreg_binary())
            .args(["credentials-helper", "install"])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        assert!(
            stdout.contains("credentials_helper \"tfreg\" {}"),
            "install prints the block to add: {stdout}"
        );
        assert_eq!(
            std::fs::canonicalize(home.helper()).unwrap(),
            std::fs::canonicalize(tfreg_binary()).unwrap()
        );
        std::fs::write(home.cli_config(), "credentials_helper \"tfreg\" {}\n").unwrap();
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn helper(&self) -> PathBuf {
        self.path()
            .join(".terraform.d/plugins/terraform-credentials-tfreg")
    }

    fn cli_config(&self) -> PathBuf {
        self.path().join("terraform.rc")
    }

    fn cache_dir(&self) -> PathBuf {
        self.path().join(".cache/tfreg")
    }

    /// `program` with this home and moto's AWS credentials, and nothing from the machine's
    /// own environment that could supply an identity or a token.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if name.starts_with("AWS_")
                || name.starts_with("TFREG_")
                || name.starts_with("TF_")
                || name.starts_with("ACTIONS_ID_TOKEN")
                || name == "XDG_CACHE_HOME"
            {
                command.env_remove(name);
            }
        }
        command
            .env("HOME", self.path())
            .env("AWS_ACCESS_KEY_ID", moto::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", moto::SECRET_ACCESS_KEY)
            .env("AWS_REGION", moto::REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        command
    }

    /// `terraform-credentials-tfreg get HOST`, as Terraform runs it.
    fn helper_get(&self, registry: &TestRegistry) -> Output {
        self.command(self.helper())
            .args(["get", &registry.host])
            .env("SSL_CERT_FILE", &registry.ca_pem)
            .output()
            .unwrap()
    }

    /// `terraform init` of a root module using `acme/vpc/aws` from `registry`, with Terraform's
    /// log at `log_level` (Terraform goes on without credentials when a helper fails, and
    /// says why only in its log).
    fn terraform_init(
        &self,
        registry: &TestRegistry,
        log_level: Option<&str>,
    ) -> (Output, tempfile::TempDir) {
        let root = tempfile::tempdir().unwrap();
        let main_tf = module_block(registry, "vpc", "acme/vpc/aws", "1.0.0");
        std::fs::write(root.path().join("main.tf"), main_tf).unwrap();
        let no_certs = root.path().join("no-certs");
        std::fs::create_dir(&no_certs).unwrap();
        let mut terraform = self.command(terraform_binary());
        if let Some(level) = log_level {
            terraform.env("TF_LOG", level);
        }
        let output = terraform
            .args(["init", "-input=false", "-no-color", "-backend=false"])
            .current_dir(root.path())
            .env("TF_CLI_CONFIG_FILE", self.cli_config())
            .env("SSL_CERT_FILE", &registry.ca_pem)
            .env("SSL_CERT_DIR", &no_certs)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .output()
            .unwrap();
        (output, root)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn exchanges(registry: &TestRegistry) -> usize {
    registry.logs().matches(ISSUED_LOG).count()
}

#[tokio::test]
async fn terraform_init_installs_a_module_with_a_token_exchanged_for_the_aws_identity() {
    let registry = registry_trusting(MOTO_USER_ARN).await;
    let discovery = registry
        .get("/.well-known/terraform.json", None)
        .await
        .json();
    assert_eq!(discovery["tfreg.auth.v1"]["aws"]["server_id"], "127.0.0.1");

    let home = Home::new();
    let (output, root) = home.terraform_init(&registry, None);
    assert!(
        output.status.success(),
        "terraform init failed:\n{}\n{}\nregistry log:\n{}",
        text(&output.stdout),
        text(&output.stderr),
        registry.logs()
    );
    let manifest =
        std::fs::read_to_string(root.path().join(".terraform/modules/modules.json")).unwrap();
    assert!(manifest.contains("\"Version\":\"1.0.0\""), "{manifest}");
    assert!(
        registry.logs().contains(MOTO_USER_ARN),
        "the token names who was proven"
    );
    // Terraform asks for credentials at each request; the cache makes one exchange of them.
    assert_eq!(exchanges(&registry), 1, "{}", registry.logs());

    // The token is in the user's private cache, nowhere in the configuration.
    assert_eq!(
        std::fs::read_to_string(home.cli_config()).unwrap(),
        "credentials_helper \"tfreg\" {}\n"
    );
    let cached: Vec<_> = std::fs::read_dir(home.cache_dir())
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(cached.len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&home.cache_dir()), 0o700);
        assert_eq!(mode(&cached[0].path()), 0o600);
    }
}

#[tokio::test]
async fn an_identity_outside_the_trust_rules_fails_terraform_init_with_what_to_do() {
    let registry = registry_trusting("arn:aws:iam::123456789012:role/deployer").await;
    let home = Home::new();
    let (output, _root) = home.terraform_init(&registry, Some("WARN"));
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!output.status.success(), "{all}");
    assert!(all.contains("401 Unauthorized"), "{all}");
    // Terraform 1.x goes on without credentials when a helper fails, and logs why: the
    // helper's message, naming the caller and what to do.
    assert!(
        all.contains(&format!(
            "terraform-credentials-tfreg: {} refused the AWS identity: no trust rule of this \
             registry admits {MOTO_USER_ARN}",
            registry.host
        )),
        "{all}"
    );
    assert!(all.contains("ask an admin of 127.0.0.1:"), "{all}");
    assert_eq!(exchanges(&registry), 0);
    assert!(
        !home.cache_dir().exists() || std::fs::read_dir(home.cache_dir()).unwrap().count() == 0
    );

    // No AWS credentials at all: said so, with where they come from.
    let output = home
        .command(home.helper())
        .args(["get", &registry.host])
        .env("SSL_CERT_FILE", &registry.ca_pem)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let message = text(&output.stderr);
    assert!(
        message.starts_with("no AWS credentials to prove who you are"),
        "{message}"
    );
    assert!(output.stdout.is_empty());
}

#[tokio::test]
async fn a_second_get_within_the_lifetime_makes_no_exchange_and_forget_drops_the_token() {
    let registry = registry_trusting(MOTO_USER_ARN).await;
    let home = Home::new();

    let first = home.helper_get(&registry);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        first.stderr.is_empty(),
        "nothing on stderr: {}",
        text(&first.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let token = answer["token"].as_str().unwrap().to_owned();
    assert_eq!(exchanges(&registry), 1);
    // A downloader's token: it reads modules.
    let versions = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some(&token))
        .await;
    assert_eq!(versions.status, 200, "{}", versions.text());

    let second = home.helper_get(&registry);
    assert_eq!(second.stdout, first.stdout, "the cached token");
    assert_eq!(exchanges(&registry), 1, "no second exchange");

    // `tfreg credentials-helper` is the same helper.
    let same = home
        .command(tfreg_binary())
        .args(["credentials-helper", "get", &registry.host])
        .env("SSL_CERT_FILE", &registry.ca_pem)
        .output()
        .unwrap();
    assert_eq!(same.stdout, first.stdout);

    let forget = home
        .command(home.helper())
        .args(["forget", &registry.host])
        .output()
        .unwrap();
    assert!(forget.status.success() && forget.stdout.is_empty() && forget.stderr.is_empty());
    let third = home.helper_get(&registry);
    assert!(third.status.success(), "{}", text(&third.stderr));
    assert_ne!(third.stdout, first.stdout, "a new token");
    assert_eq!(exchanges(&registry), 2);
    assert!(
        !registry.logs().contains(&token),
        "the token is never logged"
    );
}

#[tokio::test]
async fn a_registry_without_exchanges_gets_no_credentials_and_store_is_refused() {
    let registry = TestRegistry::start();
    let home = Home::new();
    let get = home.helper_get(&registry);
    assert!(get.status.success(), "{}", text(&get.stderr));
    assert_eq!(text(&get.stdout).trim(), "{}");

    let mut store = home
        .command(home.helper())
        .args(["store", &registry.host])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = store.stdin.take().unwrap();
        stdin.write_all(br#"{"token":"tfr_x"}"#).unwrap();
    }
    let store = store.wait_with_output().unwrap();
    assert!(!store.status.success());
    assert!(
        text(&store.stderr).contains("stores none"),
        "{}",
        text(&store.stderr)
    );
}

/// `tfreg serve` with the OIDC exchange trusting the issuer stand-in's tokens for
/// `acme/network/vpc` with audience `127.0.0.1` (this registry's host name).
fn registry_trusting_issuer(issuer: &IssuerStandIn) -> TestRegistry {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("auth.json");
    let auth = serde_json::json!({
        "oidc": {"issuers": [{
            "issuer": issuer.issuer(),
            "audience": "127.0.0.1",
            "ca_bundle": issuer.ca_pem(),
            "rules": [{"claims": {"project_path": "acme/network/vpc"}, "tier": "downloader"}]
        }]}
    });
    std::fs::write(&config, auth.to_string()).unwrap();
    TestRegistry::start_with(&["--auth-config", config.to_str().unwrap()])
}

/// Runs `command` off the test's runtime, which serves the issuer stand-in meanwhile.
async fn output_of(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_ci_the_job_identity_token_is_exchanged_rather_than_aws_credentials() {
    let issuer = IssuerStandIn::start().await;
    let registry = registry_trusting_issuer(&issuer);
    let discovery = registry
        .get("/.well-known/terraform.json", None)
        .await
        .json();
    assert_eq!(
        discovery["tfreg.auth.v1"]["oidc"]["issuers"][0]["audience"],
        "127.0.0.1"
    );
    let home = Home::new();
    let now = tfreg_origin::now_unix();

    // GitLab: `id_tokens: TFREG_ID_TOKEN: aud: 127.0.0.1`, named by TFREG_OIDC_TOKEN_ENV.
    let token = issuer
        .rsa_a()
        .sign(&gitlab_claims(issuer.issuer(), "127.0.0.1", now));
    let mut get = home.command(home.helper());
    get.args(["get", &registry.host])
        .env("SSL_CERT_FILE", &registry.ca_pem)
        .env("TFREG_OIDC_TOKEN_ENV", "TFREG_ID_TOKEN")
        .env("TFREG_ID_TOKEN", &token);
    let output = output_of(get).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let exchanged = answer["token"].as_str().unwrap();
    let versions = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some(exchanged))
        .await;
    assert_ne!(versions.status, 401, "{}", versions.text());
    assert!(registry.logs().contains("project_path:acme/network/vpc"));

    // A token made for another audience is not sent to this registry at all.
    let elsewhere = issuer
        .rsa_a()
        .sign(&gitlab_claims(issuer.issuer(), "other.example.com", now));
    let mut get = home.command(home.helper());
    get.args(["get", &registry.host])
        .env("SSL_CERT_FILE", &registry.ca_pem)
        .env("TFREG_OIDC_TOKEN", &elsewhere);
    let output = output_of(get).await;
    assert!(!output.status.success());
    let message = text(&output.stderr);
    assert!(message.contains("not 127.0.0.1:"), "{message}");
    assert!(!message.contains(&elsewhere), "the token is never shown");
    assert_eq!(exchanges(&registry), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_github_actions_the_token_is_requested_for_the_registry_audience() {
    let issuer = IssuerStandIn::start().await;
    let registry = registry_trusting_issuer(&issuer);
    let home = Home::new();
    let token = issuer.rsa_a().sign(&gitlab_claims(
        issuer.issuer(),
        "127.0.0.1",
        tfreg_origin::now_unix(),
    ));
    let github = GitHubTokenService::start(token);

    let mut get = home.command(home.helper());
    get.args(["get", &registry.host])
        .env("SSL_CERT_FILE", &registry.ca_pem)
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("http://{}/token?api-version=2.0", github.addr),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-bearer");
    let output = output_of(get).await;
    assert!(output.status.success(), "{}", text(&output.stderr));
    let request = github.request.lock().unwrap().clone();
    assert!(
        request.starts_with("GET /token?api-version=2.0&audience=127.0.0.1 "),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: bearer runner-bearer"),
        "{request}"
    );
    assert_eq!(exchanges(&registry), 1);
}

/// GitHub Actions' token service as the runner offers it to a job: one loopback HTTP
/// endpoint answering `{"value": TOKEN}`, keeping the request it got.
struct GitHubTokenService {
    addr: std::net::SocketAddr,
    request: std::sync::Arc<std::sync::Mutex<String>>,
}

impl GitHubTokenService {
    fn start(token: String) -> GitHubTokenService {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let request = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let seen = request.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    head.push_str(&line);
                }
                *seen.lock().unwrap() = head;
                let body = serde_json::json!({ "value": token }).to_string();
                let _ = write!(
                    &stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        GitHubTokenService { addr, request }
    }
}

/// The `tfreg` client finds no token written down, so it exchanges the machine's AWS identity
/// as the helper does; `tfreg login --exchange` stores such a token where Terraform reads it.
#[tokio::test]
async fn the_client_exchanges_the_identity_when_no_token_is_written_down() {
    let registry = registry_trusting(MOTO_USER_ARN).await;
    let home = Home::new();
    let address = format!("https://{}", registry.host);
    let versions = home
        .command(tfreg_binary())
        .args(["versions", "acme/vpc/aws", "--registry", &address, "--json"])
        .env("SSL_CERT_FILE", &registry.ca_pem)
        .output()
        .unwrap();
    assert!(versions.status.success(), "{}", text(&versions.stderr));
    assert!(
        text(&versions.stdout).contains("1.0.0"),
        "{}",
        text(&versions.stdout)
    );
    assert_eq!(exchanges(&registry), 1);

    let login = home
        .command(tfreg_binary())
        .args(["login", &registry.host, "--exchange", "--json"])
        .env("SSL_CERT_FILE", &registry.ca_pem)
        .output()
        .unwrap();
    assert!(login.status.success(), "{}", text(&login.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&login.stdout).unwrap();
    assert!(answer["expires_at"].as_str().is_some(), "{answer}");
    let stored: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join(".terraform.d/credentials.tfrc.json")).unwrap(),
    )
    .unwrap();
    let token = stored["credentials"][&registry.host]["token"]
        .as_str()
        .unwrap();
    assert!(token.starts_with("tfr_"));
    let read = registry
        .get("/v1/modules/acme/vpc/aws/versions", Some(token))
        .await;
    assert_eq!(read.status, 200, "{}", read.text());
}
