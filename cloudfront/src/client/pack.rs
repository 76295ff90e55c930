//! Packing a module directory into a `.tar.gz` deterministically: the same files give the same
//! bytes on any machine, whoever owns them and whenever they were touched.
//!
//! Entries are sorted by path; every entry has owner 0:0 without names, modification time 0,
//! mode 0755 (directories, executables) or 0644; gzip at level 6 with no name or time in its
//! header. Symbolic links are packed as links so that local validation refuses them with the
//! registry's own message; other special files are refused here.

use super::ignore::IgnoreRules;
use super::Failure;
use std::path::Path;

/// The packed archive and what went into it.
pub(crate) struct PackedModule {
    pub archive: Vec<u8>,
    /// Regular files packed.
    pub files: u64,
    /// Paths left out by the ignore rules (directories as `dir/`).
    pub ignored: Vec<String>,
}

struct Entry {
    path: String,
    kind: EntryKind,
}

enum EntryKind {
    Directory,
    File { executable: bool },
    Symlink(std::path::PathBuf),
}

pub(crate) fn pack_directory(dir: &Path) -> Result<PackedModule, Failure> {
    let metadata =
        std::fs::metadata(dir).map_err(|e| Failure::usage(format!("{}: {e}", dir.display())))?;
    if !metadata.is_dir() {
        return Err(Failure::usage(format!(
            "{} is not a directory; give the module's directory",
            dir.display()
        )));
    }
    let ignore_text = match std::fs::read_to_string(dir.join(".terraformignore")) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Failure::usage(format!("reading .terraformignore: {e}"))),
    };
    let rules = IgnoreRules::new(ignore_text.as_deref());
    let mut entries = Vec::new();
    let mut ignored = Vec::new();
    collect(dir, "", &rules, &mut entries, &mut ignored)?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));

    let encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::new(6));
    let mut tar = tar::Builder::new(encoder);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut files = 0;
    for entry in &entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        let full = dir.join(&entry.path);
        let result = match &entry.kind {
            EntryKind::Directory => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, format!("{}/", entry.path), std::io::empty())
            }
            EntryKind::File { executable } => {
                files += 1;
                let file = std::fs::File::open(&full).map_err(|e| {
                    Failure::invalid_module(format!("reading {}: {e}", full.display()))
                })?;
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(size);
                tar.append_data(&mut header, &entry.path, file)
            }
            EntryKind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                tar.append_link(&mut header, &entry.path, target)
            }
        };
        result.map_err(|e| Failure::invalid_module(format!("packing {}: {e}", entry.path)))?;
    }
    let archive = tar
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(|e| Failure::invalid_module(format!("packing the archive: {e}")))?;
    Ok(PackedModule {
        archive,
        files,
        ignored,
    })
}

fn collect(
    root: &Path,
    prefix: &str,
    rules: &IgnoreRules,
    entries: &mut Vec<Entry>,
    ignored: &mut Vec<String>,
) -> Result<(), Failure> {
    let dir = root.join(prefix);
    let listing = std::fs::read_dir(&dir)
        .map_err(|e| Failure::invalid_module(format!("reading {}: {e}", dir.display())))?;
    let mut children = Vec::new();
    for child in listing {
        let child = child
            .map_err(|e| Failure::invalid_module(format!("reading {}: {e}", dir.display())))?;
        let Some(name) = child.file_name().to_str().map(str::to_owned) else {
            return Err(Failure::invalid_module(format!(
                "{}: a file name that is not UTF-8 ({:?}); the registry takes UTF-8 names only",
                dir.display(),
                child.file_name()
            )));
        };
        children.push(name);
    }
    children.sort();
    for name in children {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let full = root.join(&path);
        let metadata = std::fs::symlink_metadata(&full)
            .map_err(|e| Failure::invalid_module(format!("{}: {e}", full.display())))?;
        let file_type = metadata.file_type();
        let is_dir = file_type.is_dir();
        if rules.is_ignored(&path, is_dir) {
            ignored.push(if is_dir { format!("{path}/") } else { path });
            continue;
        }
        if is_dir {
            entries.push(Entry {
                path: path.clone(),
                kind: EntryKind::Directory,
            });
            collect(root, &path, rules, entries, ignored)?;
        } else if file_type.is_file() {
            entries.push(Entry {
                path,
                kind: EntryKind::File {
                    executable: is_executable(&metadata),
                },
            });
        } else if file_type.is_symlink() {
            let target = std::fs::read_link(&full)
                .map_err(|e| Failure::invalid_module(format!("{}: {e}", full.display())))?;
            entries.push(Entry {
                path,
                kind: EntryKind::Symlink(target),
            });
        } else {
            return Err(Failure::invalid_module(format!(
                "{path} is not a regular file, directory or link (a device, fifo or socket); \
                 remove it or list it in .terraformignore"
            )));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}
