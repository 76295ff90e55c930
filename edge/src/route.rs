use crate::signing::ARCHIVE_PATH_PREFIX;
use crate::Tier;

/// What a request needs before it may reach the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: the discovery document.
    Public,
    /// A valid, unexpired signature for exactly this archive path. Terraform sends no token to
    /// the URL in `X-Terraform-Get`, so the URL must authorise itself.
    SignedArchive,
    /// A bearer token of at least this tier.
    Token(Tier),
}

/// The access a route needs. Routes the registry does not know still need a downloader token,
/// so an anonymous caller learns nothing about what exists.
pub fn required_access(method: &str, path: &str) -> Access {
    let read = matches!(method, "GET" | "HEAD");
    if path == "/.well-known/terraform.json" && read {
        return Access::Public;
    }
    if path.starts_with(ARCHIVE_PATH_PREFIX) && read {
        return Access::SignedArchive;
    }
    if under(path, "/v1/tokens") || under(path, "/v1/pins") {
        return Access::Token(Tier::Master);
    }
    if path.starts_with("/v1/modules/") && !read {
        return Access::Token(Tier::Uploader);
    }
    Access::Token(Tier::Downloader)
}

/// `path` is `prefix` itself or lies beneath it on a whole segment.
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_the_tier_they_need() {
        let cases = [
            ("GET", "/.well-known/terraform.json", Access::Public),
            (
                "POST",
                "/.well-known/terraform.json",
                Access::Token(Tier::Downloader),
            ),
            (
                "GET",
                "/v1/modules/acme/vpc/aws/versions",
                Access::Token(Tier::Downloader),
            ),
            (
                "GET",
                "/v1/modules/acme/vpc/aws/1.0.0/download",
                Access::Token(Tier::Downloader),
            ),
            (
                "PUT",
                "/v1/modules/acme/vpc/aws/1.0.0",
                Access::Token(Tier::Uploader),
            ),
            ("GET", "/v1/tokens", Access::Token(Tier::Master)),
            ("POST", "/v1/tokens", Access::Token(Tier::Master)),
            ("DELETE", "/v1/tokens/ci", Access::Token(Tier::Master)),
            ("GET", "/v1/tokensmith", Access::Token(Tier::Downloader)),
            ("GET", "/v1/pins", Access::Token(Tier::Master)),
            (
                "GET",
                "/archives/acme/vpc/aws/1.0.0.tar.gz",
                Access::SignedArchive,
            ),
            (
                "PUT",
                "/archives/acme/vpc/aws/1.0.0.tar.gz",
                Access::Token(Tier::Downloader),
            ),
            ("GET", "/anything/else", Access::Token(Tier::Downloader)),
        ];
        for (method, path, access) in cases {
            assert_eq!(required_access(method, path), access, "{method} {path}");
        }
    }
}
