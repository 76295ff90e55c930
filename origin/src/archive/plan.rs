//! The first pass over an upload, shared by both formats: every entry's name, type and size is
//! checked as it is read, and once all are seen, the layout of the output is decided (which
//! directory becomes the module root, what is written, what is refused).

use std::collections::HashSet;

use super::entry_path::{is_beneath, is_terraform_file, normalize_path};
use super::selection::Selection;
use super::{ArchiveError, ArchiveLimits};

/// What an entry is, as far as the checks care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EntryKind {
    File { executable: bool },
    Dir,
    Link,
    Special,
}

/// A file or directory the first pass read that may be written to the output: every one when
/// the archive root is selected, else those whose path starts with a match of the selection
/// pattern. [`Planner::finish`] keeps the ones beneath the selected directory.
#[derive(Debug)]
pub(super) struct Planned {
    /// Position of the entry in the input, counted the same way by both passes.
    pub(super) index: usize,
    /// The name as it appears in the input, for error messages.
    pub(super) original: String,
    /// Normalised path without a trailing slash; relative to the module root once the plan is
    /// finished (the selected directory, or a stripped top-level directory, removed).
    pub(super) path: String,
    pub(super) kind: PlannedKind,
    pub(super) mtime: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PlannedKind {
    Dir,
    /// `size` is what the first pass actually read, not what the archive declared.
    File {
        size: u64,
        executable: bool,
    },
}

impl Planned {
    pub(super) fn is_file(&self) -> bool {
        matches!(self.kind, PlannedKind::File { .. })
    }
}

/// A name accepted by [`Planner::admit`].
pub(super) struct Admitted {
    pub(super) original: String,
    pub(super) path: String,
}

/// A link or special file that is refused if it turns out to lie in the selected directory.
/// With a `*` in the pattern, which directory that is can depend on entries not read yet.
pub(super) struct Refusal {
    pub(super) path: String,
    pub(super) error: ArchiveError,
}

/// First-pass bookkeeping shared by both input formats.
pub(super) struct Planner<'l> {
    limits: &'l ArchiveLimits,
    selection: &'l Selection,
    pub(super) entries: Vec<Planned>,
    refusals: Vec<Refusal>,
    count: u64,
    declared_bytes: u64,
}

/// The outcome of the first pass.
pub(super) struct Plan {
    pub(super) entries: Vec<Planned>,
    pub(super) files: u64,
    pub(super) unpacked_bytes: u64,
    pub(super) stripped_prefix: Option<String>,
}

impl<'l> Planner<'l> {
    pub(super) fn new(limits: &'l ArchiveLimits, selection: &'l Selection) -> Self {
        Planner {
            limits,
            selection,
            entries: Vec::new(),
            refusals: Vec::new(),
            count: 0,
            declared_bytes: 0,
        }
    }

    /// Checks one entry's name, type and declared size. `Ok(None)` means the entry is not to be
    /// planned: it is the root directory itself (`./`), a link or special file that lies outside
    /// the selected directory, or anything else that cannot lie inside it. Links and special
    /// files are never admitted. A file's data must be read whatever the answer, so that it
    /// counts against the size limit.
    pub(super) fn admit(
        &mut self,
        raw_name: &[u8],
        kind: EntryKind,
        declared_size: u64,
    ) -> Result<Option<Admitted>, ArchiveError> {
        // Every name is checked, kept or not: whatever is asked of it, an archive holding
        // `../x` or `/etc/x` was made to attack its unpacker.
        let (original, path) = normalize_path(raw_name)?;
        let candidate = self.selection.candidate(&path);
        let refusal = match kind {
            // A link can point anywhere, and an unpacker that follows it writes there; later
            // entries can even be written *through* it. Modules have no use for links.
            EntryKind::Link => Some(ArchiveError::Link {
                path: original.clone(),
            }),
            // Unpacked as root in a CI job, a device node is a hole into the machine; a fifo
            // hangs whoever reads it.
            EntryKind::Special => Some(ArchiveError::SpecialFile {
                path: original.clone(),
            }),
            EntryKind::Dir | EntryKind::File { .. } => None,
        };
        let is_refused = refusal.is_some();
        if let Some(error) = refusal {
            match candidate {
                // Certainly in the directory that will be kept: refused before reading on.
                Some(len) if self.selection.is_unambiguous() && is_beneath(&path, &path[..len]) => {
                    return Err(error);
                }
                // In it only if this candidate turns out to be the one match.
                Some(_) => self.refusals.push(Refusal {
                    path: path.clone(),
                    error,
                }),
                None => {}
            }
        }
        if path.is_empty() {
            if kind == EntryKind::Dir {
                return Ok(None);
            }
            return Err(ArchiveError::InvalidPath { path: original });
        }
        // Counted as we go so that an archive of millions of empty files is refused after
        // `max_files` of them rather than after all of them.
        self.count += 1;
        if self.count > self.limits.max_files {
            return Err(ArchiveError::TooManyFiles {
                limit: self.limits.max_files,
            });
        }
        if let EntryKind::File { .. } = kind {
            // Declared sizes can lie low, which the byte counting catches, but when they are
            // honestly too large we can refuse before inflating anything.
            self.declared_bytes = self.declared_bytes.saturating_add(declared_size);
            if self.declared_bytes > self.limits.max_unpacked_bytes {
                return Err(ArchiveError::TooLarge {
                    limit: self.limits.max_unpacked_bytes,
                });
            }
        }
        if is_refused || candidate.is_none() {
            return Ok(None);
        }
        Ok(Some(Admitted { original, path }))
    }

    pub(super) fn push(&mut self, index: usize, admitted: Admitted, kind: PlannedKind, mtime: u64) {
        self.entries.push(Planned {
            index,
            original: admitted.original,
            path: admitted.path,
            kind,
            mtime,
        });
    }

    /// The whole-archive checks, once every entry has been seen.
    pub(super) fn finish(self) -> Result<Plan, ArchiveError> {
        let root = self.selection.directory(&self.entries, &self.refusals)?;
        if let Some(refusal) = self
            .refusals
            .into_iter()
            .find(|r| r.path == root || is_beneath(&r.path, &root))
        {
            return Err(refusal.error);
        }
        let mut entries = Vec::with_capacity(self.entries.len());
        for mut entry in self.entries {
            if entry.path == root {
                // The selected directory's own entry, which the output's root does without. A
                // file of the same name makes the path both a file and a directory.
                if entry.is_file() {
                    return Err(ArchiveError::DuplicatePath {
                        path: entry.original,
                    });
                }
            } else if is_beneath(&entry.path, &root) {
                if !root.is_empty() {
                    entry.path.drain(..=root.len());
                }
                entries.push(entry);
            }
        }

        let files = entries.iter().filter(|e| e.is_file()).count() as u64;
        if files == 0 {
            return Err(ArchiveError::Empty);
        }
        let unpacked_bytes = entries
            .iter()
            .map(|e| match e.kind {
                PlannedKind::File { size, .. } => size,
                PlannedKind::Dir => 0,
            })
            .sum();

        let mut stripped_prefix = None;
        if !root.is_empty() {
            // The caller said where the module is; a folder inside it is part of the module.
            stripped_prefix = Some(root);
        } else if !has_root_terraform_file(&entries) {
            // Terraform reads the directory it unpacked into, so a module wrapped in a folder
            // (as GitHub's release tarballs and most "compress this folder" tools do) would
            // install as a module with no configuration in it.
            if let Some(prefix) = single_top_level_dir(&entries) {
                entries.retain(|e| e.path != prefix);
                for entry in &mut entries {
                    entry.path.drain(..=prefix.len());
                }
                stripped_prefix = Some(prefix);
            }
        }

        check_duplicates(&entries)?;

        if !has_root_terraform_file(&entries) {
            return Err(ArchiveError::NoTerraformFiles);
        }
        Ok(Plan {
            entries,
            files,
            unpacked_bytes,
            stripped_prefix,
        })
    }
}

fn has_root_terraform_file(entries: &[Planned]) -> bool {
    entries
        .iter()
        .any(|e| e.is_file() && !e.path.contains('/') && is_terraform_file(&e.path))
}

/// The one directory every entry lies under, if there is such a directory.
fn single_top_level_dir(entries: &[Planned]) -> Option<String> {
    let first = entries.first()?;
    let top = first.path.split('/').next()?;
    for entry in entries {
        match entry.path.split_once('/') {
            Some((t, _)) if t == top => {}
            // The directory's own entry; a *file* of that name means it is not a directory.
            None if entry.path == top && !entry.is_file() => {}
            _ => return None,
        }
    }
    Some(top.to_string())
}

/// Refuses two entries at one path, and a path that is a file for one entry and a directory
/// for another. Which one wins on disk depends on the unpacker, so the content we checksum and
/// the content a user gets could differ.
fn check_duplicates(entries: &[Planned]) -> Result<(), ArchiveError> {
    let mut explicit = HashSet::new();
    let mut files = HashSet::new();
    let mut dirs = HashSet::new();
    for entry in entries {
        let duplicate = || ArchiveError::DuplicatePath {
            path: entry.original.clone(),
        };
        if !explicit.insert(entry.path.as_str()) {
            return Err(duplicate());
        }
        for (i, _) in entry.path.match_indices('/') {
            let ancestor = &entry.path[..i];
            if files.contains(ancestor) {
                return Err(duplicate());
            }
            dirs.insert(ancestor);
        }
        if entry.is_file() {
            if dirs.contains(entry.path.as_str()) {
                return Err(duplicate());
            }
            files.insert(entry.path.as_str());
        } else {
            dirs.insert(entry.path.as_str());
        }
    }
    Ok(())
}
