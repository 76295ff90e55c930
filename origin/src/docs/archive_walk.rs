//! One pass over the archive: each file is sorted into the module directory it belongs to (the
//! root, `modules/x`, `examples/x`, or none), and `.tf` files are parsed as they stream past,
//! so memory holds at most one file (bounded by the limits) plus what was extracted.

use std::collections::BTreeMap;
use std::io::Read;

use flate2::read::GzDecoder;

use super::model::ModulePart;
use super::problem::DocsProblem;
use super::readme::render_readme;
use super::terraform_config::read_terraform_file;
use super::DocsLimits;

/// What one pass found: the parts by directory path (`""` for the root), sorted, and the
/// problems in the order met.
pub(super) struct Walked {
    pub(super) parts: BTreeMap<String, ModulePart>,
    pub(super) problems: Vec<DocsProblem>,
}

pub(super) fn walk(archive: impl Read, limits: &DocsLimits) -> Walked {
    let mut walked = Walked {
        parts: BTreeMap::new(),
        problems: Vec::new(),
    };
    walked.parts.insert(String::new(), part_for(""));
    // The README chosen per directory so far: its file name, to prefer `README.md` and then
    // the smallest name among case variants whatever the archive order.
    let mut readme_names: BTreeMap<String, String> = BTreeMap::new();
    let mut terraform_files = 0usize;
    if let Err(error) = walk_entries(
        archive,
        limits,
        &mut walked,
        &mut readme_names,
        &mut terraform_files,
    ) {
        walked
            .problems
            .push(DocsProblem::Archive(error.to_string()));
    }
    walked
}

fn walk_entries(
    archive: impl Read,
    limits: &DocsLimits,
    walked: &mut Walked,
    readme_names: &mut BTreeMap<String, String>,
    terraform_files: &mut usize,
) -> std::io::Result<()> {
    let mut tar = tar::Archive::new(GzDecoder::new(archive));
    for entry in tar.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some((directory, file_name)) = module_directory(&path) else {
            continue;
        };
        let size = entry.header().size()?;
        if file_name.ends_with(".tf.json") {
            walked
                .parts
                .entry(directory.clone())
                .or_insert_with(|| part_for(&directory));
            walked.problems.push(DocsProblem::JsonSyntax(path));
        } else if file_name.ends_with(".tf") {
            walked
                .parts
                .entry(directory.clone())
                .or_insert_with(|| part_for(&directory));
            *terraform_files += 1;
            if *terraform_files == limits.max_terraform_files + 1 {
                walked.problems.push(DocsProblem::TooManyFiles {
                    file: path,
                    limit: limits.max_terraform_files,
                });
                continue;
            }
            if *terraform_files > limits.max_terraform_files {
                continue;
            }
            if size > limits.max_terraform_file_bytes {
                walked.problems.push(DocsProblem::FileTooLarge {
                    file: path,
                    limit: limits.max_terraform_file_bytes,
                });
                continue;
            }
            let bytes = read_at_most(&mut entry, size)?;
            let Ok(text) = String::from_utf8(bytes) else {
                walked.problems.push(DocsProblem::NotUtf8(path));
                continue;
            };
            let part = walked.parts.get_mut(&directory).expect("inserted above");
            match read_terraform_file(&path, &text, part) {
                Ok(()) => part.empty = false,
                Err(problem) => walked.problems.push(problem),
            }
        } else if file_name.eq_ignore_ascii_case("README.md") {
            let better = match readme_names.get(&directory) {
                None => true,
                Some(chosen) => readme_rank(file_name) < readme_rank(chosen),
            };
            if !better {
                continue;
            }
            readme_names.insert(directory.clone(), file_name.to_owned());
            let part = walked
                .parts
                .entry(directory.clone())
                .or_insert_with(|| part_for(&directory));
            part.readme.clear();
            part.readme_html.clear();
            if size > limits.max_readme_bytes {
                walked.problems.push(DocsProblem::ReadmeTooLarge {
                    file: path,
                    limit: limits.max_readme_bytes,
                });
                continue;
            }
            let bytes = read_at_most(&mut entry, size)?;
            let Ok(text) = String::from_utf8(bytes) else {
                walked.problems.push(DocsProblem::ReadmeNotUtf8(path));
                continue;
            };
            part.readme_html = render_readme(&text);
            part.readme = text;
        }
    }
    Ok(())
}

/// `README.md` first, then other spellings by name.
fn readme_rank(file_name: &str) -> (bool, &str) {
    (file_name != "README.md", file_name)
}

/// Reads the entry's data, never more than `size` bytes (its header's size, already checked
/// against a limit).
fn read_at_most(entry: &mut impl Read, size: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry.take(size).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The module directory a file lies in directly, and its file name: `main.tf` is the root's,
/// `modules/vpc/main.tf` is `modules/vpc`'s; anything else (`modules/vpc/x/main.tf`,
/// `scripts/x.tf`) is in none.
fn module_directory(path: &str) -> Option<(String, &str)> {
    let components: Vec<&str> = path.split('/').collect();
    match components.as_slice() {
        [file] => Some((String::new(), file)),
        [kind @ ("modules" | "examples"), name, file] if !name.is_empty() => {
            Some((format!("{kind}/{name}"), file))
        }
        _ => None,
    }
}

fn part_for(directory: &str) -> ModulePart {
    ModulePart {
        path: directory.to_owned(),
        name: directory
            .rsplit_once('/')
            .map(|(_, name)| name.to_owned())
            .unwrap_or_default(),
        empty: true,
        ..ModulePart::default()
    }
}
