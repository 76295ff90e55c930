//! The GitHub stand-in: tarballs of the repositories declared with [`StandIns::repo`],
//! served at codeload's `/{owner}/{repo}/tar.gz/{ref}` and redirected to from github.com's
//! `/{owner}/{repo}/archive/{ref}.tar.gz`.

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::StatusCode;
use sha2::Digest;
use std::collections::HashMap;

use super::{lock, respond, BodyKind, Routed, StandIns, State};
use crate::archive::ArchiveBuilder;

/// The modification time of every entry in a GitHub tarball (GitHub uses the commit's time).
pub(super) const COMMIT_TIME: u64 = 1_700_000_000;

/// The contents of one ref of a repository, as the GitHub stand-in's tarball holds them
/// beneath its top folder.
#[derive(Clone, Debug, Default)]
pub struct Repo {
    /// Regular files `(path, contents)`, paths relative to the repository root.
    pub files: Vec<(String, String)>,
    /// Entries written after the files, for hostile archives.
    pub raw: Vec<RawEntry>,
}

impl Repo {
    /// A repository holding `files` (`("main.tf", "…")`, `("modules/sub/main.tf", "…")`).
    pub fn files(files: &[(&str, &str)]) -> Self {
        Repo {
            files: super::registry::owned_files(files),
            raw: Vec::new(),
        }
    }

    /// Adds a raw entry after the files.
    pub fn with(mut self, entry: RawEntry) -> Self {
        self.raw.push(entry);
        self
    }
}

/// A tar entry written as given, without the checks the `tar` crate makes, for hostile
/// archives (see [`ArchiveBuilder`]). Paths are beneath the top folder unless the variant says otherwise.
#[derive(Clone, Debug)]
pub enum RawEntry {
    /// A regular file with any contents and mode (binary, large, setuid…).
    File {
        path: String,
        contents: Vec<u8>,
        mode: u32,
    },
    /// A symbolic link to `target` (written verbatim: `/etc/passwd`, `../../x`).
    Symlink { path: String, target: String },
    /// A hard link to `target` (written verbatim).
    Hardlink { path: String, target: String },
    /// A regular file whose header name is `path` exactly, not beneath the top folder
    /// (`../escape`, `/etc/cron.d/x`, a second top folder).
    Verbatim { path: String, contents: Vec<u8> },
}

impl RawEntry {
    /// [`RawEntry::Symlink`].
    pub fn symlink(path: &str, target: &str) -> Self {
        RawEntry::Symlink {
            path: path.to_owned(),
            target: target.to_owned(),
        }
    }

    /// [`RawEntry::Hardlink`].
    pub fn hardlink(path: &str, target: &str) -> Self {
        RawEntry::Hardlink {
            path: path.to_owned(),
            target: target.to_owned(),
        }
    }

    /// [`RawEntry::File`].
    pub fn file(path: &str, contents: impl Into<Vec<u8>>, mode: u32) -> Self {
        RawEntry::File {
            path: path.to_owned(),
            contents: contents.into(),
            mode,
        }
    }

    /// [`RawEntry::Verbatim`].
    pub fn verbatim(path: &str, contents: impl Into<Vec<u8>>) -> Self {
        RawEntry::Verbatim {
            path: path.to_owned(),
            contents: contents.into(),
        }
    }
}

impl StandIns {
    /// Serves `content` for `owner/name` at `git_ref`: a 40-hex commit sha or a tag. A tag's
    /// tarball is also served by its commit ([`tag_commit`]) and as `refs/tags/{tag}`.
    pub fn repo(&self, owner: &str, name: &str, git_ref: &str, content: Repo) -> &Self {
        let mut by_ref = HashMap::new();
        if is_commit(git_ref) {
            by_ref.insert(
                git_ref.to_owned(),
                github_tarball(name, git_ref, git_ref, &content),
            );
        } else {
            let commit = tag_commit(owner, name, git_ref);
            // GitHub names the folder after the version: `v1.2.0` -> `{repo}-1.2.0`.
            let folder = match git_ref.strip_prefix('v') {
                Some(version) if version.starts_with(|c: char| c.is_ascii_digit()) => version,
                _ => git_ref,
            }
            .replace('/', "-");
            by_ref.insert(
                git_ref.to_owned(),
                github_tarball(name, &folder, &commit, &content),
            );
            by_ref.insert(
                commit.clone(),
                github_tarball(name, &commit, &commit, &content),
            );
        }
        lock(&self.state.archives)
            .entry((owner.to_owned(), name.to_owned()))
            .or_default()
            .extend(by_ref);
        self
    }
}

/// A repository with a root module, a submodule and an example, each file naming `label`, so a
/// test can tell which repository and which directory an installed module came from.
pub fn sample_repo(label: &str) -> Repo {
    Repo::files(&[
        (
            "main.tf",
            &format!("# {label} root\noutput \"which\" {{ value = \"{label}\" }}\n"),
        ),
        ("README.md", &format!("{label} readme\n")),
        (
            "modules/sub/main.tf",
            &format!("# {label} sub\noutput \"which\" {{ value = \"{label}/sub\" }}\n"),
        ),
        ("examples/basic/main.tf", "# example\n"),
    ])
}

/// The commit sha the GitHub stand-in gives a tag declared with [`StandIns::repo`]: stable,
/// 40 hex digits, and different per `(owner, repo, tag)`.
pub fn tag_commit(owner: &str, repo: &str, tag: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{owner}/{repo}@{tag}").as_bytes());
    hex::encode(&digest[..20])
}

fn is_commit(git_ref: &str) -> bool {
    git_ref.len() == 40
        && git_ref
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(super) fn route_github(state: &State, path: &str) -> Routed {
    let archive = |fault, response| Routed {
        fault,
        kind: BodyKind::Archive,
        response,
    };
    let not_found = || respond(StatusCode::NOT_FOUND, "text/plain", "404: Not Found");
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let (owner, repo, rest) = match segments.as_slice() {
        [owner, repo, rest @ ..] if !rest.is_empty() => (*owner, *repo, rest),
        _ => return archive(None, not_found()),
    };
    let fault = lock(&state.github_faults)
        .get(&(owner.to_owned(), repo.to_owned()))
        .copied();
    let response = match rest {
        // codeload.github.com/{owner}/{repo}/tar.gz/{ref}
        ["tar.gz", git_ref @ ..] if !git_ref.is_empty() => {
            let git_ref = git_ref.join("/");
            let git_ref = git_ref.strip_prefix("refs/tags/").unwrap_or(&git_ref);
            let tarball = lock(&state.archives)
                .get(&(owner.to_owned(), repo.to_owned()))
                .and_then(|refs| refs.get(git_ref).cloned());
            match tarball {
                Some(tarball) => {
                    let mut response = respond(StatusCode::OK, "application/x-gzip", tarball);
                    let disposition = format!(
                        "attachment; filename={repo}-{}.tar.gz",
                        git_ref.replace('/', "-")
                    );
                    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
                        response
                            .headers_mut()
                            .insert("content-disposition", disposition);
                    }
                    response
                }
                None => not_found(),
            }
        }
        // github.com/{owner}/{repo}/archive/{ref}.tar.gz redirects to codeload, as GitHub does.
        ["archive", git_ref @ ..] if !git_ref.is_empty() => {
            let git_ref = git_ref.join("/");
            let target = git_ref
                .strip_suffix(".tar.gz")
                .map(|git_ref| format!("{}/{owner}/{repo}/tar.gz/{git_ref}", state.github_url));
            match target.map(|t| HeaderValue::from_str(&t)) {
                Some(Ok(target)) => {
                    let mut response = respond(StatusCode::FOUND, "text/plain", "");
                    response.headers_mut().insert("location", target);
                    response
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    };
    archive(fault, response)
}

/// A tarball laid out like GitHub's: a `pax_global_header` whose comment is the commit, then
/// one top folder `{repo}-{folder_ref}/` with every directory and file of `content` beneath it,
/// each directory listed before what it holds, and the raw entries last. Modes are those of
/// `git archive` (umask 002), every entry is root's and dated [`COMMIT_TIME`].
fn github_tarball(repo: &str, folder_ref: &str, commit: &str, content: &Repo) -> Bytes {
    let mut tarball = ArchiveBuilder::new()
        .mtime(COMMIT_TIME)
        .umask(0o002)
        .pax_global_header(&[("comment", commit.as_bytes())])
        .top_folder(&format!("{repo}-{folder_ref}"));
    for (path, contents) in &content.files {
        tarball = tarball.file(path, contents);
    }
    for entry in &content.raw {
        tarball = match entry {
            RawEntry::File {
                path,
                contents,
                mode,
            } => tarball.file(path, contents).mode(*mode),
            RawEntry::Symlink { path, target } => tarball.symlink(path, target),
            RawEntry::Hardlink { path, target } => tarball.hardlink(path, target),
            RawEntry::Verbatim { path, contents } => {
                tarball.file(path, contents).outside_top_folder()
            }
        };
    }
    Bytes::from(tarball.build_tar_gz())
}
