//! The provider network mirror in the origin Lambda, configured by the
//! `TFREG_PROVIDER_MIRROR_*` variables the deployment module sets: `{version}.json` names a
//! signed origin route for a package not kept yet; that route, requested with no token (as
//! Terraform requests a package), fetches and checks the package from the stand-in upstream,
//! keeps it in the bucket beneath `archives/_mirror/` and redirects to its signed archive URL
//! (which CloudFront serves from S3 with no function).

use super::mirror_upstream::{signed_release, Upstream, HOST, PROVIDER};
use super::providers::Gpg;
use super::*;

/// A Function URL event for `GET path?query` with no identity: what the edge passes on for a
/// signed-at-origin route.
fn anonymous_get(path: &str, query: &str) -> serde_json::Value {
    let mut event = fixture("get-download.json", SECRET, "");
    event.raw_path = Some(path.into());
    event.raw_query_string = Some(query.into());
    event.request_context.http.path = Some(path.into());
    event.headers.remove("x-tfreg-identity");
    serde_json::to_value(event).expect("event serialises")
}

fn body_of(answer: &serde_json::Value) -> serde_json::Value {
    serde_json::from_str(answer["body"].as_str().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bootstrap_binary_mirrors_providers_into_the_bucket() {
    let upstream = Upstream::start().await;
    let gpg = Gpg::new("Acme Release <release@acme.example>");
    let platforms = ["linux_amd64", "darwin_arm64"];
    let release = signed_release("1.2.0", &platforms, &gpg);
    upstream.publish(&release, &platforms, &gpg);

    let moto = moto::Moto::shared();
    let sdk = moto.sdk_config().await;
    let bucket = moto.create_bucket(&sdk).await;
    let table = moto.create_table(&sdk).await;
    let (secret, signer) = signing_secret(moto, &sdk).await;
    let api = lambda_api::FakeRuntimeApi::start().await;
    let _bootstrap = Running(
        bootstrap_command(&api, moto.endpoint(), &bucket, &table, &secret)
            .env(
                "TFREG_PROVIDER_MIRROR_UPSTREAMS",
                format!("{HOST}={}", upstream.registry.url()),
            )
            .env(
                "TFREG_PROVIDER_MIRROR_DOWNLOAD_HOSTS",
                upstream.releases.url(),
            )
            .env(
                "TFREG_PROVIDER_MIRROR_DENY_LIST",
                format!("{HOST}/acme/blocked"),
            )
            .env("TFREG_PROVIDER_MIRROR_TIMEOUT_SECS", "20")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("starting bootstrap"),
    );
    let s3 = moto::s3_client(&sdk);
    let keys_under = |prefix: &'static str| moto::keys_under(&s3, &bucket, prefix);
    let version_path = format!("/v1/mirror/{HOST}/{PROVIDER}/1.2.0.json");

    let index = respond(
        api.invoke(event_for(
            "GET",
            &format!("/v1/mirror/{HOST}/{PROVIDER}/index.json"),
            "downloader",
        ))
        .await,
    );
    assert_eq!(index["statusCode"], 200, "{index}");
    assert_eq!(
        body_of(&index),
        serde_json::json!({"versions": {"1.2.0": {}}})
    );
    let listed = respond(
        api.invoke(event_for("GET", &version_path, "downloader"))
            .await,
    );
    assert_eq!(listed["statusCode"], 200, "{listed}");
    let url = body_of(&listed)["archives"]["linux_amd64"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let route = format!("/v1/mirror/{HOST}/{PROVIDER}/1.2.0/linux_amd64.zip");
    let query = url
        .strip_prefix(&format!("{REGISTRY_URL}{route}?"))
        .unwrap_or_else(|| panic!("not the signed package route: {url}"))
        .to_owned();
    signer
        .verifier()
        .verify(&format!("{REGISTRY_URL}{route}"), &query, 0)
        .expect("signed for the registry's address");

    // Unsigned, or signed for another package: refused before any upstream request.
    let zips_fetched = || {
        upstream
            .releases
            .requests()
            .iter()
            .filter(|r| r.contains(".zip"))
            .count()
    };
    for (path, query, code) in [
        (route.as_str(), "", "unsigned_url"),
        (
            &route.replace("linux_amd64", "darwin_arm64"),
            query.as_str(),
            "invalid_signature",
        ),
    ] {
        let refused = respond(api.invoke(anonymous_get(path, query)).await);
        assert_eq!(refused["statusCode"], 403, "{path}: {refused}");
        assert_eq!(body_of(&refused)["code"], code, "{path}");
    }
    assert_eq!(zips_fetched(), 0);
    assert!(keys_under("archives/_mirror/").await.is_empty());

    // Signed: fetched, checked, kept in the bucket, and a redirect to the kept package.
    let fetched = respond(api.invoke(anonymous_get(&route, &query)).await);
    assert_eq!(fetched["statusCode"], 302, "{fetched}");
    assert_eq!(fetched["headers"]["cache-control"], "no-store", "{fetched}");
    let zip_name = release.zip_name("linux_amd64");
    let kept_path = format!("/archives/_mirror/{HOST}/{PROVIDER}/1.2.0/linux_amd64/{zip_name}");
    let location = fetched["headers"]["location"].as_str().unwrap();
    let kept_query = location
        .strip_prefix(&format!("{REGISTRY_URL}{kept_path}?"))
        .unwrap_or_else(|| panic!("not the kept package's signed URL: {location}"));
    signer
        .verifier()
        .verify(&format!("{REGISTRY_URL}{kept_path}"), kept_query, 0)
        .expect("the archive URL CloudFront's trusted key group admits");
    let package_dir = format!("archives/_mirror/{HOST}/{PROVIDER}/1.2.0/linux_amd64/");
    assert_eq!(
        keys_under("archives/_mirror/").await,
        [
            format!("{package_dir}package.json"),
            format!("{package_dir}{zip_name}")
        ]
    );
    let zip = moto::object_bytes(&s3, &bucket, &format!("{package_dir}{zip_name}")).await;
    assert_eq!(zip, std::fs::read(release.path(&zip_name)).unwrap());
    assert_eq!(zips_fetched(), 1);

    // Kept: the version's document names the archive URL, with its h1 hash; the route again
    // redirects without a second fetch.
    let listed = respond(
        api.invoke(event_for("GET", &version_path, "downloader"))
            .await,
    );
    let archives = &body_of(&listed)["archives"];
    let kept_url = archives["linux_amd64"]["url"].as_str().unwrap();
    assert!(
        kept_url.starts_with(&format!("{REGISTRY_URL}{kept_path}?")),
        "{kept_url}"
    );
    assert!(archives["linux_amd64"]["hashes"][0]
        .as_str()
        .unwrap()
        .starts_with("h1:"));
    assert!(archives["darwin_arm64"]["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{REGISTRY_URL}/v1/mirror/")));
    let again = respond(api.invoke(anonymous_get(&route, &query)).await);
    assert_eq!(again["statusCode"], 302, "{again}");
    assert_eq!(zips_fetched(), 1);

    // The deny list from the environment holds.
    let denied = respond(
        api.invoke(event_for(
            "GET",
            &format!("/v1/mirror/{HOST}/acme/blocked/index.json"),
            "downloader",
        ))
        .await,
    );
    assert_eq!(denied["statusCode"], 403, "{denied}");
    assert!(api.init_errors().is_empty(), "{:?}", api.init_errors());
}
