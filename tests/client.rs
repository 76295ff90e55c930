//! The `tfreg` client through the real binary, against a real `tfreg serve`: publishing
//! (packing, `.terraformignore`, local validation, immutability), versions, tokens, whoami,
//! login, and where credentials come from. Every run gets an empty HOME and only the
//! variables the test sets, so the machine's own Terraform settings play no part.

mod common;

use common::terraform::terraform_init;
use common::{tfreg_binary, TestRegistry};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const MODULE: &str = "acme/vpc/aws";

struct Run {
    output: Output,
}

impl Run {
    fn code(&self) -> i32 {
        self.output.status.code().expect("exit code")
    }
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout(), self.stderr()))
    }
    #[track_caller]
    fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code(),
            0,
            "stdout: {}\nstderr: {}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// A `tfreg` client run: `home` as HOME, `env` on top of an otherwise empty environment.
fn tfreg(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut child = Command::new(tfreg_binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting tfreg");
    {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).unwrap();
        }
    }
    Run {
        output: child.wait_with_output().expect("tfreg runs"),
    }
}

/// The registry and a HOME whose credentials.tfrc.json holds the master token.
struct Setup {
    registry: TestRegistry,
    home: tempfile::TempDir,
    url: String,
    ca: String,
}

impl Setup {
    fn new() -> Self {
        let registry = TestRegistry::start();
        let home = tempfile::tempdir().unwrap();
        let url = format!("https://{}", registry.host);
        let ca = registry.ca_pem.display().to_string();
        let setup = Setup {
            registry,
            home,
            url,
            ca,
        };
        let login = setup.run(
            &["login", &setup.registry.host.clone()],
            &[],
            Some(&format!("{}\n", setup.registry.master_token)),
        );
        login.assert_ok();
        setup
    }

    /// Runs a client command against the registry, trusting its CA.
    fn run(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
        let mut all = vec![
            ("TFREG_REGISTRY", self.url.as_str()),
            ("TFREG_CA_FILE", self.ca.as_str()),
        ];
        all.extend_from_slice(env);
        tfreg(self.home.path(), args, &all, stdin)
    }

    fn publish(&self, dir: &Path, version: &str) -> Run {
        let dir = dir.display().to_string();
        self.run(
            &[
                "publish",
                &dir,
                "--module",
                MODULE,
                "--version",
                version,
                "--json",
            ],
            &[],
            None,
        )
    }
}

fn write(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn module_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "main.tf",
        "variable \"cidr\" {\n  type = string\n}\n",
    );
    write(dir.path(), "modules/subnet/main.tf", "variable \"az\" {}\n");
    write(
        dir.path(),
        ".terraformignore",
        "# local junk\n*.log\n/scratch/\n",
    );
    write(dir.path(), "debug.log", "noise");
    write(dir.path(), "modules/subnet/trace.log", "noise");
    write(dir.path(), "scratch/notes.tf", "# not for publishing\n");
    write(dir.path(), ".git/HEAD", "ref: refs/heads/main\n");
    write(dir.path(), "terraform.tfstate", "{}");
    dir
}

/// The paths in the archive the registry serves for `version`.
async fn stored_paths(registry: &TestRegistry, version: &str) -> Vec<String> {
    let download = registry
        .get(
            &format!("/v1/modules/{MODULE}/{version}/download"),
            Some(&registry.master_token),
        )
        .await;
    assert_eq!(download.status, 204, "{}", download.text());
    let location = download.header("x-terraform-get").unwrap().to_owned();
    let archive = registry
        .get(&common::as_go_getter_requests(&location), None)
        .await;
    assert_eq!(archive.status, 200);
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive.body.as_slice()));
    let mut paths: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    paths.sort();
    paths
}

#[tokio::test]
async fn publish_leaves_out_ignored_files_and_prints_the_module_block() {
    let setup = Setup::new();
    let dir = module_dir();
    let published = setup.publish(dir.path(), "1.2.0");
    published.assert_ok();
    let answer = published.json();
    assert_eq!(answer["version"], "1.2.0");
    assert_eq!(answer["files"], 3, "{answer}");
    let block = answer["module_block"].as_str().unwrap();
    assert!(
        block.contains(&format!("source  = \"{}/{MODULE}\"", setup.registry.host)),
        "{block}"
    );
    assert!(block.contains("version = \"~> 1.2\""), "{block}");

    let paths = stored_paths(&setup.registry, "1.2.0").await;
    let files: Vec<&String> = paths.iter().filter(|p| !p.ends_with('/')).collect();
    assert_eq!(
        files,
        [".terraformignore", "main.tf", "modules/subnet/main.tf"],
        "{paths:?}"
    );

    // The words say the same for people.
    let dir2 = module_dir();
    let text = setup.run(
        &[
            "publish",
            &dir2.path().display().to_string(),
            "--module",
            MODULE,
            "--version",
            "1.3.0",
        ],
        &[],
        None,
    );
    text.assert_ok();
    assert!(
        text.stdout().contains("Published acme/vpc/aws 1.3.0"),
        "{}",
        text.stdout()
    );
    assert!(
        text.stdout().contains("module \"vpc\" {"),
        "{}",
        text.stdout()
    );
}

#[test]
fn publishing_a_version_twice_is_exit_1_with_the_registrys_message() {
    let setup = Setup::new();
    let dir = module_dir();
    setup.publish(dir.path(), "1.0.0").assert_ok();
    let again = setup.publish(dir.path(), "1.0.0");
    assert_eq!(again.code(), 1, "{}", again.stderr());
    assert!(
        again
            .stderr()
            .contains("version 1.0.0 already exists; versions are immutable"),
        "{}",
        again.stderr()
    );
    let answer = again.json();
    assert_eq!(answer["status"], 409);
    assert_eq!(answer["code"], "version_exists");
}

#[test]
fn invalid_modules_are_exit_3_before_anything_is_sent() {
    // No registry and no token: validation has to fail before either is needed.
    let home = tempfile::tempdir().unwrap();
    let no_tf = tempfile::tempdir().unwrap();
    write(no_tf.path(), "README.md", "# nothing to see\n");
    write(no_tf.path(), "modules/x/main.tf", "variable \"x\" {}\n");
    let run = tfreg(
        home.path(),
        &[
            "publish",
            &no_tf.path().display().to_string(),
            "--module",
            MODULE,
            "--version",
            "1.0.0",
        ],
        &[],
        None,
    );
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert!(
        run.stderr().contains("nothing was uploaded"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains(".tf"), "{}", run.stderr());

    let link = tempfile::tempdir().unwrap();
    write(link.path(), "main.tf", "variable \"x\" {}\n");
    std::os::unix::fs::symlink("/etc/passwd", link.path().join("passwd")).unwrap();
    let run = tfreg(
        home.path(),
        &[
            "publish",
            &link.path().display().to_string(),
            "--module",
            MODULE,
            "--version",
            "1.0.0",
            "--json",
        ],
        &[],
        None,
    );
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert!(run.stderr().contains("passwd"), "{}", run.stderr());
    assert_eq!(run.json()["error"], "invalid_module");

    // A bad address or version is a usage error (2), also before anything is sent.
    let run = tfreg(
        home.path(),
        &[
            "publish",
            &link.path().display().to_string(),
            "--module",
            "Acme/vpc",
            "--version",
            "1.0.0",
        ],
        &[],
        None,
    );
    assert_eq!(run.code(), 2, "{}", run.stderr());
}

#[test]
fn packing_is_deterministic() {
    let setup = Setup::new();
    let dir = module_dir();
    let first = setup.publish(dir.path(), "2.0.0");
    first.assert_ok();
    // New modification times and a fresh copy of the same content change nothing.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(dir.path().join("main.tf"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let second = setup.publish(dir.path(), "2.0.1");
    second.assert_ok();
    assert_eq!(first.json()["sha256"], second.json()["sha256"]);
    let copy = module_dir();
    let third = setup.publish(copy.path(), "2.0.2");
    third.assert_ok();
    assert_eq!(first.json()["sha256"], third.json()["sha256"]);
}

#[test]
fn versions_are_listed_as_json_and_words() {
    let setup = Setup::new();
    let dir = module_dir();
    for version in ["1.0.0", "1.10.0", "1.2.0"] {
        setup.publish(dir.path(), version).assert_ok();
    }
    let json = setup.run(&["versions", MODULE, "--json"], &[], None);
    json.assert_ok();
    let mut versions: Vec<String> = json.json()["modules"][0]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect();
    versions.sort();
    assert_eq!(versions, ["1.0.0", "1.10.0", "1.2.0"]);
    let words = setup.run(&["versions", MODULE], &[], None);
    words.assert_ok();
    assert_eq!(words.stdout(), "1.10.0\n1.2.0\n1.0.0\n");

    // A module that does not exist is the registry's 404, exit 1, in its words.
    let missing = setup.run(&["versions", "acme/none/aws"], &[], None);
    assert_eq!(missing.code(), 1);
    assert!(
        missing.stderr().contains("module acme/none/aws not found"),
        "{}",
        missing.stderr()
    );

    // Pins (proxy mode is off here: none to list, and an uploaded version is no pin).
    let pins = setup.run(&["pin", "list", "--json"], &[], None);
    pins.assert_ok();
    assert_eq!(pins.json()["pins"], serde_json::json!([]));
    let unpin = setup.run(
        &["pin", "rm", &format!("{MODULE}/1.0.0"), "--json"],
        &[],
        None,
    );
    assert_eq!(unpin.code(), 1, "{}", unpin.stderr());
    assert_eq!(unpin.json()["code"], "not_a_pin");
}

#[test]
fn tokens_are_created_with_scopes_listed_and_revoked() {
    let setup = Setup::new();
    let created = setup.run(
        &[
            "token",
            "create",
            "ci-network",
            "--permission",
            "uploader",
            "--scope",
            "acme/network",
            "--scope",
            "other",
            "--expires",
            "2099-01-01T00:00:00Z",
            "--description",
            "CI",
            "--json",
        ],
        &[],
        None,
    );
    created.assert_ok();
    let token = created.json();
    assert_eq!(
        token["scopes"],
        serde_json::json!(["acme/network", "other"])
    );
    let value = token["token_value"].as_str().unwrap().to_owned();
    assert!(value.starts_with("tfr_"));

    let list = setup.run(&["token", "list"], &[], None);
    list.assert_ok();
    let line = list
        .stdout()
        .lines()
        .find(|l| l.starts_with("ci-network"))
        .unwrap_or_else(|| panic!("{}", list.stdout()))
        .to_owned();
    assert!(
        line.contains("uploader, scopes acme/network, other, expires 2099"),
        "{line}"
    );
    assert!(!list.stdout().contains(&value), "values are never listed");

    // The new token works, within its scope and tier.
    let token_file = setup.home.path().join("ci-token");
    std::fs::write(&token_file, &value).unwrap();
    let whoami = setup.run(
        &[
            "whoami",
            "--token-file",
            &token_file.display().to_string(),
            "--json",
        ],
        &[],
        None,
    );
    whoami.assert_ok();
    assert_eq!(whoami.json()["token"], "valid");
    assert_ne!(whoami.json()["tier"], "master");

    setup
        .run(&["token", "revoke", "ci-network"], &[], None)
        .assert_ok();
    let list = setup.run(&["token", "list", "--json"], &[], None);
    assert!(!list.stdout().contains("ci-network"), "{}", list.stdout());
    let refused = setup.run(
        &["whoami", "--token-file", &token_file.display().to_string()],
        &[],
        None,
    );
    assert_eq!(refused.code(), 1, "{}", refused.stderr());
    assert!(refused.stderr().contains("refused"), "{}", refused.stderr());
}

#[test]
fn credentials_come_from_where_terraform_keeps_them() {
    let setup = Setup::new();
    // credentials.tfrc.json, written by `tfreg login` (in Setup::new), private to its owner.
    let file = setup.home.path().join(".terraform.d/credentials.tfrc.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        stored["credentials"][&setup.registry.host]["token"],
        setup.registry.master_token.as_str()
    );
    let whoami = setup.run(&["whoami", "--json"], &[], None);
    whoami.assert_ok();
    assert_eq!(whoami.json()["tier"], "master");
    assert_eq!(whoami.json()["token_source"], file.display().to_string());
    assert!(!whoami.stdout().contains(&setup.registry.master_token));

    // A credentials block of the CLI configuration, from an otherwise empty HOME.
    let other_home = tempfile::tempdir().unwrap();
    let config = other_home.path().join("cli.tfrc");
    std::fs::write(
        &config,
        format!(
            "plugin_cache_dir = \"/tmp/x\"\ncredentials \"{}\" {{\n  token = \"{}\"\n}}\n",
            setup.registry.host, setup.registry.master_token
        ),
    )
    .unwrap();
    let env = [
        ("TFREG_REGISTRY", setup.url.as_str()),
        ("TFREG_CA_FILE", setup.ca.as_str()),
    ];
    let config_env = [
        env[0],
        env[1],
        ("TF_CLI_CONFIG_FILE", config.to_str().unwrap()),
    ];
    let run = tfreg(other_home.path(), &["whoami", "--json"], &config_env, None);
    run.assert_ok();
    assert_eq!(
        run.json()["token_source"],
        format!("credentials block in {}", config.display())
    );

    // Terraform reads no ~/.terraform.d when TF_CLI_CONFIG_FILE is set; neither does tfreg.
    let empty_config = other_home.path().join("empty.tfrc");
    std::fs::write(&empty_config, "").unwrap();
    let run = setup.run(
        &["whoami"],
        &[("TF_CLI_CONFIG_FILE", empty_config.to_str().unwrap())],
        None,
    );
    assert_eq!(run.code(), 4, "{}", run.stderr());
    assert!(
        run.stderr().contains("TF_CLI_CONFIG_FILE is set"),
        "{}",
        run.stderr()
    );

    // TFREG_TOKEN, for scripts.
    let token_env = [
        env[0],
        env[1],
        ("TFREG_TOKEN", setup.registry.master_token.as_str()),
    ];
    let run = tfreg(other_home.path(), &["whoami", "--json"], &token_env, None);
    run.assert_ok();
    assert_eq!(run.json()["token_source"], "TFREG_TOKEN");

    // Nothing anywhere: exit 4, saying where to put one. A TF_TOKEN_ variable cannot name a
    // host with a port (Terraform decodes `_` to `.` and `__` to `-`), so it is not used.
    let tf_token_env = [
        env[0],
        env[1],
        ("TF_TOKEN_127_0_0_1", setup.registry.master_token.as_str()),
    ];
    let run = tfreg(
        other_home.path(),
        &["versions", MODULE, "--json"],
        &tf_token_env,
        None,
    );
    assert_eq!(run.code(), 4, "{}", run.stderr());
    assert!(run.stderr().contains("tfreg login"), "{}", run.stderr());
    assert!(run.stderr().contains("port"), "{}", run.stderr());
    assert_eq!(run.json()["error"], "no_credentials");
    assert!(!run.stderr().contains(&setup.registry.master_token));
}

#[tokio::test]
async fn terraform_init_installs_with_the_printed_module_block() {
    let setup = Setup::new();
    let dir = module_dir();
    let published = setup.publish(dir.path(), "3.1.0");
    published.assert_ok();
    let block = published.json()["module_block"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = terraform_init(&setup.registry, &block, Some(&setup.registry.master_token));
    // The module needs its `cidr` input only at plan time; init installs it.
    assert!(run.succeeded(), "{}\n{}", run.stdout(), run.stderr());
    assert_eq!(
        run.installed()["vpc"],
        (
            format!("{}/{MODULE}", setup.registry.host),
            "3.1.0".to_owned()
        )
    );

    // With no credentials block at all: Terraform finds the token `tfreg login` stored in
    // HOME's credentials.tfrc.json.
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "main.tf", &block);
    let no_certs = root.path().join("no-certs");
    std::fs::create_dir(&no_certs).unwrap();
    let output = Command::new(common::terraform_binary())
        .args(["init", "-input=false", "-no-color", "-backend=false"])
        .current_dir(root.path())
        .env("HOME", setup.home.path())
        // Set, it would keep Terraform from reading ~/.terraform.d at all.
        .env_remove("TF_CLI_CONFIG_FILE")
        .env("SSL_CERT_FILE", &setup.registry.ca_pem)
        .env("SSL_CERT_DIR", &no_certs)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env_remove("TF_LOG")
        .env_remove("TF_PLUGIN_CACHE_DIR")
        .output()
        .expect("running terraform");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(root.path().join(".terraform/modules/vpc/main.tf").exists());
}

#[test]
fn a_large_module_goes_to_tfreg_serve_in_one_put() {
    // Over the origin Lambda's 4 MiB: the client asks for the staged path first, and
    // `tfreg serve`, which has none (404), takes the archive directly.
    let setup = Setup::new();
    let dir = module_dir();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let blob: Vec<u8> = (0..5 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    write(dir.path(), "files/blob.bin", "");
    std::fs::write(dir.path().join("files/blob.bin"), blob).unwrap();
    let published = setup.publish(dir.path(), "4.0.0");
    published.assert_ok();
    assert!(published.json()["size"].as_u64().unwrap() > 5 * 1024 * 1024);
}
