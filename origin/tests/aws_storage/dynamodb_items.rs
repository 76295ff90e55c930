//! What is particular to DynamoDB: the token items the edge reads, expiry before TTL removal, scan pages.

use super::*;

#[tokio::test]
async fn token_items_follow_the_schema_the_edge_reads() {
    let store = dynamo_store().await;
    let record = TokenRecord {
        scopes: Vec::new(),
        token_hash: hash_token("tfr_value").as_hex().to_owned(),
        token_name: "ci".into(),
        permission: Tier::Uploader,
        created_at: "2026-01-01T00:00:00Z".into(),
        expires_at: Some(1_900_000_000),
        description: Some("CI publisher".into()),
    };
    store.create(&record).await.unwrap();
    let get = |pk: String| {
        let store = store.clone();
        async move {
            store
                .client()
                .get_item()
                .table_name(store.table())
                .key("pk", AttributeValue::S(pk))
                .send()
                .await
                .unwrap()
                .item
                .expect("the item exists")
        }
    };
    let token = get(format!("token#{}", record.token_hash)).await;
    assert_eq!(token["token_name"], AttributeValue::S("ci".into()));
    assert_eq!(token["permission"], AttributeValue::S("uploader".into()));
    assert_eq!(
        token["created_at"],
        AttributeValue::S("2026-01-01T00:00:00Z".into())
    );
    assert_eq!(token["expires_at"], AttributeValue::N("1900000000".into()));
    assert_eq!(
        token["description"],
        AttributeValue::S("CI publisher".into())
    );
    let name = get("name#ci".into()).await;
    assert_eq!(
        name["token_hash"],
        AttributeValue::S(record.token_hash.clone())
    );
    assert_eq!(name["expires_at"], AttributeValue::N("1900000000".into()));

    let scanned = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.count(), 2, "one token is two items, nothing else");
    assert!(store.delete_by_name("ci").await.unwrap());
    let scanned = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap();
    assert_eq!(scanned.count(), 0, "revoking removes both items");
}

#[tokio::test]
async fn expired_tokens_not_yet_removed_by_ttl_come_back_with_their_expiry() {
    let store = dynamo_store().await;
    let record = TokenRecord {
        scopes: Vec::new(),
        token_hash: hash_token("tfr_old").as_hex().to_owned(),
        token_name: "old".into(),
        permission: Tier::Downloader,
        created_at: "2020-01-01T00:00:00Z".into(),
        expires_at: Some(1_600_000_000),
        description: None,
    };
    store.create(&record).await.unwrap();
    assert_eq!(
        store.find_by_hash(&hash_token("tfr_old")).await.unwrap(),
        Some(record.clone()),
        "the caller, not the store, decides that it has expired"
    );
    assert_eq!(store.list().await.unwrap(), [record]);
}

#[tokio::test]
async fn token_listing_follows_scan_pages() {
    let store = dynamo_store().await;
    // Descriptions fat enough that the scan needs more than one 1 MB page.
    let description = "d".repeat(30_000);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let description = description.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create(&TokenRecord {
                    scopes: Vec::new(),
                    token_hash: hash_token(&format!("tfr_{i}")).as_hex().to_owned(),
                    token_name: format!("token-{i:02}"),
                    permission: Tier::Downloader,
                    created_at: "2026-01-01T00:00:00Z".into(),
                    expires_at: None,
                    description: Some(description),
                })
                .await
                .unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.token_name)
        .collect();
    let expected: Vec<String> = (0..40).map(|i| format!("token-{i:02}")).collect();
    assert_eq!(names, expected);
}
