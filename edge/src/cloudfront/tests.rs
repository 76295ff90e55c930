//! The viewer-request event and result against documented CloudFront event shapes.
use super::*;
use crate::{EdgeConfig, Identity};

const SECRET: &str = "origin-secret-value";
const VERSIONS: &str = "/v1/modules/acme/vpc/aws/versions";

fn handler() -> ViewerRequestHandler {
    let check = EdgeCheck::new(EdgeConfig::default());
    ViewerRequestHandler::new(check, SECRET)
}

/// A viewer-request event in the documented shape.
fn event(method: &str, uri: &str, querystring: &str, headers: &[(&str, &str)]) -> String {
    let mut map = serde_json::Map::new();
    map.insert(
        "host".into(),
        serde_json::json!([{"key": "Host", "value": "d111111abcdef8.cloudfront.net"}]),
    );
    for (name, value) in headers {
        map.insert(
            name.to_ascii_lowercase(),
            serde_json::json!([{"key": name, "value": value}]),
        );
    }
    serde_json::json!({"Records": [{"cf": {
        "config": {
            "distributionDomainName": "d111111abcdef8.cloudfront.net",
            "distributionId": "EDFDVBD6EXAMPLE",
            "eventType": "viewer-request",
            "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="
        },
        "request": {
            "clientIp": "203.0.113.178",
            "headers": map,
            "method": method,
            "querystring": querystring,
            "uri": uri
        }
    }}]})
    .to_string()
}

fn parse(json: &str) -> ViewerRequestEvent {
    serde_json::from_str(json).expect("a valid event")
}

fn done(step: EdgeStep) -> ViewerRequestResult {
    match step {
        EdgeStep::Done(result) => result,
        other => panic!("expected a result, got {other:?}"),
    }
}

fn forwarded(result: ViewerRequestResult) -> CfRequest {
    match result {
        ViewerRequestResult::Forward(request) => request,
        other => panic!("expected the request to pass, got {other:?}"),
    }
}

fn responded(result: ViewerRequestResult) -> CfResponse {
    match result {
        ViewerRequestResult::Respond(response) => response,
        other => panic!("expected a generated response, got {other:?}"),
    }
}

fn header<'a>(request: &'a CfRequest, name: &str) -> Option<&'a str> {
    request
        .headers
        .get(name)
        .map(|values| values[0].value.as_str())
}

fn downloader() -> Option<TokenInfo> {
    Some(TokenInfo {
        scopes: Vec::new(),
        token_name: "ci".into(),
        tier: Tier::Downloader,
        expires_at: None,
    })
}

#[test]
fn the_documented_example_event_parses_and_round_trips() {
    let json = event("GET", "/", "", &[("User-Agent", "curl/7.66.0")]);
    let parsed = parse(&json);
    assert_eq!(parsed.records[0].cf.config.event_type, "viewer-request");
    let request = &parsed.records[0].cf.request;
    assert_eq!(request.client_ip.as_deref(), Some("203.0.113.178"));
    assert_eq!(header(request, "user-agent"), Some("curl/7.66.0"));
    let again: serde_json::Value = serde_json::to_value(&parsed).unwrap();
    assert_eq!(
        again,
        serde_json::from_str::<serde_json::Value>(&json).unwrap()
    );
}

#[test]
fn no_token_is_a_401_generated_response_with_a_challenge() {
    let mut handler = handler();
    let step = handler
        .viewer_request(parse(&event("GET", VERSIONS, "", &[])), 0)
        .unwrap();
    let response = responded(done(step));
    assert_eq!(response.status, "401");
    assert_eq!(response.status_description, "Unauthorized");
    assert_eq!(
        response.headers["www-authenticate"][0].value,
        "Bearer realm=\"tfreg\""
    );
    assert_eq!(
        response.headers["content-type"][0].value,
        "application/json"
    );
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["code"], "missing_token");
    assert_eq!(body["error"], "missing_token");
    assert_eq!(body["message"], body["errors"][0]);
    // The documented field names, nothing CloudFront would reject.
    let json = serde_json::to_value(&response).unwrap();
    let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["body", "headers", "status", "statusDescription"]);
}

#[test]
fn an_allowed_origin_request_carries_the_identity_and_the_secret_and_nothing_forged() {
    let mut handler = handler();
    let json = event(
        "GET",
        VERSIONS,
        "",
        &[
            ("Authorization", "Bearer tfr_abc"),
            ("X-Tfreg-Identity", "token=admin;tier=master"),
            ("X-TFREG-ORIGIN-SECRET", "guess"),
        ],
    );
    let token_hash = match handler.viewer_request(parse(&json), 0).unwrap() {
        EdgeStep::Lookup { token_hash } => token_hash,
        other => panic!("expected a lookup, got {other:?}"),
    };
    assert_eq!(token_hash, hash_token("tfr_abc"));
    let request = forwarded(
        handler
            .complete(parse(&json), &token_hash, downloader(), 0)
            .unwrap(),
    );
    assert_eq!(
        Identity::from_header_value(header(&request, IDENTITY_HEADER).unwrap()),
        Some(Identity {
            scopes: Vec::new(),
            token_name: "ci".into(),
            tier: Tier::Downloader
        })
    );
    assert_eq!(header(&request, ORIGIN_SECRET_HEADER), Some(SECRET));
    let names: Vec<_> = request.headers.keys().map(String::as_str).collect();
    assert_eq!(names, ["host", "x-tfreg-identity", "x-tfreg-origin-secret"]);
    // The warm path: the same token is answered from the cache.
    let cached = forwarded(done(handler.viewer_request(parse(&json), 1).unwrap()));
    assert_eq!(cached, request);
}

#[test]
fn a_token_name_cannot_change_the_tier_the_origin_reads() {
    for name in [
        "x;tier=master",
        "a=b,c",
        "new\nline;tier=master",
        "Jürgen ✓",
    ] {
        let mut handler = handler();
        let json = event("GET", VERSIONS, "", &[("Authorization", "Bearer tfr_odd")]);
        let info = Some(TokenInfo {
            scopes: Vec::new(),
            token_name: name.into(),
            tier: Tier::Downloader,
            expires_at: None,
        });
        let request = forwarded(
            handler
                .complete(parse(&json), &hash_token("tfr_odd"), info, 0)
                .unwrap(),
        );
        let value = header(&request, IDENTITY_HEADER).unwrap();
        assert!(value.ends_with(";tier=downloader"), "{value}");
        assert_eq!(
            Identity::from_header_value(value),
            Some(Identity {
                scopes: Vec::new(),
                token_name: name.into(),
                tier: Tier::Downloader
            }),
            "{name:?}"
        );
    }
}

#[test]
fn no_token_reaches_the_origin_whatever_the_method_or_tier() {
    for (method, path, tier) in [
        ("PUT", "/v1/modules/acme/vpc/aws/1.0.0", Tier::Uploader),
        ("POST", "/v1/tokens", Tier::Master),
        ("DELETE", "/v1/tokens/ci", Tier::Master),
        ("GET", VERSIONS, Tier::Downloader),
    ] {
        let mut handler = handler();
        let json = event(method, path, "", &[("Authorization", "Bearer tfr_secret")]);
        let info = Some(TokenInfo {
            scopes: Vec::new(),
            token_name: "admin".into(),
            tier,
            expires_at: None,
        });
        let request = forwarded(
            handler
                .complete(parse(&json), &hash_token("tfr_secret"), info, 0)
                .unwrap(),
        );
        assert_eq!(header(&request, "authorization"), None, "{method} {path}");
        assert!(header(&request, IDENTITY_HEADER).is_some());
        // And from the cache, the same.
        let cached = forwarded(done(handler.viewer_request(parse(&json), 1).unwrap()));
        assert_eq!(header(&cached, "authorization"), None, "{method} {path}");
    }
}

#[test]
fn an_upload_over_the_origin_limit_is_413_naming_the_large_upload_path() {
    let mut handler = handler().with_max_origin_body_bytes(1_000);
    let uploader = Some(TokenInfo {
        scopes: Vec::new(),
        token_name: "ci".into(),
        tier: Tier::Uploader,
        expires_at: None,
    });
    let run = |handler: &mut ViewerRequestHandler, len: &str| {
        let json = event(
            "PUT",
            "/v1/modules/acme/vpc/aws/1.0.0",
            "",
            &[("authorization", "Bearer up"), ("content-length", len)],
        );
        match handler.viewer_request(parse(&json), 0).unwrap() {
            EdgeStep::Lookup { token_hash } => handler
                .complete(parse(&json), &token_hash, uploader.clone(), 0)
                .unwrap(),
            // The second time the token comes from the cache.
            EdgeStep::Done(result) => result,
        }
    };
    let refused = responded(run(&mut handler, "1001"));
    assert_eq!(refused.status, "413");
    let body: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(
        (&body["error"], &body["code"]),
        (&"archive_too_large".into(), &"archive_too_large".into())
    );
    assert_eq!(body["errors"][0], body["message"]);
    assert!(refused.body.contains(
        "POST /v1/modules/acme/vpc/aws/1.0.0/uploads, PUT the archive to the upload_url"
    ));
    forwarded(run(&mut handler, "1000"));
}

#[test]
fn a_downloader_may_not_publish() {
    let mut handler = handler();
    let json = event(
        "PUT",
        "/v1/modules/acme/vpc/aws/1.0.0",
        "",
        &[("Authorization", "Bearer tfr_dl")],
    );
    let response = responded(
        handler
            .complete(parse(&json), &hash_token("tfr_dl"), downloader(), 0)
            .unwrap(),
    );
    assert_eq!(response.status, "403");
    assert!(!response.headers.contains_key("www-authenticate"));
}

#[test]
fn discovery_passes_without_the_secret_or_forged_headers() {
    let mut handler = handler();
    let forged = [
        ("X-Tfreg-Identity", "token=admin;tier=master"),
        ("X-Tfreg-Origin-Secret", "guess"),
    ];
    let discovery = forwarded(done(
        handler
            .viewer_request(
                parse(&event("GET", "/.well-known/terraform.json", "", &forged)),
                10,
            )
            .unwrap(),
    ));
    assert_eq!(header(&discovery, IDENTITY_HEADER), None);
    assert_eq!(header(&discovery, ORIGIN_SECRET_HEADER), None);
}

/// CloudFront checks archive URLs itself (a trusted key group, no function on `/archives/*`):
/// a function that sees one was associated there by mistake, and refuses it.
#[test]
fn an_archive_request_is_403_signed_or_not() {
    let mut handler = handler();
    let path = "/archives/acme/vpc/aws/1.0.0/module.tar.gz";
    for query in ["Expires=100&Key-Pair-Id=K1&Signature=abc", ""] {
        let response = responded(done(
            handler
                .viewer_request(parse(&event("GET", path, query, &[])), 10)
                .unwrap(),
        ));
        assert_eq!(response.status, "403");
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["code"], "archive_not_checked_at_the_edge");
    }
}

#[test]
fn complete_refuses_a_lookup_that_is_not_this_requests() {
    let mut handler = handler();
    let json = event("GET", VERSIONS, "", &[("Authorization", "Bearer mine")]);
    assert_eq!(
        handler.complete(parse(&json), &hash_token("theirs"), downloader(), 0),
        Err(EventError::UnexpectedLookup)
    );
    let discovery = event("GET", "/.well-known/terraform.json", "", &[]);
    assert_eq!(
        handler.complete(parse(&discovery), &hash_token("mine"), downloader(), 0),
        Err(EventError::UnexpectedLookup)
    );
    assert_eq!(handler.edge_check().cached_lookups(), 0);
}

#[test]
fn the_wrong_trigger_is_refused() {
    let mut handler = handler();
    let json = event("GET", VERSIONS, "", &[]).replace("viewer-request", "origin-request");
    assert_eq!(
        handler.viewer_request(parse(&json), 0),
        Err(EventError::WrongEventType("origin-request".into()))
    );
    let empty = ViewerRequestEvent { records: vec![] };
    assert_eq!(handler.viewer_request(empty, 0), Err(EventError::NoRecord));
}

#[test]
fn unknown_request_fields_and_the_body_pass_through() {
    let mut handler = handler();
    let mut value: serde_json::Value =
        serde_json::from_str(&event("GET", "/.well-known/terraform.json", "", &[])).unwrap();
    let request = &mut value["Records"][0]["cf"]["request"];
    request["body"] = serde_json::json!({
        "inputTruncated": false, "action": "read-only", "encoding": "base64", "data": ""
    });
    request["somethingNew"] = serde_json::json!({"a": 1});
    let expected = request.clone();
    let event: ViewerRequestEvent = serde_json::from_value(value).unwrap();
    let passed = forwarded(done(handler.viewer_request(event, 0).unwrap()));
    assert_eq!(serde_json::to_value(&passed).unwrap(), expected);
}

#[test]
fn token_items_map_to_token_info() {
    let item: TokenItem = serde_json::from_str(
        r#"{"token_name":"ci","permission":"uploader","expires_at":1700000000}"#,
    )
    .unwrap();
    assert_eq!(
        TokenInfo::from(item),
        TokenInfo {
            scopes: Vec::new(),
            token_name: "ci".into(),
            tier: Tier::Uploader,
            expires_at: Some(1_700_000_000)
        }
    );
    let no_expiry: TokenItem =
        serde_json::from_str(r#"{"token_name":"ci","permission":"master"}"#).unwrap();
    assert_eq!(no_expiry.expires_at, None);
    assert!(
        serde_json::from_str::<TokenItem>(r#"{"token_name":"ci","permission":"root"}"#).is_err()
    );
}

#[test]
fn the_root_is_a_redirect_to_the_page_answered_at_the_edge() {
    let mut handler = handler();
    let response = responded(done(
        handler
            .viewer_request(parse(&event("GET", "/", "", &[])), 10)
            .unwrap(),
    ));
    assert_eq!(response.status, "302");
    assert_eq!(response.headers["location"][0].value, "/ui/");
    // The page's files pass to their (S3) origin untouched, without a token or the secret.
    let page = forwarded(done(
        handler
            .viewer_request(parse(&event("GET", "/ui/app.js", "", &[])), 10)
            .unwrap(),
    ));
    assert_eq!(header(&page, ORIGIN_SECRET_HEADER), None);
}
