//! The token store's and the pin store's promises (see the module above).

use super::key;
use crate::storage::{CreateOutcome, PinRecord, PinStore, TokenRecord, TokenStore};
use std::sync::Arc;
use tfreg_edge::{hash_token, Tier};

fn record(name: &str, value: &str, tier: Tier) -> TokenRecord {
    TokenRecord {
        scopes: Vec::new(),
        token_hash: hash_token(value).as_hex().to_owned(),
        token_name: name.into(),
        permission: tier,
        created_at: "2026-01-01T00:00:00Z".into(),
        expires_at: None,
        description: None,
    }
}

/// Create (unique names), find by hash and by name, list by name, delete.
pub async fn token_store_basics(store: Arc<dyn TokenStore>) {
    let ci = record("ci", "value-ci", Tier::Uploader);
    let mut reader = record("reader", "value-reader", Tier::Downloader);
    reader.expires_at = Some(4_000_000_000);
    reader.description = Some("read only".into());
    reader.scopes = vec!["acme".into(), "acme/network/aws".into()];
    assert_eq!(store.create(&ci).await.unwrap(), CreateOutcome::Created);
    assert_eq!(store.create(&reader).await.unwrap(), CreateOutcome::Created);
    assert_eq!(
        store
            .create(&record("ci", "another-value", Tier::Master))
            .await
            .unwrap(),
        CreateOutcome::NameTaken,
        "token names are unique"
    );
    assert_eq!(
        store
            .find_by_hash(&hash_token("value-reader"))
            .await
            .unwrap(),
        Some(reader.clone())
    );
    assert_eq!(store.find_by_hash(&hash_token("nope")).await.unwrap(), None);
    assert_eq!(store.find_by_name("ci").await.unwrap(), Some(ci.clone()));
    assert_eq!(store.find_by_name("nope").await.unwrap(), None);
    let names: Vec<String> = store
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.token_name)
        .collect();
    assert_eq!(names, ["ci", "reader"], "listed by name");

    assert!(store.delete_by_name("ci").await.unwrap());
    assert!(
        !store.delete_by_name("ci").await.unwrap(),
        "deleting twice reports absence"
    );
    assert_eq!(
        store.find_by_hash(&hash_token("value-ci")).await.unwrap(),
        None,
        "a deleted token is gone by hash too"
    );
    assert_eq!(
        store
            .create(&record("ci", "value-ci-2", Tier::Uploader))
            .await
            .unwrap(),
        CreateOutcome::Created,
        "a deleted name can be used again"
    );
}

/// Of concurrent creators of one name, exactly one wins.
pub async fn token_store_race(store: Arc<dyn TokenStore>, writers: usize) {
    let mut tasks = Vec::new();
    for i in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .create(&record(
                    "contended",
                    &format!("value-{i}"),
                    Tier::Downloader,
                ))
                .await
                .expect("create")
        }));
    }
    let mut created = 0;
    for task in tasks {
        if task.await.unwrap() == CreateOutcome::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one creator of a name wins");
}

fn pin(module: &str, version: &str, sha256: &str) -> PinRecord {
    let mut parts = module.split('/');
    PinRecord {
        namespace: parts.next().unwrap().into(),
        name: parts.next().unwrap().into(),
        system: parts.next().unwrap().into(),
        version: version.into(),
        sha256: sha256.into(),
        size: 42,
        source_url: format!("https://codeload.github.com/{module}/tar.gz/v{version}"),
        upstream_location: format!("git::https://github.com/{module}?ref=v{version}"),
        pinned_at: "2026-01-01T00:00:00Z".into(),
        pinned_by: "master".into(),
        policy_override: false,
    }
}

fn pin_names(pins: &[PinRecord]) -> Vec<String> {
    pins.iter()
        .map(|p| format!("{}/{}/{} {}", p.namespace, p.name, p.system, p.version))
        .collect()
}

/// Put (replacing), get, list in address-then-semver order, delete.
pub async fn pin_store_basics(store: Arc<dyn PinStore>) {
    assert!(store.list_pins().await.unwrap().is_empty(), "no pins yet");
    let vpc = "hashicorp/vpc/aws";
    assert_eq!(store.get_pin(&key(vpc, "1.9.0")).await.unwrap(), None);

    let mut overridden = pin(vpc, "1.10.0", "aa");
    overridden.policy_override = true;
    for record in [
        overridden.clone(),
        pin(vpc, "1.9.0", "bb"),
        pin("hashicorp/alb/aws", "3.0.0", "cc"),
        pin(vpc, "1.10.0-rc.1", "dd"),
        pin("hashicorp/vpc/azurerm", "1.0.0", "ee"),
        pin("acme-corp/vpc/aws", "1.0.0", "ff"),
        pin("acme/vpc/aws", "2.0.0", "11"),
    ] {
        store.put_pin(&record).await.unwrap();
    }
    assert_eq!(
        pin_names(&store.list_pins().await.unwrap()),
        [
            "acme/vpc/aws 2.0.0",
            "acme-corp/vpc/aws 1.0.0",
            "hashicorp/alb/aws 3.0.0",
            "hashicorp/vpc/aws 1.9.0",
            "hashicorp/vpc/aws 1.10.0-rc.1",
            "hashicorp/vpc/aws 1.10.0",
            "hashicorp/vpc/azurerm 1.0.0",
        ],
        "pins are listed by module address (namespace, name, system), then by semver"
    );
    assert_eq!(
        store.get_pin(&key(vpc, "1.10.0")).await.unwrap(),
        Some(overridden),
        "a pin reads back whole"
    );
    assert_eq!(
        store.get_pin(&key(vpc, "1.10.1")).await.unwrap(),
        None,
        "another version of a pinned module is not pinned"
    );

    let mut replacement = pin(vpc, "1.9.0", "22");
    replacement.pinned_by = "another-master".into();
    store.put_pin(&replacement).await.unwrap();
    assert_eq!(
        store.get_pin(&key(vpc, "1.9.0")).await.unwrap(),
        Some(replacement),
        "putting a pin again replaces the record"
    );
    assert_eq!(
        store.list_pins().await.unwrap().len(),
        7,
        "a replaced pin is listed once"
    );

    assert!(store.delete_pin(&key(vpc, "1.9.0")).await.unwrap());
    assert!(
        !store.delete_pin(&key(vpc, "1.9.0")).await.unwrap(),
        "deleting twice reports absence"
    );
    assert_eq!(store.get_pin(&key(vpc, "1.9.0")).await.unwrap(), None);
    assert_eq!(
        pin_names(&store.list_pins().await.unwrap()).len(),
        6,
        "a deleted pin is no longer listed"
    );
    assert!(
        !store
            .delete_pin(&key("nobody/vpc/aws", "1.0.0"))
            .await
            .unwrap(),
        "deleting a pin that never was reports absence"
    );
}

/// Pins and tokens kept in one store stay apart: neither listing shows the other's records,
/// and deleting one kind leaves the other alone.
pub async fn pin_and_token_store_share_a_store<S>(store: Arc<S>)
where
    S: PinStore + TokenStore + 'static,
{
    let ci = record("ci", "value-ci", Tier::Uploader);
    store.create(&ci).await.unwrap();
    let pinned = pin("hashicorp/consul/aws", "0.1.0", "aa");
    store.put_pin(&pinned).await.unwrap();
    store
        .put_pin(&pin("hashicorp/consul/aws", "0.2.0", "bb"))
        .await
        .unwrap();

    assert_eq!(
        store.list().await.unwrap(),
        std::slice::from_ref(&ci),
        "the token listing shows tokens only"
    );
    assert_eq!(
        pin_names(&store.list_pins().await.unwrap()),
        ["hashicorp/consul/aws 0.1.0", "hashicorp/consul/aws 0.2.0"],
        "the pin listing shows pins only"
    );

    assert!(store.delete_pin(&pinned.key().unwrap()).await.unwrap());
    assert_eq!(store.find_by_name("ci").await.unwrap(), Some(ci));
    assert!(store.delete_by_name("ci").await.unwrap());
    assert!(store.list().await.unwrap().is_empty());
    assert_eq!(
        pin_names(&store.list_pins().await.unwrap()),
        ["hashicorp/consul/aws 0.2.0"],
        "revoking a token leaves the pins alone"
    );
}
