//! Module documentation, extracted once when a version is published.
//!
//! [`extract_docs`] reads a normalised module archive (what [`crate::archive`] writes: a
//! deterministic `.tar.gz` with the module at its root) and returns [`ModuleDocs`], in the
//! shape of the Terraform Registry API's module details: the root module, each `modules/*`
//! submodule and each `examples/*` example, with their inputs, outputs, module calls, provider
//! requirements, resources and README.
//!
//! What it guarantees, and why:
//!
//! - **It never fails and never panics.** Terraform, not this registry, decides which modules
//!   are valid, so a module whose HCL does not parse is still published: its docs come back
//!   with `docs_available: false` and each problem in `parse_errors`, naming its file. Files
//!   that do parse still contribute (the docs are partial, and marked so).
//! - **HCL is parsed, never pattern-matched** (`hcl-rs`, whose parser bounds nesting depth, so
//!   hostile input cannot overflow the stack), and never evaluated: types are kept as HCL text,
//!   defaults as JSON.
//! - **The README HTML is safe to embed**: rendered with `pulldown-cmark` and cleaned by
//!   `ammonia`'s allow-list (see `readme.rs`); relative links and images become text.
//! - **Bounded work** ([`DocsLimits`]): README size, number of `.tf` files, bytes per file, and
//!   only the root, `modules/*` and `examples/*` are read (Terraform reads only the top level
//!   of a module directory; deeper folders are not modules of their own here). `.tf.json` files
//!   are not read and are reported.
//! - **Stable output**: every list is sorted, so the same archive gives the same JSON.
//!
//! Wired in by [`stored`]: upload, pin, proxy-cache fill and migration extract the docs from
//! the normalised archive before publishing it and store them beside it once published (one
//! JSON object per version, [`stored::StoredDocs`]); the upload answer carries
//! `parse_errors`, and the module details API serves the stored docs. Requests never re-parse
//! archives. Versions stored before docs existed get theirs from [`backfill`] (`tfreg
//! reindex --backfill-docs`).

mod archive_walk;
pub mod backfill;
mod model;
mod problem;
mod readme;
pub mod stored;
mod terraform_config;

#[cfg(test)]
mod tests;

use std::io::Read;

pub use model::{Input, ModuleCall, ModuleDocs, ModulePart, Output, ProviderDependency, Resource};

/// Default for [`DocsLimits::max_readme_bytes`]: 256 KiB.
pub const DEFAULT_MAX_README_BYTES: u64 = 256 * 1024;
/// Default for [`DocsLimits::max_terraform_files`].
pub const DEFAULT_MAX_TERRAFORM_FILES: usize = 500;
/// Default for [`DocsLimits::max_terraform_file_bytes`]: 1 MiB.
pub const DEFAULT_MAX_TERRAFORM_FILE_BYTES: u64 = 1024 * 1024;

/// Bounds on the work done for one module version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocsLimits {
    /// A larger README is left out (no `readme`, no `readme_html`), and said so.
    pub max_readme_bytes: u64,
    /// `.tf` files met across the root, submodules and examples (read or not: one over a
    /// size limit counts too); later ones are not read.
    pub max_terraform_files: usize,
    /// A larger `.tf` file is not read.
    pub max_terraform_file_bytes: u64,
}

impl Default for DocsLimits {
    fn default() -> Self {
        DocsLimits {
            max_readme_bytes: DEFAULT_MAX_README_BYTES,
            max_terraform_files: DEFAULT_MAX_TERRAFORM_FILES,
            max_terraform_file_bytes: DEFAULT_MAX_TERRAFORM_FILE_BYTES,
        }
    }
}

/// The docs of the module in `archive`, a normalised `.tar.gz`. Problems (unparseable HCL,
/// limits reached, an unreadable archive) are reported in the result, never returned as an
/// error.
pub fn extract_docs(archive: impl Read, limits: &DocsLimits) -> ModuleDocs {
    let walked = archive_walk::walk(archive, limits);
    let docs_available = !walked
        .problems
        .iter()
        .any(|problem| problem.makes_docs_unavailable());
    let mut root = ModulePart::default();
    let mut submodules = Vec::new();
    let mut examples = Vec::new();
    for (path, mut part) in walked.parts {
        sort_part(&mut part);
        match path.split_once('/') {
            None => root = part,
            Some(("modules", _)) => submodules.push(part),
            Some(_) => examples.push(part),
        }
    }
    ModuleDocs {
        root,
        submodules,
        examples,
        docs_available,
        parse_errors: walked
            .problems
            .iter()
            .map(|problem| problem.to_string())
            .collect(),
    }
}

fn sort_part(part: &mut ModulePart) {
    part.inputs.sort_by(|a, b| a.name.cmp(&b.name));
    part.outputs.sort_by(|a, b| a.name.cmp(&b.name));
    part.dependencies.sort_by(|a, b| a.name.cmp(&b.name));
    part.provider_dependencies
        .sort_by(|a, b| a.name.cmp(&b.name));
    part.resources
        .sort_by(|a, b| (&a.type_, &a.name).cmp(&(&b.type_, &b.name)));
}
