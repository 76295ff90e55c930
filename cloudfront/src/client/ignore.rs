//! `.terraformignore`: which files of a module directory are left out of the archive.
//!
//! The syntax is Terraform's (gitignore-like), in the common subset: blank lines and `#`
//! comments; `*` and `?` (not across `/`); `**` for any number of directories (`**/x`, `x/**`,
//! `a/**/b`); a trailing `/` for directories only; a `/` anywhere else anchors the pattern to
//! the module root, otherwise it matches a name at any depth; `!` re-includes; the last
//! matching rule wins. Not supported: character classes (`[abc]`) and backslash escapes, which
//! match literally. A directory that is left out is not descended into, so nothing beneath it
//! can be re-included (as in git).

/// Always left out, before the `.terraformignore` rules (which may re-include them with `!`).
const DEFAULT_RULES: &[&str] = &[".git/", ".terraform/", "*.tfstate", "*.tfstate.*"];

struct Rule {
    pattern: String,
    negated: bool,
    directories_only: bool,
    anchored: bool,
}

pub(crate) struct IgnoreRules {
    rules: Vec<Rule>,
}

impl IgnoreRules {
    /// The default rules followed by those of a `.terraformignore` text.
    pub fn new(terraformignore: Option<&str>) -> Self {
        let lines = DEFAULT_RULES
            .iter()
            .copied()
            .chain(terraformignore.unwrap_or_default().lines());
        IgnoreRules {
            rules: lines.filter_map(Rule::parse).collect(),
        }
    }

    /// Whether `path` (relative, `/`-separated) is left out.
    pub fn is_ignored(&self, path: &str, is_dir: bool) -> bool {
        let mut ignored = false;
        for rule in &self.rules {
            if rule.matches(path, is_dir) {
                ignored = !rule.negated;
            }
        }
        ignored
    }
}

impl Rule {
    fn parse(line: &str) -> Option<Rule> {
        let line = line.trim_end_matches(['\r', ' ', '\t']);
        if line.trim().is_empty() || line.starts_with('#') {
            return None;
        }
        let (negated, line) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let (directories_only, line) = match line.strip_suffix('/') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let anchored = line.contains('/');
        let pattern = line.trim_start_matches('/').to_owned();
        if pattern.is_empty() {
            return None;
        }
        Some(Rule {
            pattern,
            negated,
            directories_only,
            anchored,
        })
    }

    fn matches(&self, path: &str, is_dir: bool) -> bool {
        if self.directories_only && !is_dir {
            return false;
        }
        if self.anchored {
            glob(self.pattern.as_bytes(), path.as_bytes())
        } else {
            let name = path.rsplit('/').next().unwrap_or(path);
            glob(self.pattern.as_bytes(), name.as_bytes())
        }
    }
}

/// Matches a glob against a path: `*` and `?` stay within one path segment, `**` spans any.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', b'/', rest @ ..] => {
            // Zero or more whole directories.
            glob(rest, text)
                || (0..text.len()).any(|i| text[i] == b'/' && glob(rest, &text[i + 1..]))
        }
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        [b'*', rest @ ..] => {
            let segment = text.iter().position(|&c| c == b'/').unwrap_or(text.len());
            (0..=segment).any(|i| glob(rest, &text[i..]))
        }
        [b'?', rest @ ..] => matches!(text, [c, tail @ ..] if *c != b'/' && glob(rest, tail)),
        [c, rest @ ..] => matches!(text, [t, tail @ ..] if t == c && glob(rest, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::IgnoreRules;

    #[test]
    fn defaults_leave_out_git_terraform_and_state() {
        let rules = IgnoreRules::new(None);
        assert!(rules.is_ignored(".git", true));
        assert!(rules.is_ignored("examples/.terraform", true));
        assert!(rules.is_ignored("terraform.tfstate", false));
        assert!(rules.is_ignored("terraform.tfstate.backup", false));
        assert!(!rules.is_ignored("main.tf", false));
        assert!(
            !rules.is_ignored(".git", false),
            "a file named .git is not the directory"
        );
    }

    #[test]
    fn terraformignore_subset() {
        let rules = IgnoreRules::new(Some(
            "# comment\n\n*.log\n/build/\ndocs/**/*.png\n!docs/keep.png\ntmp?\nsecrets/**\n",
        ));
        assert!(rules.is_ignored("debug.log", false));
        assert!(rules.is_ignored("modules/a/debug.log", false));
        assert!(rules.is_ignored("build", true));
        assert!(
            !rules.is_ignored("modules/build", true),
            "anchored to the root"
        );
        assert!(!rules.is_ignored("build", false), "directories only");
        assert!(rules.is_ignored("docs/a.png", false));
        assert!(rules.is_ignored("docs/x/y/a.png", false));
        assert!(!rules.is_ignored("docs/keep.png", false));
        assert!(rules.is_ignored("tmp1", false));
        assert!(!rules.is_ignored("tmp12", false));
        assert!(rules.is_ignored("secrets/a/b", false));
        assert!(!rules.is_ignored("main.tf", false));
        let reinclude = IgnoreRules::new(Some("!*.tfstate\n"));
        assert!(!reinclude.is_ignored("x.tfstate", false));
    }
}
