//! The go-getter subdirectory a caller asks for (`modules/sub`, `*/modules/sub`), parsed, and
//! the one directory of the archive it matches.

use super::plan::{Planned, Refusal};
use super::ArchiveError;

/// Which directory of the archive becomes the module root: a parsed go-getter subdirectory.
#[derive(Debug)]
pub(super) struct Selection {
    /// As the caller gave it, for error messages.
    pattern: String,
    /// Empty for the archive root.
    components: Vec<Component>,
}

#[derive(Debug, PartialEq, Eq)]
enum Component {
    Name(String),
    /// `*`: any one name.
    Any,
}

impl Selection {
    pub(super) fn parse(pattern: &str) -> Result<Self, ArchiveError> {
        let invalid = |reason| ArchiveError::InvalidSubdirectory {
            pattern: pattern.to_string(),
            reason,
        };
        // Refused for the same reasons as in entry names: on Windows, and in what go-getter
        // makes of the pattern there, a backslash separates directories; a NUL truncates.
        if pattern.contains('\\') {
            return Err(invalid(
                "a backslash is not allowed; separate directories with `/`",
            ));
        }
        if pattern.contains('\0') {
            return Err(invalid("a NUL byte is not allowed"));
        }
        let mut components = Vec::new();
        for name in pattern.split('/') {
            match name {
                "" | "." => {}
                // The module must come from inside the archive.
                ".." => return Err(invalid("a `..` component is not allowed")),
                "*" => components.push(Component::Any),
                // go-getter hands the pattern to `filepath.Glob`, where these are wildcards too;
                // taking them literally here would select something else than go-getter does.
                _ if name.contains(['*', '?', '[']) => {
                    return Err(invalid(
                        "only a whole component can be a wildcard (`*`, not `foo*`)",
                    ));
                }
                _ => components.push(Component::Name(name.to_string())),
            }
        }
        Ok(Selection {
            pattern: pattern.to_string(),
            components,
        })
    }

    /// Whether at most one directory can match, so that a candidate is the match as soon as
    /// it is seen to be a directory.
    pub(super) fn is_unambiguous(&self) -> bool {
        !self.components.contains(&Component::Any)
    }

    /// If the leading components of normalised `path` match the pattern, the length of that
    /// prefix: the directory that `path` is, or lies in, should that directory be the match.
    /// Always `Some(0)` for the archive root.
    pub(super) fn candidate(&self, path: &str) -> Option<usize> {
        if self.components.is_empty() {
            return Some(0);
        }
        if path.is_empty() {
            return None;
        }
        let mut names = path.split('/');
        let mut len = 0;
        for (i, component) in self.components.iter().enumerate() {
            let name = names.next()?;
            match component {
                Component::Any => {}
                Component::Name(literal) if literal == name => {}
                Component::Name(_) => return None,
            }
            len += name.len() + usize::from(i > 0);
        }
        Some(len)
    }

    /// The one directory the pattern matches, among the directories the planned and refused
    /// paths show: those with an entry of their own and those that only hold other entries.
    /// `""` for the archive root.
    pub(super) fn directory(
        &self,
        entries: &[Planned],
        refusals: &[Refusal],
    ) -> Result<String, ArchiveError> {
        if self.components.is_empty() {
            return Ok(String::new());
        }
        let paths = entries
            .iter()
            .map(|e| (e.path.as_str(), !e.is_file()))
            .chain(refusals.iter().map(|r| (r.path.as_str(), false)));
        let mut found: Option<&str> = None;
        for (path, is_dir) in paths {
            let Some(len) = self.candidate(path) else {
                continue;
            };
            // A file, link or special file of the matching name is not a directory (unless other
            // entries lie beneath it too, and then it is refused as a duplicate or a link).
            if !is_dir && path.len() == len {
                continue;
            }
            let dir = &path[..len];
            match found {
                None => found = Some(dir),
                Some(other) if other == dir => {}
                Some(_) => {
                    return Err(ArchiveError::AmbiguousDirectory {
                        pattern: self.pattern.clone(),
                    });
                }
            }
        }
        found
            .map(str::to_string)
            .ok_or_else(|| ArchiveError::NoSuchDirectory {
                pattern: self.pattern.clone(),
            })
    }
}
