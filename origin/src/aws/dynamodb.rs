//! [`TokenStore`] over one DynamoDB table: a token item keyed by the token's hash (what the
//! edge reads) and a name item keyed by its name (what keeps names unique), written and
//! deleted together in transactions. The item schema is in the [module docs](super).
//!
//! The same table holds the pin records ([`PinStore`]), one item each:
//!
//! ```text
//! pk = "pin#<namespace>/<name>/<system>/<version>"
//!     namespace, name, system, version, sha256 (S), size (N), source_url, upstream_location,
//!     pinned_at (S, RFC 3339), pinned_by (S), policy_override (BOOL)
//! ```
//!
//! Pin items carry no `expires_at`, so TTL never removes them. Whatever scans the table
//! filters on its own key prefix (`token#` for [`TokenStore::list`], `pin#` for
//! [`PinStore::list_pins`]); the edge only ever reads `token#` items by key.

use super::{backend_error, backoff, SdkConfig, CONFLICT_RETRIES};
use crate::names::ArchiveKey;
use crate::storage::{
    sort_pins, CreateOutcome, PinRecord, PinStore, StorageError, TokenRecord, TokenStore,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use tfreg_edge::{Tier, TokenHash};

/// The table's partition key.
pub const PARTITION_KEY: &str = "pk";
/// `pk` of a token item: this prefix, then the SHA-256 hex of the token.
pub const TOKEN_KEY_PREFIX: &str = "token#";
/// `pk` of a name item: this prefix, then the token's name.
pub const NAME_KEY_PREFIX: &str = "name#";
/// `pk` of a pin item: this prefix, then `{namespace}/{name}/{system}/{version}`.
pub const PIN_KEY_PREFIX: &str = "pin#";
/// The table's TTL attribute (seconds since the epoch), on both items of an expiring token.
pub const EXPIRES_AT: &str = "expires_at";
/// A token's scopes (SS; the edge reads it too).
pub const SCOPES: &str = "scopes";

const TOKEN_NAME: &str = "token_name";
const PERMISSION: &str = "permission";
const CREATED_AT: &str = "created_at";
const DESCRIPTION: &str = "description";
const TOKEN_HASH: &str = "token_hash";

const PIN_NAMESPACE: &str = "namespace";
const PIN_NAME: &str = "name";
const PIN_SYSTEM: &str = "system";
const PIN_VERSION: &str = "version";
const PIN_SHA256: &str = "sha256";
const PIN_SIZE: &str = "size";
const PIN_SOURCE_URL: &str = "source_url";
const PIN_UPSTREAM_LOCATION: &str = "upstream_location";
const PIN_PINNED_AT: &str = "pinned_at";
const PIN_PINNED_BY: &str = "pinned_by";
const PIN_POLICY_OVERRIDE: &str = "policy_override";

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoTokenStore {
    client: Client,
    table: String,
}

/// Why a transaction was cancelled, per item, as DynamoDB reports it.
enum TransactionOutcome {
    Committed,
    /// `ConditionalCheckFailed` on the items at these positions.
    ConditionFailed(Vec<usize>),
    /// Another transaction touched the same items (`TransactionConflict`): try again.
    Conflict,
}

fn key_of(pk: String) -> Item {
    HashMap::from([(PARTITION_KEY.to_owned(), AttributeValue::S(pk))])
}

fn string_attribute<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn corrupt(pk: &str, what: &str) -> StorageError {
    StorageError::Corrupt(format!("token item {pk:?}: {what}"))
}

fn pin_pk(key: &ArchiveKey) -> String {
    format!("{PIN_KEY_PREFIX}{}/{}", key.module, key.version)
}

fn build_error(error: impl std::error::Error) -> StorageError {
    StorageError::Backend(format!("building a DynamoDB request: {error}"))
}

impl DynamoTokenStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoTokenStore {
            client,
            table: table.into(),
        }
    }

    pub fn from_sdk_config(config: &SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(config), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn token_item(record: &TokenRecord) -> Item {
        let mut item = key_of(format!("{TOKEN_KEY_PREFIX}{}", record.token_hash));
        item.insert(
            TOKEN_NAME.into(),
            AttributeValue::S(record.token_name.clone()),
        );
        item.insert(
            PERMISSION.into(),
            AttributeValue::S(record.permission.as_str().into()),
        );
        item.insert(
            CREATED_AT.into(),
            AttributeValue::S(record.created_at.clone()),
        );
        if let Some(expires_at) = record.expires_at {
            item.insert(EXPIRES_AT.into(), AttributeValue::N(expires_at.to_string()));
        }
        if let Some(description) = &record.description {
            item.insert(DESCRIPTION.into(), AttributeValue::S(description.clone()));
        }
        // A string set, which DynamoDB does not allow empty: absent for a token without scopes.
        if !record.scopes.is_empty() {
            item.insert(SCOPES.into(), AttributeValue::Ss(record.scopes.clone()));
        }
        item
    }

    fn name_item(record: &TokenRecord) -> Item {
        let mut item = key_of(format!("{NAME_KEY_PREFIX}{}", record.token_name));
        item.insert(
            TOKEN_HASH.into(),
            AttributeValue::S(record.token_hash.clone()),
        );
        if let Some(expires_at) = record.expires_at {
            item.insert(EXPIRES_AT.into(), AttributeValue::N(expires_at.to_string()));
        }
        item
    }

    /// A token item back as a record. An expired token whose item DynamoDB's TTL has not
    /// removed yet (that can take days) comes back as it is, with its `expires_at`: the
    /// callers (the edge, the registry) are the ones that refuse it.
    fn record_from_item(item: &Item) -> Result<TokenRecord, StorageError> {
        let pk = string_attribute(item, PARTITION_KEY).unwrap_or_default();
        let token_hash = pk
            .strip_prefix(TOKEN_KEY_PREFIX)
            .ok_or_else(|| corrupt(pk, "not a token item"))?;
        let required = |name: &str| {
            string_attribute(item, name)
                .map(str::to_owned)
                .ok_or_else(|| corrupt(pk, &format!("no {name} string")))
        };
        let permission: Tier = required(PERMISSION)?
            .parse()
            .map_err(|e: tfreg_edge::UnknownTier| corrupt(pk, &e.to_string()))?;
        let expires_at = match item.get(EXPIRES_AT) {
            None => None,
            Some(value) => Some(
                value
                    .as_n()
                    .ok()
                    .and_then(|n| n.parse::<u64>().ok())
                    .ok_or_else(|| corrupt(pk, "expires_at is not a number of seconds"))?,
            ),
        };
        Ok(TokenRecord {
            token_hash: token_hash.to_owned(),
            token_name: required(TOKEN_NAME)?,
            permission,
            created_at: required(CREATED_AT)?,
            expires_at,
            description: string_attribute(item, DESCRIPTION).map(str::to_owned),
            scopes: match item.get(SCOPES) {
                None => Vec::new(),
                Some(value) => {
                    let mut scopes = value
                        .as_ss()
                        .map_err(|_| corrupt(pk, "scopes is not a string set"))?
                        .clone();
                    scopes.sort();
                    scopes
                }
            },
        })
    }

    fn pin_item(pin: &PinRecord) -> Result<Item, StorageError> {
        let key = pin
            .key()
            .map_err(|e| StorageError::Backend(format!("refusing to store a pin: {e}")))?;
        let mut item = key_of(pin_pk(&key));
        for (name, value) in [
            (PIN_NAMESPACE, &pin.namespace),
            (PIN_NAME, &pin.name),
            (PIN_SYSTEM, &pin.system),
            (PIN_VERSION, &pin.version),
            (PIN_SHA256, &pin.sha256),
            (PIN_SOURCE_URL, &pin.source_url),
            (PIN_UPSTREAM_LOCATION, &pin.upstream_location),
            (PIN_PINNED_AT, &pin.pinned_at),
            (PIN_PINNED_BY, &pin.pinned_by),
        ] {
            item.insert(name.into(), AttributeValue::S(value.clone()));
        }
        item.insert(PIN_SIZE.into(), AttributeValue::N(pin.size.to_string()));
        item.insert(
            PIN_POLICY_OVERRIDE.into(),
            AttributeValue::Bool(pin.policy_override),
        );
        Ok(item)
    }

    fn pin_from_item(item: &Item) -> Result<PinRecord, StorageError> {
        let pk = string_attribute(item, PARTITION_KEY).unwrap_or_default();
        let corrupt = |what: &str| StorageError::Corrupt(format!("pin item {pk:?}: {what}"));
        if !pk.starts_with(PIN_KEY_PREFIX) {
            return Err(corrupt("not a pin item"));
        }
        let required = |name: &str| {
            string_attribute(item, name)
                .map(str::to_owned)
                .ok_or_else(|| corrupt(&format!("no {name} string")))
        };
        Ok(PinRecord {
            namespace: required(PIN_NAMESPACE)?,
            name: required(PIN_NAME)?,
            system: required(PIN_SYSTEM)?,
            version: required(PIN_VERSION)?,
            sha256: required(PIN_SHA256)?,
            size: item
                .get(PIN_SIZE)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| corrupt("size is not a number of bytes"))?,
            source_url: required(PIN_SOURCE_URL)?,
            upstream_location: required(PIN_UPSTREAM_LOCATION)?,
            pinned_at: required(PIN_PINNED_AT)?,
            pinned_by: required(PIN_PINNED_BY)?,
            policy_override: *item
                .get(PIN_POLICY_OVERRIDE)
                .and_then(|v| v.as_bool().ok())
                .ok_or_else(|| corrupt("policy_override is not a boolean"))?,
        })
    }

    async fn get_item(&self, pk: String) -> Result<Option<Item>, StorageError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(pk.clone())))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend_error(&format!("reading {pk:?} from {}", self.table), e))?;
        Ok(output.item)
    }

    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<TransactionOutcome, StorageError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(TransactionOutcome::Committed),
            Err(SdkError::ServiceError(service)) => match service.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    let codes: Vec<Option<&str>> = cancelled
                        .cancellation_reasons()
                        .iter()
                        .map(|reason| reason.code())
                        .collect();
                    let failed: Vec<usize> = codes
                        .iter()
                        .enumerate()
                        .filter(|(_, code)| **code == Some("ConditionalCheckFailed"))
                        .map(|(position, _)| position)
                        .collect();
                    if !failed.is_empty() {
                        Ok(TransactionOutcome::ConditionFailed(failed))
                    } else if codes.contains(&Some("TransactionConflict")) {
                        Ok(TransactionOutcome::Conflict)
                    } else {
                        Err(StorageError::Backend(format!(
                            "transaction on {} cancelled: {codes:?}",
                            self.table
                        )))
                    }
                }
                TransactWriteItemsError::TransactionInProgressException(_) => {
                    Ok(TransactionOutcome::Conflict)
                }
                _ => Err(backend_error(
                    &format!("writing to {}", self.table),
                    SdkError::ServiceError(service),
                )),
            },
            Err(error) => Err(backend_error(&format!("writing to {}", self.table), error)),
        }
    }

    /// Every item whose `pk` starts with `prefix`, decoded: a consistent `Scan` of the whole
    /// table, page after page, filtered on the key prefix (the table holds tokens, names and
    /// pins side by side).
    async fn scan_prefix<T>(
        &self,
        prefix: &str,
        decode: impl Fn(&Item) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("begins_with(pk, :prefix)")
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.into()))
            .consistent_read(true)
            .into_paginator()
            .send();
        let mut decoded = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| backend_error(&format!("scanning {}", self.table), e))?;
            for item in page.items() {
                decoded.push(decode(item)?);
            }
        }
        Ok(decoded)
    }

    /// Whether the record's name item holds the record's token (read consistently).
    async fn names_token(&self, record: &TokenRecord) -> Result<bool, StorageError> {
        let item = self
            .get_item(format!("{NAME_KEY_PREFIX}{}", record.token_name))
            .await?;
        Ok(item
            .as_ref()
            .and_then(|item| string_attribute(item, TOKEN_HASH))
            == Some(record.token_hash.as_str()))
    }

    fn put_if_absent(&self, item: Item) -> Result<TransactWriteItem, StorageError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}

#[async_trait]
impl TokenStore for DynamoTokenStore {
    /// A transaction whose answer was lost may have committed, and the SDK's retry of it then
    /// meets its own items (DynamoDB itself recognises a retry by the SDK's
    /// `ClientRequestToken`; compatible servers may not): so a failed or refused create reads
    /// the name back, and a name that already holds this very token is this create's.
    async fn create(&self, record: &TokenRecord) -> Result<CreateOutcome, StorageError> {
        for attempt in 0..=CONFLICT_RETRIES {
            let items = vec![
                self.put_if_absent(Self::token_item(record))?,
                self.put_if_absent(Self::name_item(record))?,
            ];
            let outcome = match self.transact(items).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    return match self.names_token(record).await {
                        Ok(true) => Ok(CreateOutcome::Created),
                        _ => Err(error),
                    }
                }
            };
            match outcome {
                TransactionOutcome::Committed => return Ok(CreateOutcome::Created),
                TransactionOutcome::ConditionFailed(_) if self.names_token(record).await? => {
                    return Ok(CreateOutcome::Created)
                }
                // Position 1 is the name item.
                TransactionOutcome::ConditionFailed(failed) if failed.contains(&1) => {
                    return Ok(CreateOutcome::NameTaken)
                }
                TransactionOutcome::ConditionFailed(_) => {
                    // Two tokens with one SHA-256: only a reused value can do that.
                    return Err(StorageError::Backend(format!(
                        "a token with the same hash as {:?} already exists",
                        record.token_name
                    )));
                }
                TransactionOutcome::Conflict => backoff(attempt).await,
            }
        }
        Err(StorageError::Backend(format!(
            "creating token {:?}: transactions kept conflicting",
            record.token_name
        )))
    }

    async fn find_by_hash(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StorageError> {
        self.get_item(format!("{TOKEN_KEY_PREFIX}{}", hash.as_hex()))
            .await?
            .map(|item| Self::record_from_item(&item))
            .transpose()
    }

    async fn find_by_name(&self, name: &str) -> Result<Option<TokenRecord>, StorageError> {
        let Some(name_item) = self.get_item(format!("{NAME_KEY_PREFIX}{name}")).await? else {
            return Ok(None);
        };
        let Some(hash) = string_attribute(&name_item, TOKEN_HASH) else {
            return Err(corrupt(
                &format!("{NAME_KEY_PREFIX}{name}"),
                "no token_hash",
            ));
        };
        let Some(item) = self.get_item(format!("{TOKEN_KEY_PREFIX}{hash}")).await? else {
            return Ok(None);
        };
        let record = Self::record_from_item(&item)?;
        Ok((record.token_name == name).then_some(record))
    }

    async fn list(&self) -> Result<Vec<TokenRecord>, StorageError> {
        let mut records = self
            .scan_prefix(TOKEN_KEY_PREFIX, Self::record_from_item)
            .await?;
        records.sort_by(|a, b| a.token_name.cmp(&b.token_name));
        Ok(records)
    }

    /// A transaction of this call that may have committed (its answer lost, or the SDK's
    /// retry of it refused because the name was gone) makes a name found gone afterwards a
    /// revocation by this call.
    async fn delete_by_name(&self, name: &str) -> Result<bool, StorageError> {
        let name_pk = format!("{NAME_KEY_PREFIX}{name}");
        let mut sent = false;
        for attempt in 0..=CONFLICT_RETRIES {
            let Some(name_item) = self.get_item(name_pk.clone()).await? else {
                return Ok(sent);
            };
            let hash = string_attribute(&name_item, TOKEN_HASH)
                .ok_or_else(|| corrupt(&name_pk, "no token_hash"))?
                .to_owned();
            // The name item is deleted only if it still names the token just read, so a
            // concurrent revoke-and-recreate cannot make this delete the new token.
            let delete_name = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key_of(name_pk.clone())))
                .condition_expression("token_hash = :hash")
                .expression_attribute_values(":hash", AttributeValue::S(hash.clone()))
                .build()
                .map_err(build_error)?;
            let delete_token = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key_of(format!("{TOKEN_KEY_PREFIX}{hash}"))))
                .build()
                .map_err(build_error)?;
            let items = vec![
                TransactWriteItem::builder().delete(delete_name).build(),
                TransactWriteItem::builder().delete(delete_token).build(),
            ];
            let outcome = match self.transact(items).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    return match self.get_item(name_pk.clone()).await {
                        Ok(None) => Ok(true),
                        _ => Err(error),
                    }
                }
            };
            match outcome {
                TransactionOutcome::Committed => return Ok(true),
                // Changed since it was read (or deleted by an attempt whose answer was lost):
                // read it again.
                TransactionOutcome::ConditionFailed(_) => sent = true,
                TransactionOutcome::Conflict => backoff(attempt).await,
            }
        }
        Err(StorageError::Backend(format!(
            "revoking token {name:?}: transactions kept conflicting"
        )))
    }
}

#[async_trait]
impl PinStore for DynamoTokenStore {
    async fn put_pin(&self, pin: &PinRecord) -> Result<(), StorageError> {
        let item = Self::pin_item(pin)?;
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await;
        let Err(error) = written else {
            return Ok(());
        };
        // Written with its answer lost? Read it back.
        if let Ok(key) = pin.key() {
            if self.get_pin(&key).await.ok().flatten().as_ref() == Some(pin) {
                return Ok(());
            }
        }
        Err(backend_error(
            &format!(
                "writing the pin of {}/{}/{} {} to {}",
                pin.namespace, pin.name, pin.system, pin.version, self.table
            ),
            error,
        ))
    }

    async fn get_pin(&self, key: &ArchiveKey) -> Result<Option<PinRecord>, StorageError> {
        self.get_item(pin_pk(key))
            .await?
            .map(|item| Self::pin_from_item(&item))
            .transpose()
    }

    async fn list_pins(&self) -> Result<Vec<PinRecord>, StorageError> {
        let mut pins = self
            .scan_prefix(PIN_KEY_PREFIX, Self::pin_from_item)
            .await?;
        sort_pins(&mut pins);
        Ok(pins)
    }

    async fn delete_pin(&self, key: &ArchiveKey) -> Result<bool, StorageError> {
        let pk = pin_pk(key);
        // `ALL_OLD` says whether this delete removed an item: of concurrent deletes of one
        // pin, only one gets attributes back.
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_of(pk.clone())))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match deleted {
            Ok(output) => Ok(output.attributes.is_some_and(|old| !old.is_empty())),
            // Deleted with its answer lost? Read it back: gone is gone.
            Err(error) => match self.get_item(pk.clone()).await {
                Ok(None) => Ok(true),
                _ => Err(backend_error(
                    &format!("deleting {pk:?} from {}", self.table),
                    error,
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(expires_at: Option<u64>, description: Option<&str>) -> TokenRecord {
        TokenRecord {
            scopes: Vec::new(),
            token_hash: "ab".repeat(32),
            token_name: "ci".into(),
            permission: Tier::Uploader,
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at,
            description: description.map(Into::into),
        }
    }

    #[test]
    fn items_follow_the_schema_the_edge_reads() {
        let record = record(Some(1_900_000_000), Some("CI"));
        let token = DynamoTokenStore::token_item(&record);
        assert_eq!(
            token["pk"],
            AttributeValue::S(format!("token#{}", "ab".repeat(32)))
        );
        assert_eq!(token["token_name"], AttributeValue::S("ci".into()));
        assert_eq!(token["permission"], AttributeValue::S("uploader".into()));
        assert_eq!(
            token["created_at"],
            AttributeValue::S("2026-01-01T00:00:00Z".into())
        );
        assert_eq!(token["expires_at"], AttributeValue::N("1900000000".into()));
        assert_eq!(token["description"], AttributeValue::S("CI".into()));
        assert_eq!(token.len(), 6);

        let name = DynamoTokenStore::name_item(&record);
        assert_eq!(name["pk"], AttributeValue::S("name#ci".into()));
        assert_eq!(name["token_hash"], AttributeValue::S("ab".repeat(32)));
        assert_eq!(name["expires_at"], AttributeValue::N("1900000000".into()));
        assert_eq!(name.len(), 3);
    }

    #[test]
    fn records_round_trip_through_items() {
        for record in [record(None, None), record(Some(5), Some("x"))] {
            let item = DynamoTokenStore::token_item(&record);
            assert_eq!(DynamoTokenStore::record_from_item(&item).unwrap(), record);
        }
    }

    fn pin() -> PinRecord {
        PinRecord {
            namespace: "terraform-aws-modules".into(),
            name: "vpc".into(),
            system: "aws".into(),
            version: "5.1.0".into(),
            sha256: "cd".repeat(32),
            size: 1234,
            source_url: "https://codeload.github.com/terraform-aws-modules/vpc/tar.gz/v5.1.0"
                .into(),
            upstream_location:
                "git::https://github.com/terraform-aws-modules/terraform-aws-vpc?ref=v5.1.0".into(),
            pinned_at: "2026-01-01T00:00:00Z".into(),
            pinned_by: "master".into(),
            policy_override: true,
        }
    }

    #[test]
    fn pin_items_are_keyed_apart_from_tokens_and_round_trip() {
        let item = DynamoTokenStore::pin_item(&pin()).unwrap();
        assert_eq!(
            item["pk"],
            AttributeValue::S("pin#terraform-aws-modules/vpc/aws/5.1.0".into())
        );
        assert_eq!(item["size"], AttributeValue::N("1234".into()));
        assert_eq!(item["policy_override"], AttributeValue::Bool(true));
        assert!(!item.contains_key(EXPIRES_AT), "TTL never removes a pin");
        assert_eq!(item.len(), 12);
        assert_eq!(DynamoTokenStore::pin_from_item(&item).unwrap(), pin());
        assert!(
            DynamoTokenStore::record_from_item(&item).is_err(),
            "a pin item is not a token"
        );
    }

    #[test]
    fn malformed_items_are_reported_as_corrupt() {
        let mut item = DynamoTokenStore::token_item(&record(None, None));
        item.insert("permission".into(), AttributeValue::S("admin".into()));
        let error = DynamoTokenStore::record_from_item(&item).unwrap_err();
        assert!(error.to_string().contains("unknown permission"), "{error}");
    }
}
