//! Matching a caller's ARN against the trust rules.
//!
//! STS answers with the ARN of the identity that signed:
//! - an IAM user: `arn:aws:iam::123456789012:user/path/name`;
//! - a role session (the usual case: CI runners, instance profiles, SSO, Lambda):
//!   `arn:aws:sts::123456789012:assumed-role/RoleName/session-name`;
//! - the account root, a federated user: `arn:aws:iam::123456789012:root`,
//!   `arn:aws:sts::123456789012:federated-user/name`.
//!
//! A rule's pattern is tried against the ARN as answered and, for a role session, also against
//! the role's IAM ARN `arn:aws:iam::123456789012:role/RoleName` (what Vault calls resolving
//! the role). So `arn:aws:iam::123456789012:role/ci-*` admits every session of those roles,
//! and `arn:aws:sts::123456789012:assumed-role/ci-deploy/build-*` only some sessions.
//!
//! An assumed-role ARN does not show the role's path (`/team/` in
//! `arn:aws:iam::123456789012:role/team/ci-deploy`): the role ARN derived from it has none, so
//! rules name roles without their path. A pattern with a path after `:role/` could never match
//! a role session and is refused at start.

use super::{AwsTrustRule, MAX_RULE_TTL_SECS, MIN_RULE_TTL_SECS};
use crate::auth::{glob_match, ExchangeError, Grant};

/// The IAM ARN of the role behind a role session's ARN, or `None` if `arn` is not one.
pub(super) fn role_of_assumed_role(arn: &str) -> Option<String> {
    // arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if prefix != "arn" || service != "sts" || !region.is_empty() || account.is_empty() {
        return None;
    }
    let (role, session) = resource.strip_prefix("assumed-role/")?.split_once('/')?;
    if role.is_empty() || session.is_empty() {
        return None;
    }
    Some(format!("arn:{partition}:iam::{account}:role/{role}"))
}

/// The first rule that admits `arn`, as a grant with the ARN as subject; `Refused` naming the
/// ARN if none does.
pub(super) fn grant_for(rules: &[AwsTrustRule], arn: &str) -> Result<Grant, ExchangeError> {
    let role = role_of_assumed_role(arn);
    let admits = |rule: &&AwsTrustRule| {
        glob_match(&rule.arn, arn) || role.as_deref().is_some_and(|r| glob_match(&rule.arn, r))
    };
    match rules.iter().find(admits) {
        Some(rule) => Ok(rule.grant.grant(arn.to_owned())),
        None => Err(ExchangeError::Refused(match role {
            Some(role) => {
                format!("no trust rule of this registry admits {arn} (nor its role {role})")
            }
            None => format!("no trust rule of this registry admits {arn}"),
        })),
    }
}

/// A rule's settings, checked at start.
pub(super) fn check_rule(rule: &AwsTrustRule) -> Result<(), String> {
    let pattern = &rule.arn;
    if !pattern.starts_with("arn:") || pattern.len() > 2048 {
        return Err(format!(
            "arn {pattern:?} is not an ARN pattern (arn:aws:iam::123456789012:role/NAME; \
             * matches any run of characters)"
        ));
    }
    if let Some((_, role)) = pattern.split_once(":role/") {
        if role.contains('/') {
            return Err(format!(
                "arn {pattern:?} names a role with a path; STS shows role sessions without \
                 the path (assumed-role/NAME/session), so write the role as \
                 arn:…:role/NAME"
            ));
        }
    }
    let ttl = rule.grant.ttl_secs;
    if !(MIN_RULE_TTL_SECS..=MAX_RULE_TTL_SECS).contains(&ttl) {
        return Err(format!(
            "ttl_secs {ttl} is outside {MIN_RULE_TTL_SECS} to {MAX_RULE_TTL_SECS}"
        ));
    }
    Ok(())
}
