//! Turning an upstream registry's download answer (`X-Terraform-Get`) into one archive fetch.
//!
//! The public registry answers most modules with `git::https://github.com/OWNER/REPO?ref=SHA`,
//! some with GitHub archive URLs (`https://github.com/O/R/archive/v1.tar.gz//*?archive=tar.gz`)
//! and private registries with URLs on their own host, absolute or relative. Terraform hands
//! these to go-getter, which runs git, follows redirects anywhere and unpacks whatever comes
//! back. The proxy does not: it reads the answer the way go-getter would (forced getter,
//! `//subdir`, `archive=`, `checksum=`), but only ever turns it into an HTTP GET on the
//! upstream registry's own host or on the configured GitHub archive host. A git source on
//! GitHub becomes GitHub's tarball of that ref, so no git client is needed; anything else is
//! refused with the source named, rather than fetched.

use reqwest::Url;

/// Where the proxy may fetch from, fixed by configuration.
#[derive(Debug, Clone)]
pub struct FetchOrigins {
    /// The upstream registry's base URL; relative answers resolve against its download URL.
    pub upstream: Url,
    /// GitHub's archive host (codeload): `{base}/{owner}/{repo}/tar.gz/{ref}`.
    pub github_archive: Url,
}

impl FetchOrigins {
    /// Whether `url` is on one of the two hosts the proxy may talk to (scheme, host and port
    /// all equal).
    pub fn permits(&self, url: &Url) -> bool {
        [&self.upstream, &self.github_archive]
            .iter()
            .any(|allowed| allowed.origin() == url.origin())
    }

    /// Whether `url` is one of the GitHub archive host's tarballs:
    /// `{base}/{owner}/{repo}/{tar.gz|zip|legacy.tar.gz|legacy.zip}/{ref}`.
    pub fn is_github_tarball(&self, url: &Url) -> bool {
        if url.origin() != self.github_archive.origin() {
            return false;
        }
        let base = self.github_archive.path().trim_end_matches('/');
        let Some(rest) = url.path().strip_prefix(base) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix('/') else {
            return false;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        parts.len() >= 4
            && parts[..4].iter().all(|part| !part.is_empty())
            && matches!(parts[2], "tar.gz" | "zip" | "legacy.tar.gz" | "legacy.zip")
    }

    /// The tarball of `reference` of a GitHub repository, on the configured archive host.
    pub fn github_tarball(&self, repo: &GithubRepo, reference: &str) -> Url {
        let mut url = self.github_archive.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .expect("an http(s) base URL has path segments");
            segments.pop_if_empty();
            segments.push(&repo.owner).push(&repo.name).push("tar.gz");
            for part in reference.split('/') {
                segments.push(part);
            }
        }
        url
    }
}

/// A GitHub repository named in an upstream answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubRepo {
    pub owner: String,
    pub name: String,
}

/// One archive to fetch, and where the module sits inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSource {
    pub url: Url,
    /// The directory to keep, as a pattern for
    /// [`normalize_archive_subdir`](crate::archive::normalize_archive_subdir) (`*` matches a
    /// forge archive's top folder). `None`: the archive root, with a lone top folder
    /// stripped as for uploads.
    pub select: Option<String>,
    /// A `sha256` the fetched bytes must have (go-getter's `checksum=sha256:…`).
    pub sha256: Option<String>,
}

impl ArchiveSource {
    /// The source as recorded in provenance (version metadata, pins, logs): the URL without
    /// its query or credentials, then `//` and the directory kept. An upstream's archive URL
    /// may be signed (another tfreg's `signature=`, an S3 presigned `X-Amz-Signature=`), and a
    /// signature has no business in stored metadata, answers or logs.
    pub fn describe(&self) -> String {
        let url = super::upstream::display_url(&self.url);
        match &self.select {
            Some(select) => format!("{url}//{select}"),
            None => url,
        }
    }
}

/// Why an upstream answer cannot be served. Shown to clients (as a 502) and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("the upstream registry gave an empty download location")]
    Empty,
    #[error("the upstream module source {location:?} uses the {getter}:: getter; this registry only fetches HTTP archives and GitHub repositories")]
    UnsupportedGetter { getter: String, location: String },
    #[error("the upstream module source {0:?} is a git repository outside GitHub; this registry turns only GitHub repositories into archive downloads (pin the module from an archive instead)")]
    GitOutsideGithub(String),
    #[error("the upstream module source {0:?} is on a host this registry does not fetch from (only the upstream registry and the GitHub archive host)")]
    DisallowedHost(String),
    #[error("the upstream module source {0:?} is not a URL this registry can fetch")]
    Unreadable(String),
    #[error("the upstream module source {location:?} names an invalid {part}")]
    InvalidPart {
        part: &'static str,
        location: String,
    },
    #[error(
        "the upstream module source {0:?} asks for an archive format other than tar.gz or zip"
    )]
    UnsupportedArchive(String),
    #[error("the upstream module source {0:?} has a checksum that is not sha256:<64 hex digits>")]
    UnsupportedChecksum(String),
}

impl SourceError {
    /// The same error, its location written by [`shown_location`]: these errors go to clients
    /// (as a 502) and to the log.
    fn redacted(self) -> Self {
        use SourceError::*;
        match self {
            Empty => Empty,
            UnsupportedGetter { getter, location } => UnsupportedGetter {
                getter,
                location: shown_location(&location),
            },
            GitOutsideGithub(location) => GitOutsideGithub(shown_location(&location)),
            DisallowedHost(location) => DisallowedHost(shown_location(&location)),
            Unreadable(location) => Unreadable(shown_location(&location)),
            InvalidPart { part, location } => InvalidPart {
                part,
                location: shown_location(&location),
            },
            UnsupportedArchive(location) => UnsupportedArchive(shown_location(&location)),
            UnsupportedChecksum(location) => UnsupportedChecksum(shown_location(&location)),
        }
    }
}

/// Query parameters whose values an error shows: go-getter's own, which say what was asked
/// for. Any other value may be a credential (an S3 presigned URL's `X-Amz-Signature` and
/// `X-Amz-Security-Token`, another registry's `signature`, go-getter's `sshkey`).
const SHOWN_QUERY_PARAMETERS: &[&str] = &["ref", "archive", "checksum", "depth"];

/// An upstream location as an error or a pin record shows it: credentials in the URL
/// (`user:password@`) and the values of query parameters other than [`SHOWN_QUERY_PARAMETERS`]
/// replaced by `REDACTED`.
pub fn shown_location(location: &str) -> String {
    let (address, query) = match location.split_once('?') {
        Some((address, query)) => (address, Some(query)),
        None => (location, None),
    };
    let mut shown = address.to_owned();
    if let Some(scheme_end) = address.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = address[authority_start..]
            .find('/')
            .map_or(address.len(), |i| authority_start + i);
        if let Some(at) = address[authority_start..authority_end].rfind('@') {
            shown = format!(
                "{}REDACTED{}",
                &address[..authority_start],
                &address[authority_start + at..]
            );
        }
    }
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if !SHOWN_QUERY_PARAMETERS.contains(&name) => {
                    format!("{name}=REDACTED")
                }
                _ => pair.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    shown
}

/// go-getter's forced-getter prefix: `git::https://…` → (`git`, `https://…`).
fn split_forced_getter(source: &str) -> (Option<&str>, &str) {
    if let Some((getter, rest)) = source.split_once("::") {
        if !getter.is_empty() && getter.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return (Some(getter), rest);
        }
    }
    (None, source)
}

/// go-getter's `SourceDirSubdir`: the first `//` after any scheme and before any query starts
/// the subdirectory; a query after the subdirectory belongs to the URL.
fn split_subdir(source: &str) -> (String, Option<String>) {
    let stop = source.find('?').unwrap_or(source.len());
    let offset = source[..stop].find("://").map_or(0, |i| i + 3);
    let Some(at) = source[offset..stop].find("//") else {
        return (source.to_owned(), None);
    };
    let at = offset + at;
    let mut url = source[..at].to_owned();
    let mut subdir = &source[at + 2..];
    if let Some(query) = subdir.find('?') {
        url.push_str(&subdir[query..]);
        subdir = &subdir[..query];
    }
    let subdir = subdir.trim_matches('/');
    (url, (!subdir.is_empty()).then(|| subdir.to_owned()))
}

/// The archive code's rules for a selection (`archive/selection.rs`), checked here so that a
/// pattern it would refuse is refused before anything is fetched: no `..`, backslash or NUL,
/// and a wildcard only as a whole component (go-getter globs `*`, `?` and `[` anywhere).
fn valid_subdir(subdir: &str) -> bool {
    !subdir.contains('\\')
        && !subdir.contains('\0')
        && subdir
            .split('/')
            .all(|part| part != ".." && (part == "*" || !part.contains(['*', '?', '['])))
}

fn valid_repo_part(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part.len() <= 100
        && part
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Branch, tag or commit: what git allows in a ref name that we also want in a URL path.
fn valid_reference(reference: &str) -> bool {
    !reference.is_empty()
        && reference.len() <= 255
        && !reference.starts_with('/')
        && !reference.ends_with('/')
        && reference
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/' | b'+'))
}

fn is_github_host(url: &Url) -> bool {
    url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("github.com") || host.eq_ignore_ascii_case("www.github.com")
    })
}

/// `OWNER/REPO` (with an optional `.git`) from the first two path segments.
fn github_repo(segments: &[&str], source: &str) -> Result<GithubRepo, SourceError> {
    let invalid = |part| SourceError::InvalidPart {
        part,
        location: source.to_owned(),
    };
    let owner = segments.first().copied().unwrap_or_default();
    let name = segments.get(1).copied().unwrap_or_default();
    let name = name.strip_suffix(".git").unwrap_or(name);
    if !valid_repo_part(owner) {
        return Err(invalid("GitHub owner"));
    }
    if !valid_repo_part(name) {
        return Err(invalid("GitHub repository"));
    }
    Ok(GithubRepo {
        owner: owner.to_owned(),
        name: name.to_owned(),
    })
}

/// The subdirectory pattern inside a forge tarball, whose entries all sit in one top folder.
/// A git subdirectory is relative to the repository, so it lies beneath that folder; a `*`
/// (as in `archive/v1.tar.gz//*`) already names the folder.
fn forge_select(subdir: Option<&str>) -> String {
    match subdir {
        None => "*".to_owned(),
        Some(dir) if dir == "*" || dir.starts_with("*/") => dir.to_owned(),
        Some(dir) => format!("*/{dir}"),
    }
}

/// Reads an upstream download answer. `download_url` is the URL that gave it (relative
/// answers resolve against it, as Terraform resolves them).
pub fn resolve_source(
    location: &str,
    download_url: &Url,
    origins: &FetchOrigins,
) -> Result<ArchiveSource, SourceError> {
    resolve_unredacted(location, download_url, origins).map_err(SourceError::redacted)
}

fn resolve_unredacted(
    location: &str,
    download_url: &Url,
    origins: &FetchOrigins,
) -> Result<ArchiveSource, SourceError> {
    let source = location.trim();
    if source.is_empty() {
        return Err(SourceError::Empty);
    }
    let (getter, rest) = split_forced_getter(source);
    let (address, subdir) = split_subdir(rest);
    if let Some(dir) = &subdir {
        if !valid_subdir(dir) {
            return Err(SourceError::InvalidPart {
                part: "subdirectory",
                location: source.to_owned(),
            });
        }
    }
    match getter {
        Some("git") => git_source(&address, subdir.as_deref(), source, origins),
        Some("http" | "https") | None => {
            // go-getter's GitHub detector: `github.com/OWNER/REPO` without a scheme is git.
            if getter.is_none() && address.starts_with("github.com/") {
                return git_source(
                    &format!("https://{address}"),
                    subdir.as_deref(),
                    source,
                    origins,
                );
            }
            if getter.is_none() && address.starts_with("git@") {
                return git_source(&address, subdir.as_deref(), source, origins);
            }
            http_source(&address, subdir.as_deref(), source, download_url, origins)
        }
        Some(other) => Err(SourceError::UnsupportedGetter {
            getter: other.to_owned(),
            location: source.to_owned(),
        }),
    }
}

fn git_source(
    address: &str,
    subdir: Option<&str>,
    source: &str,
    origins: &FetchOrigins,
) -> Result<ArchiveSource, SourceError> {
    // scp-like `git@github.com:OWNER/REPO.git` is ssh; the same repository over HTTPS has the
    // same tarball.
    let normalized = match address.strip_prefix("git@") {
        Some(rest) => match rest.split_once(':') {
            Some((host, path)) => format!("ssh://git@{host}/{path}"),
            None => return Err(SourceError::Unreadable(source.to_owned())),
        },
        None => address.to_owned(),
    };
    let url = Url::parse(&normalized).map_err(|_| SourceError::Unreadable(source.to_owned()))?;
    if !matches!(url.scheme(), "https" | "http" | "ssh" | "git") {
        return Err(SourceError::Unreadable(source.to_owned()));
    }
    if !is_github_host(&url) {
        return Err(SourceError::GitOutsideGithub(source.to_owned()));
    }
    let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
    if segments.iter().filter(|s| !s.is_empty()).count() != 2 {
        return Err(SourceError::InvalidPart {
            part: "GitHub repository path",
            location: source.to_owned(),
        });
    }
    let repo = github_repo(&segments, source)?;
    let reference = url
        .query_pairs()
        .find(|(name, _)| name == "ref")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| "HEAD".to_owned());
    if !valid_reference(&reference) {
        return Err(SourceError::InvalidPart {
            part: "git ref",
            location: source.to_owned(),
        });
    }
    Ok(ArchiveSource {
        url: origins.github_tarball(&repo, &reference),
        select: Some(forge_select(subdir)),
        sha256: None,
    })
}

fn http_source(
    address: &str,
    subdir: Option<&str>,
    source: &str,
    download_url: &Url,
    origins: &FetchOrigins,
) -> Result<ArchiveSource, SourceError> {
    let mut url = download_url
        .join(address)
        .map_err(|_| SourceError::Unreadable(source.to_owned()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(SourceError::Unreadable(source.to_owned()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SourceError::DisallowedHost(source.to_owned()));
    }

    // go-getter consumes `archive` and `checksum` and sends the rest of the query.
    let mut archive = None;
    let mut checksum = None;
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter_map(|(name, value)| match name.as_ref() {
            "archive" => {
                archive = Some(value.into_owned());
                None
            }
            "checksum" => {
                checksum = Some(value.into_owned());
                None
            }
            _ => Some((name.into_owned(), value.into_owned())),
        })
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.set_query(Some(&super::go_query::go_query_encode(kept)));
    }
    if let Some(format) = &archive {
        if !matches!(format.as_str(), "tar.gz" | "tgz" | "zip") {
            return Err(SourceError::UnsupportedArchive(source.to_owned()));
        }
    }
    let sha256 = match checksum {
        None => None,
        Some(value) => {
            let hex = value
                .strip_prefix("sha256:")
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| SourceError::UnsupportedChecksum(source.to_owned()))?;
            Some(hex.to_ascii_lowercase())
        }
    };

    // GitHub archive URLs (`/O/R/archive/REF.tar.gz`, also `refs/tags/REF`) are read as the
    // same tarball on the archive host, so a redirect to codeload is not needed and the host
    // stays fixed by configuration.
    if is_github_host(&url) {
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| s.map(str::to_owned).collect())
            .unwrap_or_default();
        let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
        let (Some(&"archive"), true) = (parts.get(2), parts.len() >= 4) else {
            return Err(SourceError::DisallowedHost(source.to_owned()));
        };
        let last = parts[parts.len() - 1];
        let repo = github_repo(&parts, source)?;
        let mut reference_parts: Vec<&str> = parts[3..parts.len() - 1].to_vec();
        let file = last
            .strip_suffix(".tar.gz")
            .or_else(|| last.strip_suffix(".zip"))
            .ok_or_else(|| SourceError::UnsupportedArchive(source.to_owned()))?;
        reference_parts.push(file);
        let mut reference = reference_parts.join("/");
        for prefix in ["refs/tags/", "refs/heads/"] {
            if let Some(rest) = reference.strip_prefix(prefix) {
                reference = rest.to_owned();
            }
        }
        if !valid_reference(&reference) {
            return Err(SourceError::InvalidPart {
                part: "git ref",
                location: source.to_owned(),
            });
        }
        return Ok(ArchiveSource {
            url: origins.github_tarball(&repo, &reference),
            select: Some(forge_select(subdir)),
            sha256,
        });
    }
    // Only GitHub's tarballs have their top folder removed by rule (they always have one).
    // Anything else, also on the same host (a private registry that serves both, or an
    // upstream that is this registry), is used as it is, as go-getter uses it: a plain
    // tarball with its files at the root has no folder to remove.
    if origins.is_github_tarball(&url) {
        return Ok(ArchiveSource {
            url,
            select: Some(forge_select(subdir)),
            sha256,
        });
    }
    if origins.permits(&url) {
        return Ok(ArchiveSource {
            url,
            select: subdir.map(str::to_owned),
            sha256,
        });
    }
    Err(SourceError::DisallowedHost(source.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins() -> FetchOrigins {
        FetchOrigins {
            upstream: Url::parse("https://registry.example.net").unwrap(),
            github_archive: Url::parse("http://127.0.0.1:9001/gh").unwrap(),
        }
    }

    fn download_url() -> Url {
        Url::parse("https://registry.example.net/v1/modules/acme/vpc/aws/1.2.0/download").unwrap()
    }

    fn resolve(location: &str) -> Result<ArchiveSource, SourceError> {
        resolve_source(location, &download_url(), &origins())
    }

    /// Found by the `upstream_source` fuzz target (tests/fuzz): a subdirectory with a wildcard
    /// inside a component was accepted here, the archive fetched, and only then refused by
    /// the archive code.
    #[test]
    fn a_subdirectory_the_archive_code_refuses_is_refused_before_fetching() {
        for location in [
            "https://registry.example.net/a.tar.gz//modules/x[1]",
            "https://registry.example.net/a.tar.gz//mod*/x",
            "git::https://github.com/acme/vpc//modules/sub*?ref=v1",
            "github.com/acme/vpc//a[b",
        ] {
            let error = resolve(location).expect_err(location);
            assert!(
                matches!(
                    error,
                    SourceError::InvalidPart {
                        part: "subdirectory",
                        ..
                    }
                ),
                "{location}: {error}"
            );
        }
        let (_, select, _) = ok("https://registry.example.net/a.tar.gz//*/modules/sub");
        assert_eq!(select.as_deref(), Some("*/modules/sub"));
    }

    fn ok(location: &str) -> (String, Option<String>, Option<String>) {
        let source = resolve(location).unwrap_or_else(|e| panic!("{location}: {e}"));
        (source.url.to_string(), source.select, source.sha256)
    }

    #[test]
    fn git_on_github_becomes_the_tarball_of_the_ref() {
        let sha = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
        assert_eq!(
            ok(&format!(
                "git::https://github.com/terraform-aws-modules/terraform-aws-vpc?ref={sha}"
            )),
            (
                format!(
                    "http://127.0.0.1:9001/gh/terraform-aws-modules/terraform-aws-vpc/tar.gz/{sha}"
                ),
                Some("*".into()),
                None
            )
        );
        assert_eq!(
            ok("git::https://github.com/hashicorp/terraform-aws-consul.git//modules/consul-cluster?ref=v0.12.0"),
            (
                "http://127.0.0.1:9001/gh/hashicorp/terraform-aws-consul/tar.gz/v0.12.0".into(),
                Some("*/modules/consul-cluster".into()),
                None
            )
        );
        assert_eq!(
            ok("git::ssh://git@github.com/acme/mods.git?ref=release/1.x").0,
            "http://127.0.0.1:9001/gh/acme/mods/tar.gz/release/1.x"
        );
        assert_eq!(
            ok("git@github.com:acme/mods.git?ref=v1").0,
            "http://127.0.0.1:9001/gh/acme/mods/tar.gz/v1"
        );
        assert_eq!(
            ok("github.com/acme/mods").0,
            "http://127.0.0.1:9001/gh/acme/mods/tar.gz/HEAD"
        );
    }

    #[test]
    fn github_archive_urls_are_fetched_from_the_archive_host() {
        assert_eq!(
            ok("https://github.com/acme/terraform-aws-vpc/archive/v1.2.0.tar.gz//*?archive=tar.gz"),
            (
                "http://127.0.0.1:9001/gh/acme/terraform-aws-vpc/tar.gz/v1.2.0".into(),
                Some("*".into()),
                None
            )
        );
        assert_eq!(
            ok("https://github.com/acme/mods/archive/refs/tags/v2.0.0.tar.gz//modules/sub?archive=tar.gz").1,
            Some("*/modules/sub".into())
        );
        assert_eq!(
            ok("https://github.com/acme/mods/archive/v2.zip//*/modules/sub").1,
            Some("*/modules/sub".into())
        );
    }

    #[test]
    fn urls_on_the_upstream_resolve_like_terraform_resolves_them() {
        let sum = "ab".repeat(32);
        assert_eq!(
            ok(&format!(
                "/files/vpc-1.2.0.tar.gz?archive=tar.gz&checksum=sha256:{sum}&x=1"
            )),
            (
                "https://registry.example.net/files/vpc-1.2.0.tar.gz?x=1".into(),
                None,
                Some(sum.clone())
            )
        );
        assert_eq!(
            ok("../../../../../../files/a.zip//sub").0,
            "https://registry.example.net/files/a.zip"
        );
        assert_eq!(
            ok("https://registry.example.net/a.tgz//sub/dir").1,
            Some("sub/dir".into())
        );
        assert_eq!(
            ok("http://127.0.0.1:9001/gh/acme/mods/tar.gz/abc").1,
            Some("*".into())
        );
    }

    /// An upstream that serves plain tarballs (files at the root) from the same host as the
    /// GitHub archive host, or that is this registry: the archive is used as it is.
    #[test]
    fn only_github_tarballs_have_their_top_folder_removed() {
        let shared = FetchOrigins {
            upstream: Url::parse("https://registry.example.net").unwrap(),
            github_archive: Url::parse("https://registry.example.net/gh").unwrap(),
        };
        let resolve = |location: &str| resolve_source(location, &download_url(), &shared).unwrap();
        let plain = resolve(&format!(
            "/archives/acme/vpc/aws/1.2.0/module.tar.gz?expires=1&signature=x&checksum=sha256:{}",
            "ab".repeat(32)
        ));
        assert_eq!(plain.select, None);
        assert_eq!(plain.sha256, Some("ab".repeat(32)));
        assert_eq!(
            resolve("/files/vpc.tar.gz//modules/sub").select,
            Some("modules/sub".into())
        );
        assert_eq!(resolve("/gh/acme/mods/tar.gz/v1").select, Some("*".into()));
        assert_eq!(
            resolve("/gh/acme/mods/zip/v1//sub").select,
            Some("*/sub".into())
        );
        assert_eq!(resolve("/gh/acme/mods.tar.gz").select, None);
        assert_eq!(resolve("/ghost/acme/mods/tar.gz/v1").select, None);
    }

    /// An upstream answer this registry does not fetch is shown to the client and logged
    /// without the credentials it may carry.
    #[test]
    fn refused_sources_are_shown_without_credentials() {
        let shown = |location: &str| resolve(location).unwrap_err().to_string();
        let presigned = shown(
            "https://bucket.s3.amazonaws.com/vpc.zip?X-Amz-Credential=AKIAEXAMPLE&X-Amz-Signature=s3cr3t&archive=zip",
        );
        assert!(
            !presigned.contains("s3cr3t") && !presigned.contains("AKIAEXAMPLE"),
            "{presigned}"
        );
        assert!(
            presigned
                .contains("vpc.zip?X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED&archive=zip"),
            "{presigned}"
        );
        let userinfo = shown("https://ci:hunter2@registry.example.net/files/vpc.zip");
        assert!(!userinfo.contains("hunter2"), "{userinfo}");
        assert!(
            userinfo.contains("\"https://REDACTED@registry.example.net/files/vpc.zip\""),
            "{userinfo}"
        );
        let sshkey = shown("git::ssh://git@gitlab.com/acme/vpc.git?ref=v1&sshkey=cHJpdmF0ZQ==");
        assert!(!sshkey.contains("cHJpdmF0ZQ"), "{sshkey}");
        assert!(sshkey.contains("?ref=v1&sshkey=REDACTED"), "{sshkey}");
    }

    /// A signed archive URL (an upstream that is another tfreg, or a private registry that
    /// answers with S3 presigned URLs) is fetched with its query, but provenance keeps none
    /// of it.
    #[test]
    fn provenance_never_keeps_an_archive_urls_signature() {
        let source = resolve(&format!(
            "/archives/acme/vpc/aws/1.2.0/module.tar.gz?expires=1&signature=s3cr3t&checksum=sha256:{}",
            "ab".repeat(32)
        ))
        .unwrap();
        assert!(source.url.as_str().contains("signature=s3cr3t"));
        assert_eq!(
            source.describe(),
            "https://registry.example.net/archives/acme/vpc/aws/1.2.0/module.tar.gz"
        );
        let source = resolve(
            "https://registry.example.net/files/vpc.zip//modules/sub?X-Amz-Signature=s3cr3t&X-Amz-Security-Token=t0k3n",
        )
        .unwrap();
        assert!(source.url.as_str().contains("X-Amz-Signature=s3cr3t"));
        assert_eq!(
            source.describe(),
            "https://registry.example.net/files/vpc.zip//modules/sub"
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_source_named() {
        assert_eq!(
            resolve("git::https://gitlab.com/acme/vpc.git?ref=v1").unwrap_err().to_string(),
            "the upstream module source \"git::https://gitlab.com/acme/vpc.git?ref=v1\" is a git repository outside GitHub; this registry turns only GitHub repositories into archive downloads (pin the module from an archive instead)"
        );
        assert_eq!(
            resolve("s3::https://s3.amazonaws.com/bucket/vpc.zip").unwrap_err().to_string(),
            "the upstream module source \"s3::https://s3.amazonaws.com/bucket/vpc.zip\" uses the s3:: getter; this registry only fetches HTTP archives and GitHub repositories"
        );
        for hostile in [
            "http://169.254.169.254/latest/meta-data",
            "https://registry.example.net:8443/files/a.tar.gz",
            "http://registry.example.net/files/a.tar.gz",
            "https://user:pw@registry.example.net/a.tar.gz",
            "https://github.com/acme/mods/releases/download/v1/mods.tar.gz",
            "https://objects.githubusercontent.com/x.tar.gz",
            "file:///etc/passwd",
        ] {
            assert!(resolve(hostile).is_err(), "{hostile}");
        }
        for invalid in [
            "git::https://github.com/../../etc?ref=v1",
            "git::https://github.com/acme/mods?ref=../../x",
            "git::https://github.com/acme/mods/extra?ref=v1",
            "https://github.com/acme/../archive/v1.tar.gz",
            "https://github.com/acme/mods/archive",
            "https://github.com/acme/mods/archive/",
            "https://registry.example.net/a.tar.gz//../../x",
            "git::https://github.com/acme/mods//../x?ref=v1",
        ] {
            assert!(resolve(invalid).is_err(), "{invalid}");
        }
        assert!(matches!(
            resolve("https://registry.example.net/a.tar.bz2?archive=tar.bz2"),
            Err(SourceError::UnsupportedArchive(_))
        ));
        assert!(matches!(
            resolve("https://registry.example.net/a.tar.gz?checksum=md5:abc"),
            Err(SourceError::UnsupportedChecksum(_))
        ));
        assert_eq!(resolve("  "), Err(SourceError::Empty));
    }

    #[test]
    fn subdirectories_split_the_way_go_getter_splits_them() {
        assert_eq!(
            split_subdir("https://h/a.tgz"),
            ("https://h/a.tgz".into(), None)
        );
        assert_eq!(
            split_subdir("https://h/a.tgz//x/y?ref=1"),
            ("https://h/a.tgz?ref=1".into(), Some("x/y".into()))
        );
        assert_eq!(
            split_subdir("https://h/a?u=https://x//y"),
            ("https://h/a?u=https://x//y".into(), None)
        );
        assert_eq!(
            split_subdir("github.com/a/b//c"),
            ("github.com/a/b".into(), Some("c".into()))
        );
    }
}
