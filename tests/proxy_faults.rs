//! Proxy mode under faults and hostile input, end to end: an upstream that hangs, fails or
//! answers garbage, request paths that try to steer the proxy elsewhere, oversized fetches and
//! off-host redirects; each a clear error within the configured bound. (The happy paths are in
//! tests/proxy.rs.)

mod common;

use common::proxying::*;
use common::terraform::module_block;
use common::TestRegistry;
use std::time::{Duration, Instant};
use tfreg_testkit::upstream::{sample_repo, Download, Endpoint, Fault, RawEntry, UPSTREAM_SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_faults_are_clear_errors_within_the_configured_bound() {
    let upstream = upstream().await;
    upstream
        .repo(
            "acme-oss",
            "linked",
            "v1.0.0",
            sample_repo("linked").with(RawEntry::symlink("modules/sub/escape", "/etc/passwd")),
        )
        .module(
            "acme-oss/linked/aws",
            [(
                "1.0.0",
                Download::github_archive("acme-oss", "linked", "v1.0.0", "modules/sub"),
            )],
        )
        .module(
            "acme-oss/elsewhere/aws",
            [
                (
                    "1.0.0",
                    Download::literal("git::https://gitlab.com/acme/vpc.git?ref=v1.0.0"),
                ),
                (
                    "2.0.0",
                    Download::literal("http://169.254.169.254/latest/meta-data/x.tar.gz"),
                ),
                (
                    "3.0.0",
                    Download::literal("s3::https://s3.amazonaws.com/bucket/vpc.zip"),
                ),
            ],
        );
    let registry = TestRegistry::start_with(&proxy_args(&upstream, &["--proxy-timeout", "2"]));
    let reader = registry.create_token("reader", "downloader").await;
    let download = |module: &str, version: &str| format!("/v1/modules/{module}/{version}/download");

    // Every fault, on every hop, is a JSON error with the right status, well within a few
    // multiples of the 2 s bound, and the upstream's own body is never passed on.
    // (case, how to break the upstream, request, expected status, expected code)
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, String, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "versions hang",
            Box::new(|| {
                upstream.set_registry_fault(
                    "hashicorp/consul/aws",
                    Endpoint::Versions,
                    Some(Fault::Hang),
                )
            }),
            "/v1/modules/hashicorp/consul/aws/versions".into(),
            504,
            "upstream_timeout",
        ),
        (
            "versions 500",
            Box::new(|| {
                upstream.set_registry_fault(
                    "hashicorp/consul/aws",
                    Endpoint::Versions,
                    Some(Fault::ServerError),
                )
            }),
            "/v1/modules/hashicorp/consul/aws/versions".into(),
            502,
            "upstream_bad_answer",
        ),
        (
            "versions garbage",
            Box::new(|| {
                upstream.set_registry_fault(
                    "hashicorp/consul/aws",
                    Endpoint::Versions,
                    Some(Fault::Garbage),
                )
            }),
            "/v1/modules/hashicorp/consul/aws/versions".into(),
            502,
            "upstream_bad_answer",
        ),
        (
            "download slow past the bound",
            Box::new(|| {
                upstream.set_registry_fault(
                    "hashicorp/consul/aws",
                    Endpoint::Download,
                    Some(Fault::Slow(Duration::from_secs(30))),
                )
            }),
            download("hashicorp/consul/aws", "0.2.0"),
            504,
            "upstream_timeout",
        ),
        (
            "download garbage",
            Box::new(|| {
                upstream.set_registry_fault(
                    "hashicorp/consul/aws",
                    Endpoint::Download,
                    Some(Fault::Garbage),
                )
            }),
            download("hashicorp/consul/aws", "0.2.0"),
            502,
            "upstream_bad_answer",
        ),
        (
            "download 500",
            Box::new(|| {
                upstream.set_registry_fault(
                    "hashicorp/consul/aws",
                    Endpoint::Download,
                    Some(Fault::ServerError),
                )
            }),
            download("hashicorp/consul/aws", "0.2.0"),
            502,
            "upstream_bad_answer",
        ),
        (
            "archive hang",
            Box::new(|| {
                upstream.set_github_fault("hashicorp", "terraform-aws-consul", Some(Fault::Hang))
            }),
            download("hashicorp/consul/aws", "0.2.0"),
            504,
            "upstream_timeout",
        ),
        (
            "archive garbage",
            Box::new(|| {
                upstream.set_github_fault("hashicorp", "terraform-aws-consul", Some(Fault::Garbage))
            }),
            download("hashicorp/consul/aws", "0.2.0"),
            502,
            "upstream_archive_invalid",
        ),
        (
            "archive 500",
            Box::new(|| {
                upstream.set_github_fault(
                    "hashicorp",
                    "terraform-aws-consul",
                    Some(Fault::ServerError),
                )
            }),
            download("hashicorp/consul/aws", "0.2.0"),
            502,
            "upstream_bad_answer",
        ),
        (
            "redirect target 500",
            Box::new(|| upstream.set_github_fault("acme-oss", "modules", Some(Fault::ServerError))),
            download("acme-oss/redirected/aws", "4.0.0"),
            502,
            "upstream_bad_answer",
        ),
        (
            "archive with a link",
            Box::new(|| ()),
            download("acme-oss/linked/aws", "1.0.0"),
            502,
            "upstream_archive_invalid",
        ),
        (
            "git outside GitHub",
            Box::new(|| ()),
            download("acme-oss/elsewhere/aws", "1.0.0"),
            502,
            "upstream_source_unsupported",
        ),
        (
            "another host",
            Box::new(|| ()),
            download("acme-oss/elsewhere/aws", "2.0.0"),
            502,
            "upstream_source_unsupported",
        ),
        (
            "another getter",
            Box::new(|| ()),
            download("acme-oss/elsewhere/aws", "3.0.0"),
            502,
            "upstream_source_unsupported",
        ),
        (
            "upstream 404",
            Box::new(|| ()),
            download("hashicorp/consul/aws", "9.9.9"),
            404,
            "not_found",
        ),
    ];
    for (name, set_fault, path, status, code) in cases {
        upstream.clear_faults();
        set_fault();
        let started = Instant::now();
        let reply = registry.get(&path, Some(&reader)).await;
        let took = started.elapsed();
        assert_eq!(reply.status, status, "{name}: {}", reply.text());
        assert_eq!(reply.json()["code"], code, "{name}: {}", reply.text());
        assert!(
            !reply.text().contains(UPSTREAM_SECRET),
            "{name}: {}",
            reply.text()
        );
        assert!(took < Duration::from_secs(15), "{name} took {took:?}");
    }
    assert!(
        registry
            .get(&download("acme-oss/elsewhere/aws", "1.0.0"), Some(&reader))
            .await
            .error()
            .contains("git::https://gitlab.com/acme/vpc.git?ref=v1.0.0"),
        "the refusal names the source"
    );

    // Within the bound a slow upstream is only slow, and nothing was cached from the faults.
    upstream.clear_faults();
    upstream.set_registry_fault(
        "hashicorp/consul/aws",
        Endpoint::Versions,
        Some(Fault::Slow(Duration::from_millis(300))),
    );
    let reply = versions(&registry, "hashicorp/consul/aws", &reader).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let main_tf = module_block(&registry, "consul", "hashicorp/consul/aws", "0.2.0");
    let run = init(&registry, &main_tf, &reader);
    assert_succeeded(&run);
    assert!(run
        .file(".terraform/modules/consul/main.tf")
        .contains("consul root"));
    assert!(!registry.logs().contains(UPSTREAM_SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_paths_cannot_steer_the_proxy_anywhere_else() {
    let upstream = upstream().await;
    let registry = TestRegistry::start_with(&proxy_args(&upstream, &[]));
    let reader = registry.create_token("reader", "downloader").await;
    let master = registry.master_token.clone();
    upstream.clear_requests();
    for path in [
        "/v1/modules/..%2F..%2Fadmin/x/aws/versions",
        "/v1/modules/127.0.0.1:22/x/aws/versions",
        "/v1/modules/evil.example.com/x/aws/versions",
        "/v1/modules/acme@evil.example.com/x/aws/versions",
        "/v1/modules/acme/x%2F..%2F..%2F/aws/versions",
        "/v1/modules/acme/x/aws%3A8080/versions",
        "/v1/modules/hashicorp/consul/aws/0.2.0%2F..%2F..%2Fx/download",
        "/v1/modules/hashicorp/consul/aws/..%2F0.2.0/download",
        "/v1/modules/hashicorp/consul/aws/0.2.0/download/..%2F..",
        "/v1/modules/hashicorp/consul/aws/versions?upstream=http://127.0.0.1:1",
        "/v1/modules/hashicorp/consul/aws/versions/extra",
    ] {
        let reply = registry.get(path, Some(&reader)).await;
        if path.contains("?upstream=") {
            // The query is ignored: the configured upstream is asked, nothing else.
            assert_eq!(reply.status, 200, "{path}: {}", reply.text());
            continue;
        }
        assert!(
            matches!(reply.status, 400 | 404),
            "{path}: {} {}",
            reply.status,
            reply.text()
        );
    }
    for path in [
        "/v1/pins/..%2F../x/aws/1.0.0",
        "/v1/pins/hashicorp/consul/aws/1.0.0%2F..",
        "/v1/pins/evil.example.com:80/x/aws/1.0.0",
    ] {
        let reply = registry.post(path, &master).await;
        assert!(
            matches!(reply.status, 400 | 404),
            "{path}: {} {}",
            reply.status,
            reply.text()
        );
    }
    // Only the one legitimate query reached the upstream; GitHub was never asked.
    assert_eq!(
        upstream.registry_requests(),
        [
            "GET /.well-known/terraform.json",
            "GET /v1/modules/hashicorp/consul/aws/versions"
        ]
    );
    assert_eq!(upstream.github_requests(), Vec::<String>::new());
}

#[tokio::test]
async fn proxy_mode_is_off_by_default() {
    let upstream = upstream().await;
    let github = upstream.github_url().to_owned();
    let registry = TestRegistry::start_with(&[
        "--proxy-upstream",
        upstream.registry_url(),
        "--proxy-github-archive-url",
        &github,
    ]);
    let reader = registry.create_token("reader", "downloader").await;
    let reply = versions(&registry, "hashicorp/consul/aws", &reader).await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(reply.error(), "module hashicorp/consul/aws not found");
    assert_eq!(upstream.registry_requests(), Vec::<String>::new());
    // Pinning still works: it is an explicit act of the master.
    let reply = registry
        .post(
            "/v1/pins/hashicorp/consul/aws/0.2.0",
            &registry.master_token,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let reply = versions(&registry, "hashicorp/consul/aws", &reader).await;
    assert_eq!(listed(&reply), ["0.2.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_are_capped_in_size_and_redirects_stay_on_the_configured_hosts() {
    let upstream = upstream().await;

    // An archive over the size cap is refused while it streams.
    let small = TestRegistry::start_with(&proxy_args(
        &upstream,
        &["--proxy-max-archive-bytes", "200"],
    ));
    let reply = small
        .get(
            "/v1/modules/hashicorp/consul/aws/0.2.0/download",
            Some(&small.master_token),
        )
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["code"], "upstream_archive_too_large");

    // With the archive host configured elsewhere, the upstream's redirect to the GitHub
    // stand-in leads to a host this registry does not fetch from: refused, never followed.
    let elsewhere = TestRegistry::start_with(&[
        "--proxy",
        "--proxy-upstream",
        upstream.registry_url(),
        "--proxy-github-archive-url",
        "http://127.0.0.1:9",
    ]);
    upstream.clear_requests();
    let reply = elsewhere
        .get(
            "/v1/modules/acme-oss/redirected/aws/4.0.0/download",
            Some(&elsewhere.master_token),
        )
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["code"], "upstream_bad_answer");
    assert!(
        reply
            .error()
            .contains("a host this registry does not fetch from"),
        "{}",
        reply.error()
    );
    assert_eq!(upstream.github_requests(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_version_lists_are_reused_for_the_ttl_and_asked_again_after() {
    let upstream = upstream().await;
    // serve's default, 30 s: a second request within it does not reach the upstream, even
    // when the upstream has failed since.
    let cached = TestRegistry::start_with(&[
        "--proxy",
        "--proxy-upstream",
        upstream.registry_url(),
        "--proxy-github-archive-url",
        upstream.github_url(),
    ]);
    let reader = cached.create_token("reader", "downloader").await;
    let versions = "/v1/modules/hashicorp/consul/aws/versions";
    let first = cached.get(versions, Some(&reader)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    upstream.clear_requests();
    upstream.set_registry_fault(
        "hashicorp/consul/aws",
        Endpoint::Versions,
        Some(Fault::ServerError),
    );
    let again = cached.get(versions, Some(&reader)).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.body, first.body, "the same answer, from the cache");
    assert_eq!(upstream.registry_requests(), Vec::<String>::new());

    // A second of reuse: once it has passed, the upstream is asked again, and its failure
    // shows.
    let short = TestRegistry::start_with(&proxy_args(&upstream, &["--proxy-versions-ttl", "1"]));
    let reader = short.create_token("reader", "downloader").await;
    upstream.set_registry_fault("hashicorp/consul/aws", Endpoint::Versions, None);
    assert_eq!(short.get(versions, Some(&reader)).await.status, 200);
    upstream.set_registry_fault(
        "hashicorp/consul/aws",
        Endpoint::Versions,
        Some(Fault::ServerError),
    );
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    upstream.clear_requests();
    let failed = short.get(versions, Some(&reader)).await;
    assert_eq!(failed.status, 502, "{}", failed.text());
    assert_eq!(upstream.registry_requests().len(), 1);

    // An error is never kept: once the upstream recovers, the next request is answered.
    upstream.set_registry_fault("hashicorp/consul/aws", Endpoint::Versions, None);
    assert_eq!(short.get(versions, Some(&reader)).await.status, 200);
}
