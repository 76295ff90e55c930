//! `terraform-credentials-tfreg`: a Terraform credentials helper that writes no token down.
//! Terraform runs it (`credentials_helper "tfreg" {}` in the CLI configuration, the executable
//! in its plugin directory) as `terraform-credentials-tfreg get HOST`; the helper trades the
//! identity at hand (a CI's OIDC token, else AWS credentials) for a short-lived token of that
//! registry, caches it until shortly before it expires, and prints `{"token": "…"}`.
//!
//! The `tfreg` binary is the helper when invoked under that name (a symlink made by
//! `tfreg credentials-helper install`), or as `tfreg credentials-helper get HOST`.

pub mod cache;
pub mod exchange;
pub mod protocol;

use cache::{identity_fingerprint, CachedToken, TokenCache};
use protocol::{get_answer, Verb, HELPER_EXECUTABLE};
use std::io::Write;
use std::path::{Path, PathBuf};

/// `tfreg credentials-helper …`.
#[derive(clap::Subcommand)]
pub enum HelperCommand {
    /// Print `{"token": "…"}` for HOST (from the cache or an exchange), `{}` if it offers none.
    Get { host: String },
    /// Refused: this helper stores no tokens (`terraform login`).
    Store { host: String },
    /// Delete the cached tokens of HOST (`terraform logout`).
    Forget { host: String },
    /// Link `terraform-credentials-tfreg` to this binary in Terraform's plugin directory and
    /// print the CLI configuration block to add.
    Install {
        /// Where Terraform looks for credentials helpers [default: ~/.terraform.d/plugins].
        #[arg(long, value_name = "DIR")]
        plugin_dir: Option<PathBuf>,
    },
}

impl HelperCommand {
    /// Runs the helper (no log set up: its stderr is for the user, its stdout for Terraform).
    pub fn run(self) -> i32 {
        let (verb, host) = match self {
            HelperCommand::Install { plugin_dir } => {
                return match install(plugin_dir) {
                    Ok(message) => {
                        print!("{message}");
                        0
                    }
                    Err(message) => {
                        eprintln!("{message}");
                        1
                    }
                };
            }
            HelperCommand::Get { host } => ("get", host),
            HelperCommand::Store { host } => ("store", host),
            HelperCommand::Forget { host } => ("forget", host),
        };
        run(&[verb.to_owned(), host])
    }
}

/// Whether the program was invoked as the helper (its name, `argv[0]`, is
/// `terraform-credentials-tfreg`, with `.exe` on Windows).
pub fn invoked_as_helper(argv0: &std::ffi::OsStr) -> bool {
    Path::new(argv0)
        .file_stem()
        .is_some_and(|stem| stem == HELPER_EXECUTABLE)
}

/// The environment as the helper reads it: unset and empty are the same.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Runs one protocol invocation (`args` without the program name) and returns the exit code.
/// The only thing written to stdout is `get`'s answer; messages go to stderr, for the user.
pub fn run(args: &[String]) -> i32 {
    let verb = match protocol::parse_invocation(args) {
        Ok(verb) => verb,
        Err(message) => return fail(&message),
    };
    let outcome =
        match verb {
            Verb::Get(host) => get(&host).map(|token| {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(stdout, "{}", get_answer(token.as_deref()));
                let _ = stdout.flush();
            }),
            Verb::Store(_) => {
                // The protocol asks for stdin to be read to the end even when refusing.
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
                Err("the tfreg credentials helper makes short-lived tokens itself and stores none: \
                 put a long-lived token in a `credentials` block of the CLI configuration \
                 instead, or let the helper exchange your identity"
                .to_owned())
            }
            Verb::Forget(host) => match TokenCache::from_env(env_var) {
                Some(cache) => cache.forget(&host),
                None => Ok(()),
            },
        };
    match outcome {
        Ok(()) => 0,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> i32 {
    let _ = writeln!(std::io::stderr(), "{message}");
    1
}

/// The token for `host`: cached, or from an exchange (then cached); `None` when the registry
/// offers no exchange.
fn get(host: &str) -> Result<Option<String>, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    Ok(runtime
        .block_on(exchanged_token(host))?
        .map(|cached| cached.token))
}

/// What [`get`] answers, for a caller already on an async runtime (the `tfreg` client): the
/// cached token for `host` while it lasts, else a token from the registry's exchange (then
/// cached), with its expiry; `None` when the registry offers no exchange.
pub async fn exchanged_token(host: &str) -> Result<Option<CachedToken>, String> {
    let cache = TokenCache::from_env(env_var);
    let fingerprint = identity_fingerprint(env_var);
    let now = tfreg_origin::now_unix();
    if let Some(cached) = cache.as_ref().and_then(|c| c.get(host, &fingerprint, now)) {
        return Ok(Some(cached));
    }
    let client = exchange::http_client()?;
    let discovery = exchange::discover(&client, host).await?;
    let offered = exchange::Offered::read(&discovery, &env_var);
    let plan = exchange::plan(host, &offered, exchange::CiToken::from_env(&env_var)?)?;
    let Some(issued) = exchange::exchange(&client, host, &plan).await? else {
        return Ok(None);
    };
    let cached = CachedToken {
        token: issued.token,
        expires_at: now + issued.expires_in_secs,
    };
    if let Some(cache) = &cache {
        // A cache that cannot be written costs an exchange next time, not this answer.
        if let Err(message) = cache.put(host, &fingerprint, &cached) {
            let _ = writeln!(std::io::stderr(), "warning: {message}");
        }
    }
    Ok(Some(cached))
}

/// Terraform's default plugin directory, where it looks for credentials helpers:
/// `~/.terraform.d/plugins` (`%APPDATA%\terraform.d\plugins` on Windows).
pub fn default_plugin_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        return env_var("APPDATA").map(|dir| Path::new(&dir).join("terraform.d").join("plugins"));
    }
    env_var("HOME").map(|home| Path::new(&home).join(".terraform.d").join("plugins"))
}

/// `tfreg credentials-helper install`: links `terraform-credentials-tfreg` in `plugin_dir` to
/// this executable (a copy where links are not available) and says what to add to the CLI
/// configuration. Returns the message for stdout.
pub fn install(plugin_dir: Option<PathBuf>) -> Result<String, String> {
    let plugin_dir = plugin_dir
        .or_else(default_plugin_dir)
        .ok_or("no home directory to install into: pass --plugin-dir")?;
    std::fs::create_dir_all(&plugin_dir)
        .map_err(|e| format!("creating {}: {e}", plugin_dir.display()))?;
    let executable = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| format!("cannot find this executable: {e}"))?;
    let target = plugin_dir.join(format!(
        "{HELPER_EXECUTABLE}{}",
        std::env::consts::EXE_SUFFIX
    ));
    if std::fs::symlink_metadata(&target).is_ok() {
        std::fs::remove_file(&target)
            .map_err(|e| format!("replacing {}: {e}", target.display()))?;
    }
    #[cfg(unix)]
    let placed = std::os::unix::fs::symlink(&executable, &target);
    #[cfg(not(unix))]
    let placed = std::fs::copy(&executable, &target).map(|_| ());
    placed.map_err(|e| format!("creating {}: {e}", target.display()))?;
    Ok(format!(
        "Installed {} -> {}\n\n\
         Add this to your Terraform CLI configuration (~/.terraformrc, or the file \
         TF_CLI_CONFIG_FILE names):\n\n    credentials_helper \"tfreg\" {{}}\n\n\
         Terraform then asks the helper for a token of each registry host it has no \
         `credentials` block for.\n",
        target.display(),
        executable.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_name_is_recognised_wherever_it_lives() {
        assert!(invoked_as_helper(
            "/home/me/.terraform.d/plugins/terraform-credentials-tfreg".as_ref()
        ));
        assert!(invoked_as_helper("terraform-credentials-tfreg".as_ref()));
        assert!(!invoked_as_helper("/usr/local/bin/tfreg".as_ref()));
        assert!(!invoked_as_helper("terraform-credentials-other".as_ref()));
    }
}
