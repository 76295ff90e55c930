//! The origin Lambda's input on arbitrary JSON: the Function URL event (the
//! `aws_lambda_events` type the adapter receives), the request `tfreg_origin` builds from it,
//! and the edge's identity header the origin reads back.
//!
//! `Registry::handle` itself is not driven (it needs storage and an async runtime per input).
#![no_main]
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use libfuzzer_sys::fuzz_target;
use tfreg_edge::{percent_decode, percent_encode, Identity, IDENTITY_HEADER};
use tfreg_origin::{IdentitySource, OriginRequest, RequestBody};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check_identity(text);
    }
    let Ok(event) = serde_json::from_slice::<LambdaFunctionUrlRequest>(data) else {
        return;
    };
    let request = OriginRequest::from_parts(
        event
            .request_context
            .http
            .method
            .as_deref()
            .unwrap_or("GET"),
        event.raw_path.as_deref().unwrap_or("/"),
        event.raw_query_string.as_deref().unwrap_or_default(),
        &event.headers,
        IdentitySource::Forwarded,
        RequestBody::Empty,
    );
    assert!(
        request.header("authorization").is_none(),
        "the viewer's token reached the registry"
    );
    if let Some(value) = request.header(IDENTITY_HEADER) {
        check_identity(value);
    }
});

/// The identity header reads back only what `to_header_value` could have written.
fn check_identity(value: &str) {
    if let Some(identity) = Identity::from_header_value(value) {
        let written = identity.to_header_value();
        assert_eq!(
            Identity::from_header_value(&written).as_ref(),
            Some(&identity)
        );
        assert_eq!(
            percent_decode(&percent_encode(&identity.token_name)).as_deref(),
            Some(identity.token_name.as_str())
        );
    }
}
