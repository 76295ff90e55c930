//! What can go wrong while extracting docs. None of it stops a publish: each problem becomes a
//! sentence in [`ModuleDocs::parse_errors`](super::ModuleDocs::parse_errors), shown to the
//! uploader, so every message names the file it is about.

/// One problem met while reading a module's Terraform files or README.
#[derive(Debug, thiserror::Error)]
pub(super) enum DocsProblem {
    #[error("{file}: not valid HCL: {message}")]
    InvalidHcl { file: String, message: String },
    #[error("{0}: not UTF-8 text, not read")]
    NotUtf8(String),
    #[error("{file}: larger than {limit} bytes, not read")]
    FileTooLarge { file: String, limit: u64 },
    #[error(
        "{file}: more than {limit} Terraform files in the module, this and later ones not read"
    )]
    TooManyFiles { file: String, limit: usize },
    #[error("{0}: Terraform JSON syntax (.tf.json) is not read for docs")]
    JsonSyntax(String),
    #[error("{file}: README larger than {limit} bytes, left out")]
    ReadmeTooLarge { file: String, limit: u64 },
    #[error("{0}: README is not UTF-8 text, left out")]
    ReadmeNotUtf8(String),
    #[error("the module archive could not be read: {0}")]
    Archive(String),
}

impl DocsProblem {
    /// Whether the problem leaves the Terraform side of the docs incomplete (a README left
    /// out does not: inputs and outputs are still all there).
    pub(super) fn makes_docs_unavailable(&self) -> bool {
        !matches!(
            self,
            DocsProblem::ReadmeTooLarge { .. } | DocsProblem::ReadmeNotUtf8(_)
        )
    }
}
