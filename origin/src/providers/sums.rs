//! The `SHA256SUMS` file of a release: what `sha256sum` (or `shasum -a 256`) writes, one
//! `{hex}  {filename}` line per file. Terraform finds its zip's line by splitting each line
//! on whitespace and comparing the second field with the download answer's `filename`, so
//! the registry reads it the same way and refuses anything it would read differently.

use std::collections::BTreeMap;

/// The largest `SHA256SUMS` taken: a line is under 200 bytes, and a release has a few dozen
/// platforms at most.
pub const MAX_SHASUMS_BYTES: usize = 64 * 1024;

/// Filename -> SHA-256 (lowercase hex), as a `SHA256SUMS` file lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shasums(pub BTreeMap<String, String>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShasumsError {
    #[error("SHA256SUMS is larger than {MAX_SHASUMS_BYTES} bytes")]
    TooLarge,
    #[error("SHA256SUMS is not text (UTF-8)")]
    NotText,
    #[error("SHA256SUMS line {line} is not \"<sha256 hex>  <filename>\": {text:?}")]
    Malformed { line: usize, text: String },
    #[error("SHA256SUMS lists {0} twice")]
    Duplicate(String),
    #[error("SHA256SUMS lists no files")]
    Empty,
}

impl Shasums {
    pub fn parse(document: &[u8]) -> Result<Self, ShasumsError> {
        if document.len() > MAX_SHASUMS_BYTES {
            return Err(ShasumsError::TooLarge);
        }
        let text = std::str::from_utf8(document).map_err(|_| ShasumsError::NotText)?;
        let mut sums = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let malformed = || ShasumsError::Malformed {
                line: index + 1,
                text: line.chars().take(120).collect(),
            };
            let [hash, name] = fields[..] else {
                return Err(malformed());
            };
            // `sha256sum -b` marks binary mode with a `*` before the name; Terraform would
            // compare the name with the star, so such a line would never match.
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(malformed());
            }
            if sums
                .insert(name.to_owned(), hash.to_ascii_lowercase())
                .is_some()
            {
                return Err(ShasumsError::Duplicate(name.to_owned()));
            }
        }
        if sums.is_empty() {
            return Err(ShasumsError::Empty);
        }
        Ok(Shasums(sums))
    }

    pub fn get(&self, filename: &str) -> Option<&str> {
        self.0.get(filename).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "5f9c7aa76b7c34d722fc9123208e26b22d60440cb47150dd04733b9b94f4541a";

    #[test]
    fn sha256sum_output_parses() {
        let text = format!(
            "{A}  terraform-provider-dns_1.0.0_linux_amd64.zip\n{}  other.zip\n",
            A.to_uppercase()
        );
        let sums = Shasums::parse(text.as_bytes()).unwrap();
        assert_eq!(
            sums.get("terraform-provider-dns_1.0.0_linux_amd64.zip"),
            Some(A)
        );
        assert_eq!(sums.get("other.zip"), Some(A), "stored lowercase");
        assert_eq!(sums.get("missing.zip"), None);
    }

    #[test]
    fn anything_terraform_would_read_differently_is_refused() {
        let cases = [
            (format!("{A}\n"), "SHA256SUMS line 1 is not"),
            (format!("{A}  a.zip extra\n"), "SHA256SUMS line 1 is not"),
            (format!("{}  a.zip\n", &A[1..]), "SHA256SUMS line 1 is not"),
            (
                format!("{A}  a.zip\n{A}  a.zip\n"),
                "SHA256SUMS lists a.zip twice",
            ),
            ("\n\n".to_owned(), "SHA256SUMS lists no files"),
        ];
        for (text, message) in cases {
            let error = Shasums::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(error.starts_with(message), "{text:?}: {error}");
        }
        assert_eq!(
            Shasums::parse(&[0xff, 0xfe]).unwrap_err(),
            ShasumsError::NotText
        );
        assert_eq!(
            Shasums::parse(&vec![b'a'; MAX_SHASUMS_BYTES + 1]).unwrap_err(),
            ShasumsError::TooLarge
        );
    }
}
