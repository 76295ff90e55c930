//! Which public modules the proxy may serve, and which modules never mix in upstream versions.
//!
//! Lists hold module prefixes matched on whole path segments: `acme` covers every `acme/*`,
//! `acme/vpc` covers `acme/vpc/*` but not `acme/vpc-peering`, `acme/vpc/aws` is one module.
//! Matching on segments rather than on strings is what keeps an allow entry for `acme/vpc`
//! from quietly admitting whatever someone publishes as `acme/vpc-anything`. A trailing slash
//! (`hashicorp/`, `internal/`, the Python registry's syntax) reads as the same prefix.

use crate::names::ModuleAddress;
use std::fmt;

/// One list entry: one to three segments of a module address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModulePrefix {
    segments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid module prefix {0:?}: use namespace, namespace/name or namespace/name/system (lowercase letters, digits, '-' or '_'; a trailing '/' is allowed)")]
pub struct InvalidPrefix(pub String);

impl ModulePrefix {
    pub fn parse(text: &str) -> Result<Self, InvalidPrefix> {
        let invalid = || InvalidPrefix(text.to_owned());
        let trimmed = text.trim();
        // `hashicorp/` is `hashicorp`: one trailing slash, as the Python registry writes its
        // prefixes. Whole segments either way.
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let segments: Vec<&str> = trimmed.split('/').collect();
        if segments.is_empty() || segments.len() > 3 {
            return Err(invalid());
        }
        // Reuse the address rules: pad the prefix into a full address and validate that.
        let padded = [
            segments[0],
            segments.get(1).copied().unwrap_or("x"),
            segments.get(2).copied().unwrap_or("x"),
        ];
        ModuleAddress::new(padded[0], padded[1], padded[2]).map_err(|_| invalid())?;
        Ok(ModulePrefix {
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    pub fn matches(&self, module: &ModuleAddress) -> bool {
        let parts = [&module.namespace, &module.name, &module.system];
        self.segments
            .iter()
            .zip(parts)
            .all(|(prefix, part)| prefix == part)
    }
}

impl fmt::Display for ModulePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("/"))
    }
}

/// Parses a comma- or whitespace-separated list (as environment variables carry them).
pub fn parse_prefix_list(text: &str) -> Result<Vec<ModulePrefix>, InvalidPrefix> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(ModulePrefix::parse)
        .collect()
}

/// The allow and deny lists. Deny wins; an empty allow list allows everything not denied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyPolicy {
    pub allow: Vec<ModulePrefix>,
    pub deny: Vec<ModulePrefix>,
}

/// Why a module may not come from the upstream registry; the text is shown to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyVerdict {
    Allowed,
    Denied { by: ModulePrefix },
    NotAllowed,
}

impl ProxyPolicy {
    pub fn verdict(&self, module: &ModuleAddress) -> PolicyVerdict {
        if let Some(by) = self.deny.iter().find(|p| p.matches(module)) {
            return PolicyVerdict::Denied { by: by.clone() };
        }
        if self.allow.is_empty() || self.allow.iter().any(|p| p.matches(module)) {
            PolicyVerdict::Allowed
        } else {
            PolicyVerdict::NotAllowed
        }
    }

    pub fn allows(&self, module: &ModuleAddress) -> bool {
        self.verdict(module) == PolicyVerdict::Allowed
    }
}

impl PolicyVerdict {
    /// The sentence a client sees when the proxy refuses `module`.
    pub fn explain(&self, module: &ModuleAddress) -> String {
        match self {
            PolicyVerdict::Allowed => format!("module {module} may be proxied"),
            PolicyVerdict::Denied { by } => format!(
                "module {module} is not in this registry, and the proxy's deny list ({by}) keeps it from being fetched from the upstream registry"
            ),
            PolicyVerdict::NotAllowed => format!(
                "module {module} is not in this registry, and it is not on the proxy's allow list, so it is not fetched from the upstream registry"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(text: &str) -> ModuleAddress {
        let parts: Vec<&str> = text.split('/').collect();
        ModuleAddress::new(parts[0], parts[1], parts[2]).unwrap()
    }

    fn policy(allow: &str, deny: &str) -> ProxyPolicy {
        ProxyPolicy {
            allow: parse_prefix_list(allow).unwrap(),
            deny: parse_prefix_list(deny).unwrap(),
        }
    }

    #[test]
    fn prefixes_match_whole_segments_only() {
        let vpc = ModulePrefix::parse("acme/vpc").unwrap();
        assert!(vpc.matches(&module("acme/vpc/aws")));
        assert!(vpc.matches(&module("acme/vpc/google")));
        assert!(!vpc.matches(&module("acme/vpc-peering/aws")));
        assert!(!vpc.matches(&module("acme-corp/vpc/aws")));
        let acme = ModulePrefix::parse("acme").unwrap();
        assert!(acme.matches(&module("acme/anything/aws")));
        assert!(!acme.matches(&module("acmecorp/vpc/aws")));
        let exact = ModulePrefix::parse("acme/vpc/aws").unwrap();
        assert!(!exact.matches(&module("acme/vpc/azurerm")));
    }

    #[test]
    fn deny_wins_and_no_allow_list_allows_everything() {
        let open = policy("", "");
        assert!(open.allows(&module("hashicorp/consul/aws")));
        let listed = policy(
            "terraform-aws-modules, hashicorp/consul",
            "terraform-aws-modules/iam",
        );
        assert!(listed.allows(&module("terraform-aws-modules/vpc/aws")));
        assert!(listed.allows(&module("hashicorp/consul/aws")));
        assert_eq!(
            listed.verdict(&module("hashicorp/vault/aws")),
            PolicyVerdict::NotAllowed
        );
        assert_eq!(
            listed.verdict(&module("terraform-aws-modules/iam/aws")),
            PolicyVerdict::Denied {
                by: ModulePrefix::parse("terraform-aws-modules/iam").unwrap()
            }
        );
        let deny_only = policy("", "evil");
        assert!(!deny_only.allows(&module("evil/vpc/aws")));
        assert!(deny_only.allows(&module("good/vpc/aws")));
    }

    #[test]
    fn a_trailing_slash_reads_as_the_same_whole_segment_prefix() {
        assert_eq!(
            parse_prefix_list("hashicorp/, internal/,acme/vpc/").unwrap(),
            parse_prefix_list("hashicorp,internal,acme/vpc").unwrap()
        );
        let internal = ModulePrefix::parse("internal/").unwrap();
        assert_eq!(internal.to_string(), "internal");
        assert!(internal.matches(&module("internal/vpc/aws")));
        // The Python registry's raw prefix match would take these; whole segments do not.
        assert!(!internal.matches(&module("internal-tools/vpc/aws")));
        assert!(!ModulePrefix::parse("acme/vpc/")
            .unwrap()
            .matches(&module("acme/vpc-peering/aws")));
        for bad in ["/", "acme//", "/acme", "a/b/c/d/"] {
            assert!(ModulePrefix::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn invalid_prefixes_are_refused_with_the_rule() {
        for bad in [
            "",
            "a/b/c/d",
            "Acme",
            "acme/*",
            "acme//vpc",
            "../etc",
            "acme/vpc/a-ws",
        ] {
            assert!(ModulePrefix::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_prefix_list("acme, a/*").unwrap_err().to_string(),
            "invalid module prefix \"a/*\": use namespace, namespace/name or namespace/name/system (lowercase letters, digits, '-' or '_'; a trailing '/' is allowed)"
        );
        assert_eq!(parse_prefix_list(" , ").unwrap(), vec![]);
    }
}
