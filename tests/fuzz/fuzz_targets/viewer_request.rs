//! The Lambda@Edge viewer-request check on arbitrary CloudFront events (JSON), through
//! `ViewerRequestHandler`: the first byte picks what the token store answers if the check asks
//! (nothing, or a token of each tier), the rest is the event.
#![no_main]
use std::num::NonZeroUsize;

use libfuzzer_sys::fuzz_target;
use tfreg_edge::cloudfront::{
    EdgeStep, ViewerRequestEvent, ViewerRequestHandler, ViewerRequestResult, ORIGIN_PATH_PREFIX,
    ORIGIN_SECRET_HEADER,
};
use tfreg_edge::{
    required_access, Access, EdgeCheck, EdgeConfig, Tier, TokenInfo, IDENTITY_HEADER,
};

const SECRET: &str = "fuzzing origin secret";

fn handler() -> ViewerRequestHandler {
    // Small caches: the defaults allocate for thousands of entries on every input.
    let config = EdgeConfig {
        cache_capacity: NonZeroUsize::new(4).unwrap(),
        unknown_cache_capacity: NonZeroUsize::new(4).unwrap(),
        ..EdgeConfig::default()
    };
    ViewerRequestHandler::new(EdgeCheck::new(config), SECRET)
}

fuzz_target!(|data: &[u8]| {
    let Some((&answer, json)) = data.split_first() else {
        return;
    };
    let Ok(event) = serde_json::from_slice::<ViewerRequestEvent>(json) else {
        return;
    };
    let viewer = event.records.first().map(|r| r.cf.request.clone());
    let found = match answer % 5 {
        0 => None,
        n => Some(TokenInfo {
            token_name: "fuzz".to_owned(),
            tier: [Tier::Downloader, Tier::Uploader, Tier::Master, Tier::Master]
                [usize::from(n - 1)],
            expires_at: (n == 4).then_some(1),
            scopes: Vec::new(),
        }),
    };
    let mut handler = handler();
    let now = 1_000;
    let (result, looked_up) = match handler.viewer_request(event.clone(), now) {
        Err(_) => return,
        Ok(EdgeStep::Done(result)) => (result, None),
        Ok(EdgeStep::Lookup { token_hash }) => {
            let found_tier = found
                .as_ref()
                .filter(|t| t.expires_at.is_none())
                .map(|t| t.tier);
            let result = handler
                .complete(event, &token_hash, found, now)
                .expect("the lookup the handler asked for completes");
            (result, Some(found_tier))
        }
    };
    let ViewerRequestResult::Forward(forwarded) = result else {
        return;
    };
    let viewer = viewer.expect("a forwarded request came from a record");
    // What was let through needed what it had: a token route only with a live token of the
    // tier it needs.
    if let Access::Token(needed) = required_access(&viewer.method, &viewer.uri) {
        let tier = looked_up.flatten().unwrap_or_else(|| {
            panic!(
                "{} {} let through without a token",
                viewer.method, viewer.uri
            )
        });
        assert!(
            tier.grants(needed),
            "{tier:?} let through where {needed:?} is needed"
        );
    }
    // The edge's own headers: only its values, once, and the secret only towards the origin.
    for (name, values) in &forwarded.headers {
        if name.eq_ignore_ascii_case(ORIGIN_SECRET_HEADER) {
            assert!(
                forwarded.uri.starts_with(ORIGIN_PATH_PREFIX),
                "secret sent to S3"
            );
            assert_eq!(name, ORIGIN_SECRET_HEADER);
            assert_eq!(values.len(), 1);
            assert_eq!(values[0].value, SECRET);
        }
        if name.eq_ignore_ascii_case(IDENTITY_HEADER) {
            assert_eq!(
                name, IDENTITY_HEADER,
                "a viewer's identity header went through"
            );
            assert_eq!(values.len(), 1);
            assert!(looked_up.flatten().is_some(), "identity without a token");
        }
    }
});
