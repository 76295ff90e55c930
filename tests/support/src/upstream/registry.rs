//! The public registry stand-in: service discovery, each module's version list and download
//! answers as declared with [`StandIns::module`], and the archives behind the registry's own
//! URLs ([`Download::RootRelative`], [`Download::Redirect`]).

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::StatusCode;

use super::{lock, respond, BodyKind, Endpoint, Routed, StandIns, State};
use crate::archive::ArchiveBuilder;

/// Where the public registry sends Terraform for one module version: what its `download`
/// endpoint answers in `X-Terraform-Get`.
#[derive(Clone, Debug)]
pub enum Download {
    /// `git::https://github.com/{owner}/{repo}?ref={commit}`, or
    /// `git::https://github.com/{owner}/{repo}//{subdir}?ref={commit}` with a subdirectory: what
    /// the public registry answers for most GitHub-hosted modules today. The GitHub stand-in
    /// serves the tarball declared with [`StandIns::repo`] for `(owner, repo, commit)`.
    Git {
        owner: String,
        repo: String,
        commit: String,
        subdir: Option<String>,
    },
    /// `https://github.com/{owner}/{repo}/archive/{tag}.tar.gz//{subdir}?archive=tar.gz`, the
    /// registry's older answer (`subdir` like `*`, `modules/sub` or `*/modules/sub`).
    GithubArchive {
        owner: String,
        repo: String,
        tag: String,
        subdir: String,
    },
    /// `/files/{ns}/{name}/{system}/{version}.tar.gz`, a root-relative URL the registry stand-in
    /// serves itself: a plain tar.gz with `files` (path, contents) at the archive root.
    RootRelative { files: Vec<(String, String)> },
    /// `/redirect/{ns}/{name}/{system}/{version}` on the registry stand-in, which answers
    /// `302 Location: {github_url}/{owner}/{repo}/tar.gz/{commit}`.
    Redirect {
        owner: String,
        repo: String,
        commit: String,
    },
    /// Any location, verbatim (hostile cases: another forge, a metadata address, `..`).
    Literal(String),
}

impl Download {
    /// [`Download::Git`] without a subdirectory.
    pub fn git(owner: &str, repo: &str, commit: &str) -> Self {
        Download::Git {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            commit: commit.to_owned(),
            subdir: None,
        }
    }

    /// [`Download::Git`] for the module in `subdir` of the repository.
    pub fn git_subdir(owner: &str, repo: &str, commit: &str, subdir: &str) -> Self {
        Download::Git {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            commit: commit.to_owned(),
            subdir: Some(subdir.to_owned()),
        }
    }

    /// [`Download::GithubArchive`].
    pub fn github_archive(owner: &str, repo: &str, tag: &str, subdir: &str) -> Self {
        Download::GithubArchive {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            tag: tag.to_owned(),
            subdir: subdir.to_owned(),
        }
    }

    /// [`Download::RootRelative`] holding `files`.
    pub fn root_relative(files: &[(&str, &str)]) -> Self {
        Download::RootRelative {
            files: owned_files(files),
        }
    }

    /// [`Download::Redirect`].
    pub fn redirect(owner: &str, repo: &str, commit: &str) -> Self {
        Download::Redirect {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            commit: commit.to_owned(),
        }
    }

    /// [`Download::Literal`].
    pub fn literal(location: &str) -> Self {
        Download::Literal(location.to_owned())
    }

    /// The `X-Terraform-Get` value for this version of `module` (`ns/name/system`).
    pub(super) fn location(&self, module: &str, version: &str) -> String {
        match self {
            Download::Git {
                owner,
                repo,
                commit,
                subdir: None,
            } => format!("git::https://github.com/{owner}/{repo}?ref={commit}"),
            Download::Git {
                owner,
                repo,
                commit,
                subdir: Some(subdir),
            } => format!("git::https://github.com/{owner}/{repo}//{subdir}?ref={commit}"),
            Download::GithubArchive {
                owner,
                repo,
                tag,
                subdir,
            } => format!(
                "https://github.com/{owner}/{repo}/archive/{tag}.tar.gz//{subdir}?archive=tar.gz"
            ),
            Download::RootRelative { .. } => format!("/files/{module}/{version}.tar.gz"),
            Download::Redirect { .. } => format!("/redirect/{module}/{version}"),
            Download::Literal(location) => location.clone(),
        }
    }
}

impl StandIns {
    /// Declares `module` (`ns/name/system`) with `versions` in exactly the given order,
    /// replacing any earlier declaration. Panics on a malformed module address or a location
    /// that cannot be an HTTP header value.
    pub fn module<'a>(
        &self,
        module: &str,
        versions: impl IntoIterator<Item = (&'a str, Download)>,
    ) -> &Self {
        assert!(
            module.split('/').count() == 3 && module.split('/').all(|part| !part.is_empty()),
            "module addresses are ns/name/system, got {module:?}"
        );
        let versions = versions
            .into_iter()
            .map(|(version, download)| {
                let location = download.location(module, version);
                assert!(
                    HeaderValue::from_str(&location).is_ok(),
                    "{module} {version}: {location:?} cannot be sent as X-Terraform-Get"
                );
                let archive = match &download {
                    Download::RootRelative { files } => Some(root_relative_archive(files)),
                    _ => None,
                };
                ModuleVersion {
                    version: version.to_owned(),
                    download,
                    archive,
                }
            })
            .collect();
        lock(&self.state.modules).insert(module.to_owned(), versions);
        self
    }

    /// Forgets `module`: its endpoints answer 404 from now on.
    pub fn remove_module(&self, module: &str) -> &Self {
        lock(&self.state.modules).remove(module);
        self
    }
}

pub(super) struct ModuleVersion {
    version: String,
    download: Download,
    /// The tar.gz of a [`Download::RootRelative`] version.
    archive: Option<Bytes>,
}

pub(super) fn owned_files(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(path, contents)| ((*path).to_owned(), (*contents).to_owned()))
        .collect()
}

pub(super) fn route_registry(state: &State, path: &str) -> Routed {
    let json = |fault, response| Routed {
        fault,
        kind: BodyKind::Json,
        response,
    };
    let not_found = || respond(StatusCode::NOT_FOUND, "application/json", NOT_FOUND_JSON);
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let fault = |module: &str, endpoint| {
        lock(&state.registry_faults)
            .get(&(module.to_owned(), endpoint))
            .copied()
    };
    let modules = lock(&state.modules);
    match segments.as_slice() {
        [".well-known", "terraform.json"] => json(
            None,
            respond(
                StatusCode::OK,
                "application/json",
                r#"{"modules.v1":"/v1/modules/"}"#,
            ),
        ),
        ["v1", "modules", ns, name, system, "versions"] => {
            let module = format!("{ns}/{name}/{system}");
            let response = match modules.get(&module) {
                Some(versions) => {
                    let versions: Vec<_> = versions
                        .iter()
                        .map(|v| serde_json::json!({ "version": v.version }))
                        .collect();
                    let body = serde_json::json!({ "modules": [{ "versions": versions }] });
                    respond(StatusCode::OK, "application/json", body.to_string())
                }
                None => not_found(),
            };
            json(fault(&module, Endpoint::Versions), response)
        }
        ["v1", "modules", ns, name, system, version, "download"] => {
            let module = format!("{ns}/{name}/{system}");
            let location = modules
                .get(&module)
                .and_then(|versions| versions.iter().find(|v| v.version == *version))
                .map(|v| v.download.location(&module, version));
            let response = match location.map(|l| HeaderValue::from_str(&l)) {
                Some(Ok(location)) => {
                    let mut response = respond(StatusCode::NO_CONTENT, "text/plain", "");
                    response.headers_mut().remove("content-type");
                    response.headers_mut().insert("x-terraform-get", location);
                    response
                }
                Some(Err(_)) => respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "stand-in: location is not a header value",
                ),
                None => not_found(),
            };
            json(fault(&module, Endpoint::Download), response)
        }
        ["files", ns, name, system, file] => {
            let module = format!("{ns}/{name}/{system}");
            let archive = file.strip_suffix(".tar.gz").and_then(|version| {
                modules
                    .get(&module)?
                    .iter()
                    .find(|v| v.version == version)?
                    .archive
                    .clone()
            });
            let response = match archive {
                Some(archive) => respond(StatusCode::OK, "application/x-gzip", archive),
                None => not_found(),
            };
            Routed {
                fault: fault(&module, Endpoint::Archive),
                kind: BodyKind::Archive,
                response,
            }
        }
        ["redirect", ns, name, system, version] => {
            let module = format!("{ns}/{name}/{system}");
            let target = modules
                .get(&module)
                .and_then(|versions| versions.iter().find(|v| v.version == *version))
                .and_then(|v| match &v.download {
                    Download::Redirect {
                        owner,
                        repo,
                        commit,
                    } => Some(format!(
                        "{}/{owner}/{repo}/tar.gz/{commit}",
                        state.github_url
                    )),
                    _ => None,
                });
            let response = match target.map(|t| HeaderValue::from_str(&t)) {
                Some(Ok(target)) => {
                    let mut response = respond(StatusCode::FOUND, "text/plain", "");
                    response.headers_mut().insert("location", target);
                    response
                }
                _ => not_found(),
            };
            Routed {
                fault: fault(&module, Endpoint::Archive),
                kind: BodyKind::Archive,
                response,
            }
        }
        _ => json(None, not_found()),
    }
}

const NOT_FOUND_JSON: &str = r#"{"errors":["Not Found"]}"#;

/// The plain tar.gz of a [`Download::RootRelative`] version: `files` at the archive root, no
/// directory entries, dated like the GitHub stand-in's tarballs.
fn root_relative_archive(files: &[(String, String)]) -> Bytes {
    let mut archive = ArchiveBuilder::new()
        .mtime(super::github::COMMIT_TIME)
        .umask(0o002);
    for (path, contents) in files {
        archive = archive.file(path, contents);
    }
    Bytes::from(archive.build_tar_gz())
}
