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
    /// Module prefixes the token is limited to ([`crate::scope`]); empty: none.
    pub scopes: Vec<String>,
}

/// Bytes of a token name written as they are in the header; every other byte is `%XX`. Token
/// names may hold anything but `/` and control characters (`;`, `=`, `,`, spaces, non-ASCII),
/// so without this a token named `x;tier=master` would write a second tier into the header.
fn is_plain(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

/// A token name with every byte outside `A-Za-z0-9-_.~` written as `%XX`: safe in a header,
/// in S3 user metadata (US-ASCII only) and between `;` and `=`.
pub fn percent_encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if is_plain(byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The inverse of [`percent_encode`], strictly: anything it would not have written (a bare
/// `%`, a plain byte outside the safe set, bytes that are not UTF-8) is refused.
pub fn percent_decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 3;
            }
            byte if is_plain(byte) => {
                out.push(byte);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

impl Identity {
    /// `token=<name>;tier=<tier>`, the name percent-encoded (every byte but `A-Z a-z 0-9 - _ .
    /// ~`), so no name can add a field or change the tier. Names of `[a-z0-9_-]` read as before.
    pub fn to_header_value(&self) -> String {
        let mut value = format!(
            "token={};tier={}",
            percent_encode(&self.token_name),
            self.tier
        );
        if !self.scopes.is_empty() {
            // Scopes are `a-z 0-9 - _ /` only: safe between `=` and `;` as they are.
            value.push_str(";scopes=");
            value.push_str(&self.scopes.join(","));
        }
        value
    }

    /// Reads what [`Identity::to_header_value`] wrote; anything else (a field twice, an
    /// unknown field, a name that is not percent-encoded) is `None`.
    pub fn from_header_value(value: &str) -> Option<Self> {
        let mut token_name = None;
        let mut tier = None;
        let mut scopes: Option<Vec<String>> = None;
        for part in value.split(';') {
            match part.trim().split_once('=')? {
                ("token", name) if !name.is_empty() && token_name.is_none() => {
                    token_name = Some(percent_decode(name)?)
                }
                ("tier", t) if tier.is_none() => tier = Some(t.parse().ok()?),
                ("scopes", list) if scopes.is_none() => {
                    let list: Vec<String> = list.split(',').map(str::to_owned).collect();
                    if list
                        .iter()
                        .any(|s| crate::scope::validate_scope(s).is_err())
                    {
                        return None;
                    }
                    scopes = Some(list);
                }
                _ => return None,
            }
        }
        Some(Identity {
            token_name: token_name?,
            tier: tier?,
            scopes: scopes.unwrap_or_default(),
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
            scopes: Vec::new(),
        };
        let value = identity.to_header_value();
        assert_eq!(value, "token=ci-uploader;tier=uploader");
        assert_eq!(Identity::from_header_value(&value), Some(identity));
    }

    #[test]
    fn no_token_name_can_change_the_tier_the_origin_reads() {
        for name in [
            "x;tier=master",
            "x;tier=master;",
            "a=b",
            "a,b, c",
            "line\nbreak\r\n",
            "tab\there",
            "Jürgen's token ✓",
            "%41",
            "token=master",
            ";",
            " ",
            "100%",
        ] {
            let identity = Identity {
                token_name: name.into(),
                tier: Tier::Downloader,
                scopes: Vec::new(),
            };
            let value = identity.to_header_value();
            assert!(
                value.bytes().all(|b| b.is_ascii_graphic()),
                "{name:?} -> {value:?} is a plain header value"
            );
            assert_eq!(value.matches(';').count(), 1, "{value}");
            assert!(value.ends_with(";tier=downloader"), "{value}");
            assert_eq!(
                Identity::from_header_value(&value),
                Some(identity),
                "{name:?}"
            );
        }
        assert_eq!(
            Identity {
                token_name: "x;tier=master".into(),
                tier: Tier::Downloader,
                scopes: Vec::new(),
            }
            .to_header_value(),
            "token=x%3Btier%3Dmaster;tier=downloader"
        );
    }

    #[test]
    fn malformed_identity_headers_are_rejected() {
        for bad in [
            "",
            "token=a",
            "tier=master",
            "token=a;tier=root",
            "token=a;tier=master;x=1",
            "token=a;tier=downloader;tier=master",
            "token=a;token=b;tier=master",
            "token=a%;tier=master",
            "token=a%4;tier=master",
            "token=a%zz;tier=master",
            "token=a%+1;tier=master",
            "token=a b;tier=master",
            "token=%FF;tier=master",
        ] {
            assert_eq!(Identity::from_header_value(bad), None, "{bad:?}");
        }
    }
}
