//! The edge decision per request: a cache hit (the warm path at the edge) and a miss (hash,
//! ask for a lookup, complete with the store's answer). Run: `cargo bench -p tfreg-edge`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tfreg_edge::{Decision, EdgeCheck, EdgeConfig, Tier, TokenInfo, ViewerRequest};

const VERSIONS: &str = "/v1/modules/acme/vpc/aws/versions";

fn info() -> TokenInfo {
    TokenInfo {
        scopes: Vec::new(),
        token_name: "ci".into(),
        tier: Tier::Downloader,
        expires_at: None,
    }
}

fn decide(c: &mut Criterion) {
    let header = format!("Bearer tfr_{}", "ab".repeat(32));
    let request = ViewerRequest {
        method: "GET",
        path: VERSIONS,
        query: "",
        authorization: Some(&header),
    };

    let mut warm = EdgeCheck::new(EdgeConfig::default());
    if let Decision::Lookup { token_hash } = warm.check(&request, 0) {
        warm.complete(&request, &token_hash, Some(info()), 0);
    }
    c.bench_function("edge decision, cache hit", |b| {
        b.iter(|| black_box(warm.check(black_box(&request), 1)))
    });

    let mut cold = EdgeCheck::new(EdgeConfig::default());
    c.bench_function("edge decision, cache miss (check + complete)", |b| {
        b.iter(|| {
            cold.clear_cache();
            match cold.check(black_box(&request), 1) {
                Decision::Lookup { token_hash } => {
                    black_box(cold.complete(&request, &token_hash, Some(info()), 1))
                }
                other => other,
            }
        })
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);
