//! Scoped tokens at the origin: created with scopes, checked against every route again (the
//! edge checked first), and lists, searches and pins filtered to the scopes.

use super::test_support::{code, json, module_tar_gz, TestRegistry};
use super::RequestBody;
use tfreg_edge::Tier;

fn archive() -> RequestBody {
    RequestBody::Bytes(module_tar_gz("# scoped\n"))
}

#[tokio::test]
async fn tokens_are_created_with_scopes_and_listed_with_them() {
    let registry = TestRegistry::new();
    let created = registry
        .as_master(
            "POST",
            "/v1/tokens",
            r#"{"name":"net-ci","permission":"uploader","scopes":["acme/network","acme/network"]}"#,
        )
        .await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(
        json(&created)["scopes"],
        serde_json::json!(["acme/network"])
    );
    let listed = json(&registry.as_master("GET", "/v1/tokens", "").await);
    let token = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token_name"] == "net-ci")
        .unwrap()
        .clone();
    assert_eq!(token["scopes"], serde_json::json!(["acme/network"]));
    for bad in [r#"["Acme"]"#, r#"["acme/"]"#, r#"["a/b/c/d"]"#] {
        let body = format!(r#"{{"name":"x","permission":"uploader","scopes":{bad}}}"#);
        let refused = registry.as_master("POST", "/v1/tokens", &body).await;
        assert_eq!(refused.status, 400, "{bad}");
        assert!(json(&refused)["errors"][0]
            .as_str()
            .unwrap()
            .contains("invalid scope"));
    }
}

#[tokio::test]
async fn a_scoped_uploader_publishes_only_within_its_scopes() {
    let registry = TestRegistry::new();
    let uploader = ("net-ci", Tier::Uploader);
    let inside = registry
        .send_scoped(
            "PUT",
            "/v1/modules/acme/network/aws/1.0.0",
            uploader,
            &["acme/network"],
            archive(),
        )
        .await;
    assert_eq!(
        inside.status,
        201,
        "{}",
        String::from_utf8_lossy(&inside.body)
    );
    let outside = registry
        .send_scoped(
            "PUT",
            "/v1/modules/acme/iam/aws/1.0.0",
            uploader,
            &["acme/network"],
            archive(),
        )
        .await;
    assert_eq!(outside.status, 403);
    assert_eq!(code(&outside), "out_of_scope");
    assert!(json(&outside)["errors"][0]
        .as_str()
        .unwrap()
        .contains("acme/iam/aws is outside it"));
    // Nothing was published.
    let versions = registry
        .send(
            "GET",
            "/v1/modules/acme/iam/aws/versions",
            Some(("r", Tier::Downloader)),
            RequestBody::Empty,
        )
        .await;
    assert_eq!(versions.status, 404);
}

#[tokio::test]
async fn a_scoped_reader_sees_only_its_modules_in_lists_searches_and_pins() {
    let registry = TestRegistry::new();
    for module in ["acme/network/aws", "acme/iam/aws", "other/network/aws"] {
        registry.publish(module, "1.0.0").await;
    }
    let reader = ("acme-reader", Tier::Downloader);
    let scopes = ["acme"];
    let ids = |response: &super::OriginResponse| -> Vec<String> {
        json(response)["modules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = registry
        .send_scoped("GET", "/v1/modules", reader, &scopes, RequestBody::Empty)
        .await;
    assert_eq!(ids(&list), ["acme/iam/aws/1.0.0", "acme/network/aws/1.0.0"]);
    let found = registry
        .send_scoped(
            "GET",
            "/v1/modules/search?q=network",
            reader,
            &scopes,
            RequestBody::Empty,
        )
        .await;
    assert_eq!(ids(&found), ["acme/network/aws/1.0.0"]);
    let other = registry
        .send_scoped(
            "GET",
            "/v1/modules/other/network/aws/versions",
            reader,
            &scopes,
            RequestBody::Empty,
        )
        .await;
    assert_eq!(other.status, 403);
    let namespace = registry
        .send_scoped(
            "GET",
            "/v1/modules/other",
            reader,
            &scopes,
            RequestBody::Empty,
        )
        .await;
    assert_eq!(namespace.status, 403);
    // A token scoped inside a namespace lists that namespace, filtered.
    let narrow = registry
        .send_scoped(
            "GET",
            "/v1/modules/acme",
            reader,
            &["acme/iam"],
            RequestBody::Empty,
        )
        .await;
    assert_eq!(ids(&narrow), ["acme/iam/aws/1.0.0"]);
}

#[tokio::test]
async fn a_scoped_master_does_not_administer_tokens() {
    let registry = TestRegistry::new();
    let master = ("scoped-admin", Tier::Master);
    for (method, path) in [
        ("GET", "/v1/tokens"),
        ("POST", "/v1/tokens"),
        ("DELETE", "/v1/tokens/ci"),
    ] {
        let response = registry
            .send_scoped(method, path, master, &["acme"], RequestBody::Empty)
            .await;
        assert_eq!(response.status, 403, "{method} {path}");
        assert_eq!(code(&response), "out_of_scope");
    }
}

#[tokio::test]
async fn an_exchange_not_configured_is_404_saying_so() {
    let registry = TestRegistry::new();
    for method in ["aws", "oidc"] {
        let response = registry
            .send(
                "POST",
                &format!("/v1/auth/{method}"),
                None,
                RequestBody::Bytes(b"{}".to_vec()),
            )
            .await;
        assert_eq!(response.status, 404, "{method}");
        assert_eq!(code(&response), "exchange_not_configured");
    }
    let response = registry
        .send("POST", "/v1/auth/kerberos", None, RequestBody::Empty)
        .await;
    assert_eq!(response.status, 404);
}
