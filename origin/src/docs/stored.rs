//! Docs as stored beside a version's archive, and the two steps of publishing them: extract
//! from the normalised archive file before it is published, store once it is.

use super::{extract_docs, DocsLimits, ModuleDocs, ModulePart};
use crate::names::ArchiveKey;
use crate::storage::ArchiveStore;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The JSON object stored per version (`…/{version}/docs.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDocs {
    /// SHA-256 of the archive the docs were extracted from: docs are shown only beside that
    /// archive.
    pub archive_sha256: String,
    pub docs: ModuleDocs,
}

/// The docs of the normalised archive at `path`, read on a blocking thread. Never fails: an
/// unreadable file gives docs marked unavailable, saying why.
pub async fn extract_docs_from_file(path: PathBuf) -> ModuleDocs {
    let shown = path.display().to_string();
    let extracted = tokio::task::spawn_blocking(move || {
        std::fs::File::open(&path)
            .map(|file| extract_docs(std::io::BufReader::new(file), &DocsLimits::default()))
    })
    .await;
    match extracted {
        Ok(Ok(docs)) => docs,
        Ok(Err(error)) => unavailable(format!("could not read the archive {shown}: {error}")),
        Err(error) => unavailable(format!("docs extraction failed: {error}")),
    }
}

/// Docs with nothing in them, marked unavailable for `reason`.
pub fn unavailable(reason: String) -> ModuleDocs {
    ModuleDocs {
        root: ModulePart::default(),
        submodules: Vec::new(),
        examples: Vec::new(),
        docs_available: false,
        parse_errors: vec![reason],
    }
}

/// Stores `docs` for the version just published. A failure is logged, not returned: the
/// version is published already, and answers "no docs stored" until it is published again
/// (docs are never re-extracted on a request).
pub async fn store_docs(
    store: &dyn ArchiveStore,
    key: &ArchiveKey,
    archive_sha256: &str,
    docs: &ModuleDocs,
) -> bool {
    let stored = StoredDocs {
        archive_sha256: archive_sha256.to_owned(),
        docs: docs.clone(),
    };
    let json = serde_json::to_vec(&stored).expect("docs serialise");
    match store.put_docs(key, &json).await {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(module = %key.module, version = %key.version, %error, "could not store the version's docs");
            false
        }
    }
}

/// The docs stored for a version whose archive has `archive_sha256`, or why there are none.
pub async fn load_docs(
    store: &dyn ArchiveStore,
    key: &ArchiveKey,
    archive_sha256: &str,
) -> Result<ModuleDocs, String> {
    let bytes = match store.docs(key).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(
                "no docs are stored for this version (it was published before docs were extracted at publish)"
                    .into(),
            )
        }
        Err(error) => return Err(format!("the stored docs could not be read: {error}")),
    };
    let stored: StoredDocs = serde_json::from_slice(&bytes)
        .map_err(|error| format!("the stored docs are corrupt: {error}"))?;
    if stored.archive_sha256 != archive_sha256 {
        return Err("the stored docs belong to another archive of this version".into());
    }
    Ok(stored.docs)
}

/// The Registry API's `description`: the text of the README's first paragraph (headings,
/// badges-only lines and markup left out), at most 500 characters; `""` when there is none.
pub fn description(readme: &str) -> String {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut depth = 0usize;
    let mut in_paragraph = false;
    let mut in_image = 0usize;
    let mut text = String::new();
    for event in Parser::new(readme) {
        match event {
            Event::Start(Tag::Paragraph) if depth == 0 => in_paragraph = true,
            Event::End(TagEnd::Paragraph) if in_paragraph => {
                in_paragraph = false;
                if !text.trim().is_empty() {
                    break;
                }
                text.clear();
            }
            // A badge's alt text is not a description.
            Event::Start(Tag::Image { .. }) => in_image += 1,
            Event::End(TagEnd::Image) => in_image = in_image.saturating_sub(1),
            Event::Start(_) => depth += usize::from(!in_paragraph),
            Event::End(_) => depth = depth.saturating_sub(usize::from(!in_paragraph)),
            Event::Text(t) | Event::Code(t) if in_paragraph && in_image == 0 => text.push_str(&t),
            Event::SoftBreak | Event::HardBreak if in_paragraph => text.push(' '),
            _ => {}
        }
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(500) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::description;

    #[test]
    fn the_description_is_the_first_paragraph_as_text() {
        let readme =
            "# VPC\n\n[![ci](x.svg)](y)\n\nCreates a *VPC* with `subnets`,\nand routes.\n\nMore.";
        assert_eq!(
            description(readme),
            "Creates a VPC with subnets, and routes."
        );
        assert_eq!(description("# Only a title\n"), "");
        assert_eq!(description("<script>alert(1)</script>\n\nText."), "Text.");
    }
}
