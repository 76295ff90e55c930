//! Finding the token for a registry host where Terraform finds it, and storing one where
//! `terraform login` stores it.
//!
//! Order, first found wins: `--token-file`, `TFREG_TOKEN` (explicit, for scripts), then what
//! Terraform reads: a `TF_TOKEN_<host>` variable, a `credentials "host" { token = "…" }` block
//! in the CLI configuration (`TF_CLI_CONFIG_FILE`, else `~/.terraformrc`), and
//! `~/.terraform.d/credentials.tfrc.json`. Credentials helpers are not run (yet).

use super::{Answer, Failure, Outcome};
use std::path::{Path, PathBuf};

/// A token and where it was found (said by `whoami` and in errors; the token never is).
pub(crate) struct FoundToken {
    pub token: String,
    pub source: String,
}

/// A registry host in Terraform's comparison form: lowercase, without scheme, path or the
/// default port 443 (`registry.example.com`, `127.0.0.1:8443`).
pub(crate) fn normalize_host(input: &str) -> Result<String, Failure> {
    let rest = input.trim();
    let rest = rest
        .strip_prefix("https://")
        .or_else(|| rest.strip_prefix("HTTPS://"))
        .unwrap_or(rest);
    if rest.contains("://") {
        return Err(Failure::usage(format!(
            "{input:?}: a registry is reached over https only; write https://host[:port]"
        )));
    }
    let host = rest
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let host = host.strip_suffix(":443").unwrap_or(&host).to_owned();
    if host.is_empty() || host.contains(['@', '?', '#', ' ']) {
        return Err(Failure::usage(format!(
            "{input:?} is not a registry host; write host[:port] or https://host[:port]"
        )));
    }
    Ok(host)
}

/// The `TF_TOKEN_…` variable Terraform reads for `host`: periods become `_` and hyphens `__`
/// (Terraform decodes `__` to `-`, then `_` to `.`). `None` for a host with a port: a variable
/// name cannot hold the colon, so Terraform has no variable for such a host.
pub fn env_var_for_host(host: &str) -> Option<String> {
    if host.contains(':') {
        return None;
    }
    Some(format!(
        "TF_TOKEN_{}",
        host.replace('-', "__").replace('.', "_")
    ))
}

/// The host a `TF_TOKEN_` variable names, given the part of its name after the prefix.
pub fn host_from_env_var(suffix: &str) -> String {
    suffix
        .replace("__", "-")
        .replace('_', ".")
        .to_ascii_lowercase()
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `~/.terraform.d/credentials.tfrc.json`, where `terraform login` keeps tokens.
fn credentials_file() -> Option<PathBuf> {
    home().map(|h| h.join(".terraform.d").join("credentials.tfrc.json"))
}

/// `TF_CLI_CONFIG_FILE`, when set: the CLI configuration Terraform reads instead of
/// `~/.terraformrc`.
fn cli_config_override() -> Option<PathBuf> {
    std::env::var_os("TF_CLI_CONFIG_FILE")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
}

/// The CLI configuration file Terraform reads.
fn cli_config_file() -> Option<PathBuf> {
    cli_config_override().or_else(|| home().map(|h| h.join(".terraformrc")))
}

/// Finds the token for `host` (normalised), or says everywhere it looked.
pub(crate) fn find_token(host: &str, token_file: Option<&Path>) -> Result<FoundToken, Failure> {
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!("reading the token file {}: {e}", path.display()))
        })?;
        let token = text.lines().next().unwrap_or_default().trim().to_owned();
        if token.is_empty() {
            return Err(Failure::no_credentials(format!(
                "the token file {} is empty",
                path.display()
            )));
        }
        return Ok(FoundToken {
            token,
            source: format!("--token-file {}", path.display()),
        });
    }
    if let Some(token) = std::env::var("TFREG_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(FoundToken {
            token: token.trim().to_owned(),
            source: "TFREG_TOKEN".into(),
        });
    }
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            continue;
        };
        if let Some(suffix) = name.strip_prefix("TF_TOKEN_") {
            if host_from_env_var(suffix) == host && !value.trim().is_empty() {
                return Ok(FoundToken {
                    token: value.trim().to_owned(),
                    source: name.to_owned(),
                });
            }
        }
    }
    if let Some(path) = cli_config_file() {
        if let Some(token) = token_in_cli_config(&path, host)? {
            return Ok(FoundToken {
                token,
                source: format!("credentials block in {}", path.display()),
            });
        }
    }
    // With TF_CLI_CONFIG_FILE set, Terraform reads nothing from ~/.terraform.d, the
    // credentials file included ("Not reading CLI config directory because config location is
    // overridden by environment variable", measured with Terraform 1.0.3); neither do we, so
    // that a token that works here works for `terraform init` too.
    if let Some(path) = credentials_file().filter(|_| cli_config_override().is_none()) {
        if let Some(token) = token_in_credentials_file(&path, host)? {
            return Ok(FoundToken {
                token,
                source: path.display().to_string(),
            });
        }
    }
    let variable = match env_var_for_host(host) {
        Some(name) => format!("set {name}"),
        None => "set TFREG_TOKEN (no TF_TOKEN_ variable can name a host with a port, for \
                 Terraform either)"
            .to_owned(),
    };
    let login = match cli_config_override() {
        None => format!(
            "run `tfreg login {host}` (stores it in ~/.terraform.d/credentials.tfrc.json, where \
             Terraform reads it too)"
        ),
        Some(path) => format!(
            "(TF_CLI_CONFIG_FILE is set, so neither Terraform nor tfreg reads \
             ~/.terraform.d/credentials.tfrc.json) add a credentials \"{host}\" block to {}",
            path.display()
        ),
    };
    Err(Failure::no_credentials(format!(
        "no token for {host}: {variable}, {login}, add a credentials \"{host}\" block to the \
         CLI configuration, or pass --token-file"
    )))
}

fn read_optional(path: &Path) -> Result<Option<String>, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::usage(format!("reading {}: {e}", path.display()))),
    }
}

/// The token of `host` in a `credentials.tfrc.json` (`{"credentials": {"host": {"token": …}}}`).
fn token_in_credentials_file(path: &Path, host: &str) -> Result<Option<String>, Failure> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    let document: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{} is not valid JSON: {e}", path.display())))?;
    let Some(hosts) = document["credentials"].as_object() else {
        return Ok(None);
    };
    Ok(hosts
        .iter()
        .find(|(name, _)| normalize_host(name).is_ok_and(|n| n == host))
        .and_then(|(_, entry)| entry["token"].as_str())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty()))
}

/// The token of a `credentials "host" { token = "…" }` block of a CLI configuration file.
fn token_in_cli_config(path: &Path, host: &str) -> Result<Option<String>, Failure> {
    let Some(text) = read_optional(path)? else {
        return Ok(None);
    };
    let body = hcl::parse(&text).map_err(|e| {
        Failure::usage(format!(
            "the Terraform CLI configuration {} does not parse: {e}",
            path.display()
        ))
    })?;
    for block in body.blocks().filter(|b| b.identifier() == "credentials") {
        let Some(label) = block.labels().first() else {
            continue;
        };
        if !normalize_host(label.as_str()).is_ok_and(|n| n == host) {
            continue;
        }
        for attribute in block.body().attributes() {
            if attribute.key() == "token" {
                if let hcl::Expression::String(token) = attribute.expr() {
                    if !token.trim().is_empty() {
                        return Ok(Some(token.trim().to_owned()));
                    }
                }
            }
        }
    }
    Ok(None)
}

/// `tfreg login HOST`: stores the token read from `token_file` or stdin in
/// `~/.terraform.d/credentials.tfrc.json`, keeping the other hosts' entries, mode 0600.
pub(crate) fn login(host: &str, token_file: Option<&Path>) -> Outcome {
    let host = normalize_host(host)?;
    let token = read_token(&host, token_file)?;
    store_login(&host, &token, None)
}

/// `tfreg login HOST --exchange`: a token from the registry's exchange, stored as [`login`]
/// stores one, saying when it expires.
pub(crate) async fn login_by_exchange(host: &str) -> Outcome {
    let host = normalize_host(host)?;
    match crate::credentials_helper::exchanged_token(&host).await {
        Ok(Some(exchanged)) => store_login(&host, &exchanged.token, Some(exchanged.expires_at)),
        Ok(None) => Err(Failure::no_credentials(format!(
            "{host} offers no exchange (its discovery document has no tfreg.auth.v1): ask its admin for a token and run `tfreg login {host}` with it"
        ))),
        Err(why) => Err(Failure::no_credentials(format!(
            "the exchange with {host} gave no token: {why}"
        ))),
    }
}

/// The token of `tfreg login`, from `token_file` or stdin.
fn read_token(host: &str, token_file: Option<&Path>) -> Result<String, Failure> {
    let token = match token_file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!("reading the token file {}: {e}", path.display()))
        })?,
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprintln!("Paste the token for {host} and press Enter:");
            }
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| Failure::usage(format!("reading the token from stdin: {e}")))?;
            line
        }
    };
    let token = token.lines().next().unwrap_or_default().trim().to_owned();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Failure::usage(
            "no token given: pipe it on stdin (`tfreg login HOST < token.txt`) or pass --token-file",
        ));
    }
    Ok(token)
}

/// Writes `token` for `host` into `credentials.tfrc.json`; `expires_at` (Unix seconds) is said
/// in the answer when the token expires.
fn store_login(host: &str, token: &str, expires_at: Option<u64>) -> Outcome {
    let Some(path) = credentials_file() else {
        return Err(Failure::usage(
            "HOME is not set, so there is no ~/.terraform.d/credentials.tfrc.json to write",
        ));
    };
    let mut document = match read_optional(&path)? {
        Some(text) => serde_json::from_str::<serde_json::Value>(&text).map_err(|e| {
            Failure::usage(format!(
                "{} is not valid JSON ({e}); fix or remove it first",
                path.display()
            ))
        })?,
        None => serde_json::json!({}),
    };
    if !document.is_object() {
        return Err(Failure::usage(format!(
            "{} does not hold a JSON object; fix or remove it first",
            path.display()
        )));
    }
    if !document["credentials"].is_object() {
        document["credentials"] = serde_json::json!({});
    }
    document["credentials"][host] = serde_json::json!({ "token": token });
    write_private(&path, &serde_json::to_vec_pretty(&document).unwrap())
        .map_err(|e| Failure::usage(format!("writing {}: {e}", path.display())))?;
    let warning = cli_config_override().map(|config| {
        format!(
            "TF_CLI_CONFIG_FILE is set ({}): Terraform reads no credentials.tfrc.json then, and \
             neither does tfreg; unset it, or put a credentials \"{host}\" block in that file",
            config.display()
        )
    });
    let mut text = format!(
        "Stored the token for {host} in {} (mode 0600); Terraform and tfreg will use it.",
        path.display()
    );
    if let Some(warning) = &warning {
        text = format!(
            "Stored the token for {host} in {}.\nwarning: {warning}",
            path.display()
        );
    }
    let expires = expires_at.and_then(tfreg_origin::unix_to_rfc3339);
    if let Some(expires) = &expires {
        text.push_str(&format!(
            "\nIt expires at {expires}: for lasting use, configure the credentials helper (`tfreg credentials-helper install`)."
        ));
    }
    Ok(Answer {
        text,
        json: serde_json::json!({
            "host": host, "credentials_file": path, "warning": warning, "expires_at": expires,
        }),
    })
}

/// Writes `bytes` to `path` readable by the owner only, replacing it in one rename.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names_follow_terraform() {
        assert_eq!(
            env_var_for_host("app.terraform.io").as_deref(),
            Some("TF_TOKEN_app_terraform_io")
        );
        assert_eq!(
            env_var_for_host("prod-tfe.example.net").as_deref(),
            Some("TF_TOKEN_prod__tfe_example_net")
        );
        assert_eq!(env_var_for_host("127.0.0.1:8443"), None);
        assert_eq!(
            host_from_env_var("prod__tfe_example_net"),
            "prod-tfe.example.net"
        );
        assert_eq!(host_from_env_var("App_Terraform_IO"), "app.terraform.io");
    }

    #[test]
    fn hosts_are_compared_in_one_form() {
        assert_eq!(
            normalize_host("https://Reg.Example.com:443/").unwrap(),
            "reg.example.com"
        );
        assert_eq!(normalize_host("127.0.0.1:8443").unwrap(), "127.0.0.1:8443");
        assert!(normalize_host("http://reg.example.com").is_err());
    }
}
