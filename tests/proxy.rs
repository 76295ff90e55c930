//! Proxy mode and pinning end to end: the real `tfreg serve` binary, the real Terraform CLI,
//! and in-process stand-ins for the public registry and GitHub's archive host on loopback
//! ports (`tfreg_testkit::upstream`), answering in the formats the real services use.

mod common;

use common::proxying::*;
use common::terraform::module_block;
use common::TestRegistry;

use tfreg_testkit::upstream::{Download, Endpoint, Fault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_installs_upstream_modules_in_every_form_through_the_proxy() {
    let upstream = upstream().await;
    let registry = TestRegistry::start_with(&proxy_args(&upstream, &[]));
    let reader = registry.create_token("reader", "downloader").await;

    // Versions listed out of order upstream come back in semver order.
    let reply = versions(&registry, "hashicorp/consul/aws", &reader).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(listed(&reply), ["0.1.0", "0.2.0", "0.11.0"]);

    // A download answer names this registry, never the upstream or GitHub.
    let reply = registry
        .get("/v1/modules/acme-oss/vpc/aws/1.2.0/download", Some(&reader))
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let location = reply.header("x-terraform-get").unwrap();
    assert!(
        location.starts_with("/archives/_proxy/acme-oss/vpc/aws/1.2.0/module.tar.gz?")
            && location.contains("&checksum=sha256:"),
        "{location}"
    );
    // Now in the proxy cache: its details come from there, with their provenance.
    let reply = registry
        .get("/v1/modules/acme-oss/vpc/aws/1.2.0", Some(&reader))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let details = reply.json();
    assert_eq!(details["origin"], "proxy");
    assert!(details["origin_url"].is_string(), "{details}");
    assert_eq!(details["id"], "acme-oss/vpc/aws/1.2.0");
    assert_eq!(details["root"]["name"], "vpc");
    assert!(details["docs_unavailable_reason"].is_null(), "{details}");

    let main_tf = [
        module_block(&registry, "consul", "hashicorp/consul/aws", "~> 0.2"),
        module_block(&registry, "vpc", "acme-oss/vpc/aws", "1.2.0"),
        module_block(&registry, "sub", "acme-oss/sub/aws", "~> 2.0"),
        module_block(&registry, "gitsub", "acme-oss/gitsub/aws", "3.0.0"),
        module_block(&registry, "relative", "acme-oss/relative/aws", "0.1.0"),
        module_block(&registry, "redirected", "acme-oss/redirected/aws", "4.0.0"),
    ]
    .concat();
    let run = init(&registry, &main_tf, &reader);
    assert_succeeded(&run);

    let installed = run.installed();
    let source = |m: &str| format!("{}/{m}", registry.host);
    assert_eq!(
        installed["consul"],
        (source("hashicorp/consul/aws"), "0.11.0".into())
    );
    assert_eq!(
        installed["vpc"],
        (source("acme-oss/vpc/aws"), "1.2.0".into())
    );

    // git:: on GitHub: the tarball of the commit, top folder and pax header gone.
    let whole_repo = [
        "README.md",
        "examples/basic/main.tf",
        "main.tf",
        "modules/sub/main.tf",
    ];
    assert_eq!(files_of(&run, "consul"), whole_repo);
    assert!(run
        .file(".terraform/modules/consul/main.tf")
        .contains("consul root"));
    // A GitHub archive URL with `//*`.
    assert_eq!(files_of(&run, "vpc"), whole_repo);
    assert!(run
        .file(".terraform/modules/vpc/main.tf")
        .contains("vpc root"));
    // `//modules/sub` of a GitHub archive: beneath the top folder, only the submodule.
    assert_eq!(files_of(&run, "sub"), ["main.tf"]);
    assert!(run
        .file(".terraform/modules/sub/main.tf")
        .contains("mods sub"));
    // `git::…//modules/sub?ref=`.
    assert_eq!(files_of(&run, "gitsub"), ["main.tf"]);
    assert!(run
        .file(".terraform/modules/gitsub/main.tf")
        .contains("mods-sha sub"));
    // A root-relative URL on the upstream registry.
    assert_eq!(files_of(&run, "relative"), ["main.tf", "vars.tf"]);
    // A redirect from the upstream to the archive host before the archive.
    assert!(run
        .file(".terraform/modules/redirected/main.tf")
        .contains("mods-sha root"));

    // Each archive was fetched once and is served from the proxy cache from then on; the
    // bearer token never left this registry.
    let fetched = upstream.github_requests().len();
    let run = init(&registry, &main_tf, &reader);
    assert_succeeded(&run);
    assert_eq!(upstream.github_requests().len(), fetched);
    for request in upstream
        .registry_requests_with_headers()
        .iter()
        .chain(upstream.github_requests_with_headers().iter())
    {
        assert_eq!(request.header("authorization"), None, "{request}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_outside_the_policy_are_404_and_the_upstream_is_never_asked() {
    let upstream = upstream().await;
    upstream.module(
        "acme-oss/vpc-peering/aws",
        [(
            "1.0.0",
            Download::root_relative(&[("main.tf", "# peering\n")]),
        )],
    );
    let registry = TestRegistry::start_with(&proxy_args(
        &upstream,
        &[
            "--proxy-allow",
            "hashicorp,acme-oss/vpc",
            "--proxy-deny",
            "hashicorp/vault",
        ],
    ));
    let reader = registry.create_token("reader", "downloader").await;

    let reply = versions(&registry, "acme-oss/vpc/aws", &reader).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    upstream.clear_requests();

    // `acme-oss/vpc` does not admit `acme-oss/vpc-peering`.
    let reply = versions(&registry, "acme-oss/vpc-peering/aws", &reader).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.error(),
        "module acme-oss/vpc-peering/aws is not in this registry, and it is not on the proxy's allow list, so it is not fetched from the upstream registry"
    );
    let reply = registry
        .get(
            "/v1/modules/hashicorp/vault/aws/1.0.0/download",
            Some(&reader),
        )
        .await;
    assert_eq!(reply.status, 404);
    assert!(
        reply.error().contains("deny list (hashicorp/vault)"),
        "{}",
        reply.error()
    );
    let reply = versions(&registry, "hashicorp/vault/aws", &reader).await;
    assert_eq!(reply.status, 404);

    let main_tf = module_block(&registry, "peering", "acme-oss/vpc-peering/aws", "1.0.0");
    let run = init(&registry, &main_tf, &reader);
    assert!(!run.succeeded(), "{}", run.stdout());
    assert_eq!(upstream.registry_requests(), Vec::<String>::new());
    assert_eq!(upstream.github_requests(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_modules_merge_with_upstream_ones_only_when_listed() {
    let upstream = upstream().await;
    upstream.module(
        "acme/private/aws",
        [(
            "9.9.9",
            Download::root_relative(&[("main.tf", "# squatted\n")]),
        )],
    );
    upstream.module(
        "acme-oss/mixed/aws",
        [
            (
                "2.0.0",
                Download::root_relative(&[("main.tf", "# upstream 2\n")]),
            ),
            (
                "1.0.0",
                Download::root_relative(&[("main.tf", "# upstream 1\n")]),
            ),
        ],
    );
    // Uploads are never merged with upstream versions by default; `acme-oss/mixed` opts in.
    let registry = TestRegistry::start_with(&proxy_args(
        &upstream,
        &[
            "--proxy-local-only",
            "acme",
            "--proxy-merge",
            "acme-oss/mixed",
        ],
    ));
    for (module, version) in [
        ("acme/private/aws", "1.0.0"),
        ("acme-oss/mixed/aws", "1.5.0"),
    ] {
        let reply = registry
            .upload(
                module,
                version,
                tfreg_testkit::archive::versioned_module(version),
                &registry.master_token,
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    let reader = registry.create_token("reader", "downloader").await;

    let reply = versions(&registry, "acme-oss/mixed/aws", &reader).await;
    assert_eq!(listed(&reply), ["1.0.0", "1.5.0", "2.0.0"]);
    // A local-only namespace never mixes in what someone published upstream under its name.
    upstream.clear_requests();
    let reply = versions(&registry, "acme/private/aws", &reader).await;
    assert_eq!(listed(&reply), ["1.0.0"]);
    let reply = registry
        .get("/v1/modules/acme/private/aws/9.9.9/download", Some(&reader))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert!(reply.error().contains("local-only"), "{}", reply.error());
    assert_eq!(upstream.registry_requests(), Vec::<String>::new());

    // When the upstream fails, a module with local versions is answered with those.
    upstream.set_registry_fault(
        "acme-oss/mixed/aws",
        Endpoint::Versions,
        Some(Fault::ServerError),
    );
    let reply = versions(&registry, "acme-oss/mixed/aws", &reader).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(listed(&reply), ["1.5.0"]);
}

/// The safe default against dependency confusion, with proxy mode on and an empty allow list:
/// a namespace that holds an uploaded module is private as a whole, pins do not make one
/// private, and `--proxy-merge` opts a module back in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_with_uploads_stay_local_unless_merged() {
    let upstream = upstream().await;
    upstream
        .module(
            "acme/vpc/aws",
            [(
                "9.9.9",
                Download::root_relative(&[("main.tf", "# squatted\n")]),
            )],
        )
        .module(
            "acme/typo/aws",
            [(
                "1.0.0",
                Download::root_relative(&[("main.tf", "# typo squatted\n")]),
            )],
        );
    let registry = TestRegistry::start_with(&proxy_args(&upstream, &[]));
    let reply = registry
        .upload(
            "acme/vpc/aws",
            "1.0.0",
            tfreg_testkit::archive::versioned_module("1.0.0"),
            &registry.master_token,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let reader = registry.create_token("reader", "downloader").await;
    upstream.clear_requests();

    // The uploaded module never gets the squatted 9.9.9, not even with `>= 1.0`.
    let reply = versions(&registry, "acme/vpc/aws", &reader).await;
    assert_eq!(listed(&reply), ["1.0.0"]);
    let reply = registry
        .get("/v1/modules/acme/vpc/aws/9.9.9/download", Some(&reader))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    let run = init(
        &registry,
        &module_block(&registry, "vpc", "acme/vpc/aws", ">= 1.0"),
        &reader,
    );
    assert_succeeded(&run);
    assert_eq!(run.installed()["vpc"].1, "1.0.0");
    // A typo (or a module not uploaded yet) in the private namespace is 404, and the
    // upstream is never asked.
    let reply = versions(&registry, "acme/typo/aws", &reader).await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert!(
        reply
            .error()
            .contains("namespace acme holds modules uploaded here"),
        "{}",
        reply.error()
    );
    let reply = registry
        .get("/v1/modules/acme/typo/aws/1.0.0/download", Some(&reader))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    assert_eq!(upstream.registry_requests(), Vec::<String>::new());
    assert_eq!(upstream.github_requests(), Vec::<String>::new());

    // A pinned public module still merges with its upstream versions.
    let reply = registry
        .post(
            "/v1/pins/hashicorp/consul/aws/0.1.0",
            &registry.master_token,
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let reply = versions(&registry, "hashicorp/consul/aws", &reader).await;
    assert_eq!(listed(&reply), ["0.1.0", "0.2.0", "0.11.0"]);

    // `--proxy-merge acme/vpc/` (the trailing slash of the Python registry's lists) opts
    // that module back in; the rest of the namespace stays private.
    let data_dir = registry.stop();
    let registry = TestRegistry::start_in(
        data_dir,
        &proxy_args(&upstream, &["--proxy-merge", "acme/vpc/"]),
    );
    let reply = versions(&registry, "acme/vpc/aws", &reader).await;
    assert_eq!(listed(&reply), ["1.0.0", "9.9.9"]);
    let reply = versions(&registry, "acme/typo/aws", &reader).await;
    assert_eq!(reply.status, 404, "{}", reply.text());
}

/// One `tfreg serve` (B) proxying another (A) over HTTPS: A's certificate is issued by its own
/// private CA, which B trusts through `--proxy-ca-bundle` alone (B's system store is emptied),
/// and A serves plain tarballs with the files at the archive root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_proxies_another_registry_behind_a_private_ca() {
    let a = TestRegistry::start();
    let archive = tfreg_testkit::archive::ArchiveBuilder::new()
        .file(
            "main.tf",
            "output \"which\" { value = \"from registry a\" }\n",
        )
        .file("variables.tf", "# registry a variables\n")
        .build_tar_gz();
    let reply = a
        .upload("acme-shared/network/aws", "1.0.0", archive, &a.master_token)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let proxy_token = a.create_token("registry-b", "downloader").await;

    let no_system_roots = tempfile::tempdir().unwrap();
    let empty_bundle = no_system_roots.path().join("empty.pem");
    std::fs::write(&empty_bundle, "").unwrap();
    let env = [
        ("SSL_CERT_FILE", empty_bundle.to_str().unwrap()),
        ("SSL_CERT_DIR", no_system_roots.path().to_str().unwrap()),
    ];
    let upstream_url = a.url("");
    let ca_bundle = a.ca_pem.to_str().unwrap().to_owned();
    // The GitHub archive host on A's host too (an air-gapped set-up, or a private registry
    // that serves both): only paths shaped like GitHub's tarballs lose their top folder.
    let mut args = vec![
        "--proxy",
        "--proxy-upstream",
        upstream_url.as_str(),
        "--proxy-github-archive-url",
        upstream_url.as_str(),
        "--proxy-upstream-token",
        proxy_token.as_str(),
    ];

    // Without the bundle, A's certificate is not trusted.
    let untrusting = TestRegistry::start_with_env(&args, &env);
    let reader = untrusting.create_token("reader", "downloader").await;
    let reply = versions(&untrusting, "acme-shared/network/aws", &reader).await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    drop(untrusting);

    args.extend(["--proxy-ca-bundle", ca_bundle.as_str()]);
    let b = TestRegistry::start_with_env(&args, &env);
    let reader = b.create_token("reader", "downloader").await;
    let reply = versions(&b, "acme-shared/network/aws", &reader).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(listed(&reply), ["1.0.0"]);

    let run = init(
        &b,
        &module_block(&b, "network", "acme-shared/network/aws", "~> 1.0"),
        &reader,
    );
    assert_succeeded(&run);
    assert_eq!(files_of(&run, "network"), ["main.tf", "variables.tf"]);
    assert!(run
        .file(".terraform/modules/network/main.tf")
        .contains("from registry a"));
    assert_eq!(
        run.file(".terraform/modules/network/variables.tf"),
        "# registry a variables\n"
    );
}

/// `--proxy-upstream-token` goes to the upstream registry's API (discovery, versions,
/// download) and nowhere else: not to archive URLs, even on the upstream's host, and not to
/// the GitHub archive host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_token_goes_to_the_upstream_api_only() {
    let upstream = upstream().await;
    let registry = TestRegistry::start_with(&proxy_args(
        &upstream,
        &["--proxy-upstream-token", "upstream-secret-token"],
    ));
    let reader = registry.create_token("reader", "downloader").await;
    for (module, version) in [
        ("acme-oss/relative/aws", "0.1.0"),
        ("hashicorp/consul/aws", "0.2.0"),
    ] {
        let reply = registry
            .get(
                &format!("/v1/modules/{module}/{version}/download"),
                Some(&reader),
            )
            .await;
        assert_eq!(reply.status, 204, "{}", reply.text());
    }
    let registry_requests = upstream.registry_requests_with_headers();
    let mut api = 0;
    for request in &registry_requests {
        let bearer = request.header("authorization");
        if request.target.starts_with("/files/") {
            assert_eq!(bearer, None, "{request}");
        } else {
            assert_eq!(bearer, Some("Bearer upstream-secret-token"), "{request}");
            api += 1;
        }
    }
    assert!(api >= 3, "{registry_requests:?}");
    assert!(registry_requests
        .iter()
        .any(|r| r.target.starts_with("/files/")));
    let github = upstream.github_requests_with_headers();
    assert!(!github.is_empty());
    for request in &github {
        assert_eq!(request.header("authorization"), None, "{request}");
    }
    assert!(
        !registry.logs().contains("upstream-secret-token"),
        "the token is never logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_version_installs_after_the_upstream_is_gone() {
    let upstream = upstream().await;
    let registry = TestRegistry::start_with(&proxy_args(
        &upstream,
        &["--proxy-deny", "acme-oss/relative"],
    ));
    let master = registry.master_token.clone();
    let reader = registry.create_token("reader", "downloader").await;

    // Pinning is the master's.
    let reply = registry
        .post("/v1/pins/acme-oss/sub/aws/2.0.0", &reader)
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());

    let reply = registry
        .post("/v1/pins/acme-oss/sub/aws/2.0.0", &master)
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    let pin = reply.json();
    assert_eq!(
        (
            &pin["namespace"],
            &pin["name"],
            &pin["system"],
            &pin["version"]
        ),
        (
            &"acme-oss".into(),
            &"sub".into(),
            &"aws".into(),
            &"2.0.0".into()
        )
    );
    assert_eq!(
        pin["source_url"],
        format!(
            "{}/acme-oss/modules/tar.gz/v2.0.0//*/modules/sub",
            upstream.github_url()
        )
    );
    assert_eq!(pin["sha256"].as_str().unwrap().len(), 64);
    assert!(pin["docs_available"].is_boolean(), "{pin}");
    assert!(pin["parse_errors"].is_array(), "{pin}");
    // The pinned archive's docs, with its provenance.
    let details = registry
        .get("/v1/modules/acme-oss/sub/aws/2.0.0", Some(&reader))
        .await;
    assert_eq!(details.status, 200, "{}", details.text());
    let details = details.json();
    assert_eq!(details["origin"], "pin");
    assert_eq!(details["origin_url"], pin["source_url"]);
    assert_eq!(details["root"]["name"], "sub");
    assert_eq!(details["docs_available"], pin["docs_available"]);

    // A second pin of the same version, and a pin of a version the upstream lacks.
    let reply = registry
        .post("/v1/pins/acme-oss/sub/aws/2.0.0", &master)
        .await;
    assert_eq!(reply.status, 409, "{}", reply.text());
    let reply = registry
        .post("/v1/pins/acme-oss/sub/aws/7.0.0", &master)
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());

    // The policy applies to pins unless the master overrides it.
    let reply = registry
        .post("/v1/pins/acme-oss/relative/aws/0.1.0", &master)
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(
        reply.error().contains("override_policy"),
        "{}",
        reply.error()
    );
    let reply = registry
        .send(
            "POST",
            "/v1/pins/acme-oss/relative/aws/0.1.0",
            Some(&master),
            Some(br#"{"override_policy": true}"#.to_vec()),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["policy_override"], true);

    let reply = registry.get("/v1/pins", Some(&master)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let pins = reply.json()["pins"].as_array().unwrap().clone();
    let names: Vec<String> = pins
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["name"].as_str().unwrap(),
                p["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["relative/0.1.0", "sub/2.0.0"]);
    assert_eq!(pins[1]["pinned_by"], "master");
    assert!(pins[1]["pinned_at"].as_str().unwrap().ends_with('Z'));
    assert!(pins[1]["upstream_location"]
        .as_str()
        .unwrap()
        .starts_with("https://github.com/acme-oss/modules/archive/v2.0.0.tar.gz//modules/sub"));

    // The upstream and GitHub go away; the pinned version still installs, with its files.
    upstream.shutdown().await;
    let main_tf = module_block(&registry, "sub", "acme-oss/sub/aws", "~> 2.0");
    let run = init(&registry, &main_tf, &reader);
    assert_succeeded(&run);
    assert_eq!(files_of(&run, "sub"), ["main.tf"]);
    assert!(run
        .file(".terraform/modules/sub/main.tf")
        .contains("mods sub"));

    // An unpinned module now fails clearly, and so does pinning.
    let reply = registry
        .get("/v1/modules/acme-oss/vpc/aws/1.2.0/download", Some(&reader))
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text());
    assert_eq!(reply.json()["code"], "upstream_unreachable");
    let reply = registry
        .post("/v1/pins/acme-oss/vpc/aws/1.2.0", &master)
        .await;
    assert_eq!(reply.status, 502, "{}", reply.text());

    // Unpinning removes the version; uploads cannot be unpinned.
    let reply = registry
        .send(
            "DELETE",
            "/v1/pins/acme-oss/sub/aws/2.0.0",
            Some(&master),
            None,
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let reply = registry
        .send(
            "DELETE",
            "/v1/pins/acme-oss/sub/aws/2.0.0",
            Some(&master),
            None,
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.text());
    let reply = registry.get("/v1/pins", Some(&master)).await;
    assert_eq!(reply.json()["pins"].as_array().unwrap().len(), 1);
    let reply = registry
        .upload(
            "acme/vpc/aws",
            "1.0.0",
            tfreg_testkit::archive::versioned_module("1.0.0"),
            &master,
        )
        .await;
    assert_eq!(reply.status, 201);
    let reply = registry
        .send("DELETE", "/v1/pins/acme/vpc/aws/1.0.0", Some(&master), None)
        .await;
    assert_eq!(reply.status, 409, "{}", reply.text());
}
