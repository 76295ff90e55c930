//! Trust rules matched against a verified token's claims.

use super::config::OidcTrustRule;
use crate::auth::glob_match;
use serde_json::{Map, Value};

/// The first rule (in order) whose every claim pattern matches, with its index.
pub fn first_match<'r>(
    rules: &'r [OidcTrustRule],
    claims: &Map<String, Value>,
) -> Option<(usize, &'r OidcTrustRule)> {
    rules
        .iter()
        .enumerate()
        .find(|(_, rule)| rule_matches(rule, claims))
}

fn rule_matches(rule: &OidcTrustRule, claims: &Map<String, Value>) -> bool {
    rule.claims.iter().all(|(name, pattern)| {
        claim_text(claims.get(name)).is_some_and(|text| glob_match(pattern, &text))
    })
}

/// A claim as text for matching: strings as they are, numbers and booleans as JSON writes
/// them (GitLab's `project_id` is a string, others send numbers). A missing claim, `null`, an
/// array or an object matches no pattern, not even `*`.
fn claim_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}
