use crate::Tier;

/// The header that carries the identity the edge established to the origin. The edge removes
/// any copy a viewer sent before it decides, so the origin can trust what it finds here.
pub const IDENTITY_HEADER: &str = "x-tfreg-identity";

/// Who made a request, as far as the origin needs to know: the token's name and tier. Never
/// the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub token_name: String,
    pub tier: Tier,
}

impl Identity {
    /// `token=<name>;tier=<tier>`. Token names are `[a-z0-9_-]`, so no escaping is needed.
    pub fn to_header_value(&self) -> String {
        format!("token={};tier={}", self.token_name, self.tier)
    }

    pub fn from_header_value(value: &str) -> Option<Self> {
        let mut token_name = None;
        let mut tier = None;
        for part in value.split(';') {
            match part.trim().split_once('=')? {
                ("token", name) if !name.is_empty() => token_name = Some(name.to_owned()),
                ("tier", t) => tier = Some(t.parse().ok()?),
                _ => return None,
            }
        }
        Some(Identity {
            token_name: token_name?,
            tier: tier?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips_through_its_header() {
        let identity = Identity {
            token_name: "ci-uploader".into(),
            tier: Tier::Uploader,
        };
        let value = identity.to_header_value();
        assert_eq!(value, "token=ci-uploader;tier=uploader");
        assert_eq!(Identity::from_header_value(&value), Some(identity));
    }

    #[test]
    fn malformed_identity_headers_are_rejected() {
        for bad in [
            "",
            "token=a",
            "tier=master",
            "token=a;tier=root",
            "token=a;tier=master;x=1",
        ] {
            assert_eq!(Identity::from_header_value(bad), None, "{bad:?}");
        }
    }
}
