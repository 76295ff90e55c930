//! Terraform's credentials helper protocol, as far as it is text: the arguments Terraform runs
//! the helper with (the block's `args`, then a verb, then a host name) and the JSON it reads
//! back. <https://developer.hashicorp.com/terraform/internals/credentials-helpers>

use serde_json::json;

/// The name Terraform looks for in its plugin directories for `credentials_helper "tfreg"`.
pub const HELPER_EXECUTABLE: &str = "terraform-credentials-tfreg";

/// What Terraform asks of the helper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Print the credentials for the host (`{"token": …}`), or `{}` when there are none.
    Get(String),
    /// Store credentials read from stdin (`terraform login`).
    Store(String),
    /// Delete stored credentials (`terraform logout`).
    Forget(String),
}

/// The verb and host of an invocation: `[args…] VERB HOST`. This helper takes no `args` of its
/// own, so anything before the verb is refused rather than silently ignored.
pub fn parse_invocation(args: &[String]) -> Result<Verb, String> {
    let usage = format!(
        "usage: {HELPER_EXECUTABLE} get|store|forget HOST (Terraform runs it for a \
         `credentials_helper \"tfreg\" {{}}` block in its CLI configuration)"
    );
    let [verb, host] = args else {
        return Err(match args.len() {
            0 | 1 => usage,
            _ => format!(
                "unexpected arguments before {:?}: this helper takes none, so leave `args` out \
                 of the `credentials_helper \"tfreg\"` block; {usage}",
                args[args.len() - 2]
            ),
        });
    };
    let host = check_host(host)?;
    match verb.as_str() {
        "get" => Ok(Verb::Get(host)),
        "store" => Ok(Verb::Store(host)),
        "forget" => Ok(Verb::Forget(host)),
        other => Err(format!(
            "{other:?} is not a verb this helper knows (get, store, forget); {usage}"
        )),
    }
}

/// A host name as Terraform passes it (`registry.example.com`, `127.0.0.1:8443`, `[::1]:8443`),
/// lowercased. Anything that could change the URL built from it (a path, user info, spaces)
/// is refused.
pub fn check_host(host: &str) -> Result<String, String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if host.is_empty() || host.len() > 255 || !host.chars().all(allowed) {
        return Err(format!(
            "{host:?} is not a registry host name (such as registry.example.com or 127.0.0.1:8443)"
        ));
    }
    Ok(host.to_ascii_lowercase())
}

/// Whether `value` (a server ID a request is signed for, an OIDC audience) names `host`: the
/// host itself, the host without its port, or its `https://` URL. The helper signs for, and
/// hands CI tokens to, a registry only when they are meant for that registry, so that another
/// host Terraform talks to cannot collect a proof it could replay at this one.
pub fn names_host(value: &str, host: &str) -> bool {
    let value = value.trim_end_matches('/').to_ascii_lowercase();
    let value = value.strip_prefix("https://").unwrap_or(&value);
    value == host || value == host_without_port(host)
}

fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8443 → ::1 (and the bracketed form, which `names_host` compares first).
        return rest.split(']').next().unwrap_or(host);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// The answer to `get`: `{"token": "…"}`, or `{}` when this helper has no credentials for
/// the host (Terraform then goes on without).
pub fn get_answer(token: Option<&str>) -> String {
    match token {
        Some(token) => json!({ "token": token }).to_string(),
        None => "{}".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_three_verbs_parse_with_their_host() {
        assert_eq!(
            parse_invocation(&args(&["get", "Registry.Example.com"])),
            Ok(Verb::Get("registry.example.com".into()))
        );
        assert_eq!(
            parse_invocation(&args(&["store", "127.0.0.1:8443"])),
            Ok(Verb::Store("127.0.0.1:8443".into()))
        );
        assert_eq!(
            parse_invocation(&args(&["forget", "[::1]:8443"])),
            Ok(Verb::Forget("[::1]:8443".into()))
        );
    }

    #[test]
    fn unknown_verbs_and_block_args_are_refused_with_usage() {
        let error = parse_invocation(&args(&["list", "registry.example.com"])).unwrap_err();
        assert!(error.starts_with("\"list\" is not a verb"), "{error}");
        let error =
            parse_invocation(&args(&["--profile=x", "get", "registry.example.com"])).unwrap_err();
        assert!(error.contains("leave `args` out"), "{error}");
        let error = parse_invocation(&args(&["get"])).unwrap_err();
        assert!(
            error.starts_with("usage: terraform-credentials-tfreg"),
            "{error}"
        );
    }

    #[test]
    fn hosts_that_would_change_the_url_are_refused() {
        for host in [
            "",
            "evil.com/path",
            "user@registry.example.com",
            "a b",
            "x?y",
            "x#y",
        ] {
            assert!(check_host(host).is_err(), "{host:?}");
        }
    }

    #[test]
    fn a_value_names_a_host_with_or_without_port_or_as_its_url() {
        assert!(names_host("registry.example.com", "registry.example.com"));
        assert!(names_host(
            "https://Registry.example.com/",
            "registry.example.com"
        ));
        assert!(names_host("127.0.0.1", "127.0.0.1:8443"));
        assert!(names_host("127.0.0.1:8443", "127.0.0.1:8443"));
        assert!(names_host("::1", "[::1]:8443"));
        assert!(!names_host("registry.example.com", "evil.example.com"));
        assert!(!names_host("example.com", "registry.example.com"));
        assert!(!names_host(
            "http://registry.example.com",
            "registry.example.com"
        ));
    }

    #[test]
    fn get_answers_a_token_object_or_an_empty_one() {
        assert_eq!(get_answer(Some("t\"1")), r#"{"token":"t\"1"}"#);
        assert_eq!(get_answer(None), "{}");
    }
}
