//! Which public providers the mirror may fetch: allow and deny lists of provider prefixes on
//! whole segments of `hostname/namespace/type`, as the module proxy's lists are of module
//! addresses ([`crate::proxy::policy`]): `registry.terraform.io` covers every provider of
//! that host, `registry.terraform.io/hashicorp` a namespace, and
//! `registry.terraform.io/hashicorp/aws` one provider but not `hashicorp/aws-extra`. Deny
//! wins; an empty allow list allows everything not denied.

use super::MirrorProvider;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPrefix {
    segments: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid provider prefix {0:?}: use hostname, hostname/namespace or hostname/namespace/type (lowercase; a trailing '/' is allowed)")]
pub struct InvalidProviderPrefix(pub String);

impl ProviderPrefix {
    pub fn parse(text: &str) -> Result<Self, InvalidProviderPrefix> {
        let invalid = || InvalidProviderPrefix(text.to_owned());
        let trimmed = text.trim();
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let segments: Vec<&str> = trimmed.split('/').collect();
        if segments.len() > 3 {
            return Err(invalid());
        }
        // Reuse the address rules: pad the prefix into a full address and validate that.
        MirrorProvider::new(
            segments[0],
            segments.get(1).copied().unwrap_or("x"),
            segments.get(2).copied().unwrap_or("x"),
        )
        .map_err(|_| invalid())?;
        Ok(ProviderPrefix {
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    pub fn matches(&self, provider: &MirrorProvider) -> bool {
        let parts = [
            &provider.hostname,
            &provider.address.namespace,
            &provider.address.provider_type,
        ];
        self.segments
            .iter()
            .zip(parts)
            .all(|(prefix, part)| prefix == part)
    }
}

impl fmt::Display for ProviderPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.segments.join("/"))
    }
}

/// A comma- or whitespace-separated list.
pub fn parse_provider_prefixes(text: &str) -> Result<Vec<ProviderPrefix>, InvalidProviderPrefix> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(ProviderPrefix::parse)
        .collect()
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MirrorPolicy {
    pub allow: Vec<ProviderPrefix>,
    pub deny: Vec<ProviderPrefix>,
}

impl MirrorPolicy {
    /// `None` when `provider` may be fetched; otherwise the sentence the client sees.
    pub fn refusal(&self, provider: &MirrorProvider) -> Option<String> {
        if let Some(by) = self.deny.iter().find(|p| p.matches(provider)) {
            return Some(format!(
                "provider {provider} is on the mirror's deny list ({by}): it is not fetched from its registry"
            ));
        }
        if self.allow.is_empty() || self.allow.iter().any(|p| p.matches(provider)) {
            None
        } else {
            Some(format!(
                "provider {provider} is not on the mirror's allow list: it is not fetched from its registry"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(text: &str) -> MirrorProvider {
        let parts: Vec<&str> = text.split('/').collect();
        MirrorProvider::new(parts[0], parts[1], parts[2]).unwrap()
    }

    fn policy(allow: &str, deny: &str) -> MirrorPolicy {
        MirrorPolicy {
            allow: parse_provider_prefixes(allow).unwrap(),
            deny: parse_provider_prefixes(deny).unwrap(),
        }
    }

    #[test]
    fn prefixes_match_whole_segments_and_deny_wins() {
        let listed = policy(
            "registry.terraform.io/hashicorp, registry.example.test/acme/dns",
            "registry.terraform.io/hashicorp/aws",
        );
        assert_eq!(
            listed.refusal(&provider("registry.terraform.io/hashicorp/random")),
            None
        );
        assert_eq!(
            listed.refusal(&provider("registry.example.test/acme/dns")),
            None
        );
        assert_eq!(
            listed.refusal(&provider("registry.terraform.io/hashicorp/aws")),
            Some("provider registry.terraform.io/hashicorp/aws is on the mirror's deny list (registry.terraform.io/hashicorp/aws): it is not fetched from its registry".into())
        );
        // Whole segments: `aws` does not cover `aws-extra`, nor `hashicorp` `hashicorp-labs`.
        assert_eq!(
            listed.refusal(&provider("registry.terraform.io/hashicorp/aws-extra")),
            None
        );
        assert!(listed
            .refusal(&provider("registry.terraform.io/hashicorp-labs/x"))
            .is_some());
        assert!(listed
            .refusal(&provider("registry.example.test/acme/dnsx"))
            .is_some());
        assert_eq!(policy("", "").refusal(&provider("a.example/b/c")), None);
    }

    #[test]
    fn invalid_prefixes_are_refused() {
        for bad in [
            "",
            "a/b/c/d",
            "Registry.io",
            "host/ns/Type",
            "host/*",
            "../x",
        ] {
            assert!(ProviderPrefix::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_provider_prefixes("registry.terraform.io/, a.example/b").unwrap(),
            vec![
                ProviderPrefix::parse("registry.terraform.io").unwrap(),
                ProviderPrefix::parse("a.example/b").unwrap()
            ]
        );
    }
}
