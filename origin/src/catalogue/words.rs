//! Words, as the catalogue indexes and searches them: lowercase runs of letters and digits,
//! so `terraform-aws-vpc`, `Terraform AWS VPC` and `terraform_aws_vpc` are the same three.

use super::CatalogueEntry;
use std::collections::HashMap;

/// Where in an entry a word was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Namespace,
    System,
    Description,
    Readme,
}

/// Longest word indexed or searched: longer runs are hashes and the like, not words.
const MAX_WORD_CHARS: usize = 40;

/// How many README words an entry keeps: the most frequent ones. A README is searched by what
/// it is mostly about, and the catalogue stays small (it is loaded whole).
pub const MAX_README_WORDS: usize = 48;

/// Words too common in READMEs to tell modules apart.
const STOP_WORDS: &[&str] = &[
    "and",
    "are",
    "can",
    "for",
    "from",
    "has",
    "have",
    "into",
    "its",
    "not",
    "that",
    "the",
    "this",
    "use",
    "used",
    "uses",
    "was",
    "will",
    "with",
    "you",
    "your",
    "module",
    "terraform",
    "true",
    "false",
    "null",
    "string",
    "number",
    "bool",
    "default",
    "description",
    "type",
    "variable",
    "output",
    "http",
    "https",
    "www",
    "com",
];

/// The words of `text`, in order, lowercase, repeats kept.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty() && word.chars().count() <= MAX_WORD_CHARS)
        .map(str::to_lowercase)
}

/// The distinct words of a search query, in order.
pub fn query_words(query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for word in words(query) {
        if !seen.contains(&word) {
            seen.push(word);
        }
    }
    seen
}

/// The words a README is indexed by: its [`MAX_README_WORDS`] most frequent words of three
/// letters or more that are not [`STOP_WORDS`] (ties in alphabetical order), sorted.
pub fn readme_keywords(readme: &str) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for word in words(readme) {
        if word.chars().count() >= 3
            && !STOP_WORDS.contains(&word.as_str())
            && !word.chars().all(|c| c.is_ascii_digit())
        {
            *counts.entry(word).or_default() += 1;
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut kept: Vec<String> = ranked
        .into_iter()
        .take(MAX_README_WORDS)
        .map(|(word, _)| word)
        .collect();
    kept.sort();
    kept
}

impl CatalogueEntry {
    /// Every word of the entry with the field it is in (repeats kept).
    pub(super) fn words(&self) -> impl Iterator<Item = (Field, String)> + '_ {
        let whole_name = std::iter::once((Field::Name, self.name.to_lowercase()));
        whole_name
            .chain(words(&self.name).map(|w| (Field::Name, w)))
            .chain(words(&self.namespace).map(|w| (Field::Namespace, w)))
            .chain(words(&self.system).map(|w| (Field::System, w)))
            .chain(words(&self.description).map(|w| (Field::Description, w)))
            .chain(self.keywords.iter().map(|w| (Field::Readme, w.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercase_runs_of_letters_and_digits() {
        assert_eq!(
            words("Terraform-AWS_vpc, v2 (IPv6)").collect::<Vec<_>>(),
            ["terraform", "aws", "vpc", "v2", "ipv6"]
        );
        assert_eq!(query_words("vpc VPC subnet vpc"), ["vpc", "subnet"]);
        assert!(query_words("  -- ").is_empty());
    }

    #[test]
    fn readme_keywords_are_the_most_frequent_telling_words() {
        let readme = "# Peering\n\nThe peering module creates peering connections. \
                      Peering with routes; routes for the VPC. 2024 2024 2024";
        let keywords = readme_keywords(readme);
        assert_eq!(
            keywords,
            ["connections", "creates", "peering", "routes", "vpc"]
        );
        let long: String = (0..500).map(|i| format!("word{i} ")).collect();
        assert_eq!(readme_keywords(&long).len(), MAX_README_WORDS);
    }
}
