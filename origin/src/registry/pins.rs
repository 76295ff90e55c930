//! Pins: copying an upstream version into the local versions for good, listing pins and
//! removing them.

use super::clock::now_rfc3339;
use super::modules::version_exists;
use super::{OriginResponse, Registry, RequestBody};
use crate::docs::stored::{extract_docs_from_file, store_docs};
use crate::error::ApiError;
use crate::names::ArchiveKey;
use crate::proxy::policy::PolicyVerdict;
use crate::proxy::Proxy;
use crate::storage::{PinRecord, PinStore, PublishOutcome, VersionMeta};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// The body of `POST /v1/pins/...`, optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    /// Pin a module the proxy policy does not allow.
    #[serde(default)]
    pub override_policy: bool,
}

/// Parses the body of a pin request: empty or whitespace is the default, else a JSON object
/// like `{"override_policy":true}`; anything else is a 400 naming what is wrong.
pub fn parse_pin_request(body: &[u8]) -> Result<PinRequest, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PinRequest::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected no body or a JSON body like {{\"override_policy\":true}}: {e}"
        ))
    })
}

impl Registry {
    pub(super) fn pin_store(&self) -> Result<(&Arc<Proxy>, &Arc<dyn PinStore>), ApiError> {
        match (&self.proxy, &self.pins) {
            (Some(proxy), Some(pins)) => Ok((proxy, pins)),
            _ => Err(ApiError::not_found(
                "pinning is not available: this registry has no upstream registry configured",
            )),
        }
    }

    /// Copies an upstream version into the local versions, durably, with its provenance.
    pub(super) async fn pin(
        &self,
        key: ArchiveKey,
        body: RequestBody,
        pinned_by: String,
    ) -> Result<OriginResponse, ApiError> {
        let (proxy, pins) = self.pin_store()?;
        let request = match body {
            RequestBody::Bytes(bytes) => parse_pin_request(&bytes)?,
            RequestBody::Empty | RequestBody::File(_) => PinRequest::default(),
        };
        if let Some(existing) = self.archives.version_meta(&key).await? {
            if existing.source == "pin" && pins.get_pin(&key).await?.is_none() {
                // The archive was published but its record was not written (a crash between
                // the two): write it now, so the pin is listed and can be removed.
                pins.put_pin(&pin_record(&key, &existing, &pinned_by, false))
                    .await?;
            }
            return Err(ApiError::new(
                409,
                "version_exists",
                format!(
                    "module {} version {} is already in this registry ({}); nothing to pin",
                    key.module,
                    key.version,
                    if existing.source == "pin" {
                        "pinned"
                    } else {
                        "uploaded"
                    }
                ),
            ));
        }
        let verdict = proxy.config().policy.verdict(&key.module);
        if verdict != PolicyVerdict::Allowed && !request.override_policy {
            return Err(ApiError::new(
                403,
                "not_allowed_by_proxy_policy",
                format!(
                    "{}; to pin it anyway, send {{\"override_policy\":true}}",
                    verdict.explain(&key.module)
                ),
            ));
        }
        let fetched = proxy
            .fetch(&key, &self.config.scratch_dir, &self.config.archive_limits)
            .await?;
        let meta = VersionMeta {
            sha256: fetched.archive.sha256.clone(),
            size: fetched.archive.size,
            uploaded_at: now_rfc3339(),
            uploader: pinned_by.clone(),
            source: "pin".into(),
            origin_url: Some(fetched.source.describe()),
            repository_url: None,
        };
        let docs = extract_docs_from_file(fetched.staged.to_path_buf()).await;
        let outcome = self
            .archives
            .publish(&key, fetched.staged.to_path_buf(), &meta)
            .await;
        self.listings.forget(&key.module);
        let outcome = outcome?;
        drop(fetched.staged);
        if outcome == PublishOutcome::AlreadyExists {
            return Err(version_exists(&key));
        }
        store_docs(self.archives.as_ref(), &key, &meta.sha256, &docs).await;
        self.record_in_catalogue(self.archives.as_ref(), &key.module, false)
            .await;
        let mut record = pin_record(
            &key,
            &meta,
            &pinned_by,
            request.override_policy && verdict != PolicyVerdict::Allowed,
        );
        // Kept for provenance, without what another registry's signed URL carries.
        record.upstream_location = crate::proxy::source::shown_location(&fetched.location);
        if let Err(error) = pins.put_pin(&record).await {
            // A pinned archive without its record would be a half pin (listed as a version,
            // missing from the pins): take the archive out again, so that the caller's retry
            // starts clean.
            let undone = self.archives.unpublish(&key).await;
            self.listings.forget(&key.module);
            if let Err(undo) = undone {
                tracing::error!(module = %key.module, version = %key.version, error = %undo, "could not take out a pin whose record failed; pinning it again writes the record");
            }
            self.record_in_catalogue(self.archives.as_ref(), &key.module, false)
                .await;
            return Err(error.into());
        }
        tracing::info!(module = %key.module, version = %key.version, source = %record.source_url, pinned_by = %record.pinned_by, "version pinned");
        let mut body = describe_pin(&record);
        body["docs_available"] = json!(docs.docs_available);
        body["parse_errors"] = json!(docs.parse_errors);
        let mut response = OriginResponse::json(201, body);
        response.headers.push((
            "location".into(),
            format!("/v1/modules/{}/{}", key.module, key.version),
        ));
        Ok(response)
    }

    /// Every pin, or for a scoped token the pins within its scopes.
    pub(super) async fn list_pins(&self, scopes: &[String]) -> Result<OriginResponse, ApiError> {
        let (_, pins) = self.pin_store()?;
        let pins: Vec<_> = pins
            .list_pins()
            .await?
            .iter()
            .filter(|pin| {
                tfreg_edge::scope::within(scopes, &[&pin.namespace, &pin.name, &pin.system])
            })
            .map(describe_pin)
            .collect();
        Ok(OriginResponse::json(200, json!({ "pins": pins })))
    }

    /// Removes a pinned version; uploaded versions stay immutable.
    pub(super) async fn unpin(&self, key: ArchiveKey) -> Result<OriginResponse, ApiError> {
        let (_, pins) = self.pin_store()?;
        match self.archives.version_meta(&key).await? {
            Some(meta) if meta.source == "pin" => {
                // The record first, then the archive; should the archive stay, the record is
                // put back, so that a failed unpin leaves the pin whole for a retry.
                let record = pins.get_pin(&key).await?;
                pins.delete_pin(&key).await?;
                let unpublished = self.archives.unpublish(&key).await;
                self.listings.forget(&key.module);
                if let Err(error) = unpublished {
                    if let Some(record) = record {
                        if let Err(undo) = pins.put_pin(&record).await {
                            tracing::error!(module = %key.module, version = %key.version, error = %undo, "could not put back the record of a pin whose archive stayed; pinning it again writes the record");
                        }
                    }
                    return Err(error.into());
                }
                self.record_in_catalogue(self.archives.as_ref(), &key.module, false)
                    .await;
                tracing::info!(module = %key.module, version = %key.version, "version unpinned");
                Ok(OriginResponse::no_content())
            }
            Some(_) => Err(ApiError::new(
                409,
                "not_a_pin",
                format!(
                    "module {} version {} was uploaded, not pinned; uploaded versions are immutable",
                    key.module, key.version
                ),
            )),
            None => {
                // A record without its archive (removed by hand): drop the record too.
                let had_record = pins.delete_pin(&key).await?;
                if had_record {
                    Ok(OriginResponse::no_content())
                } else {
                    Err(ApiError::not_found(format!(
                        "module {} version {} is not pinned",
                        key.module, key.version
                    )))
                }
            }
        }
    }
}

pub(super) fn pin_record(
    key: &ArchiveKey,
    meta: &VersionMeta,
    pinned_by: &str,
    policy_override: bool,
) -> PinRecord {
    PinRecord {
        namespace: key.module.namespace.clone(),
        name: key.module.name.clone(),
        system: key.module.system.clone(),
        version: key.version.to_string(),
        sha256: meta.sha256.clone(),
        size: meta.size,
        source_url: meta.origin_url.clone().unwrap_or_default(),
        upstream_location: String::new(),
        pinned_at: meta.uploaded_at.clone(),
        pinned_by: pinned_by.to_owned(),
        policy_override,
    }
}

fn describe_pin(pin: &PinRecord) -> serde_json::Value {
    json!({
        "namespace": pin.namespace,
        "name": pin.name,
        "system": pin.system,
        "version": pin.version,
        "sha256": pin.sha256,
        "size": pin.size,
        "source_url": pin.source_url,
        "upstream_location": pin.upstream_location,
        "pinned_at": pin.pinned_at,
        "pinned_by": pin.pinned_by,
        "policy_override": pin.policy_override,
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{code, json, TestRegistry};

    #[tokio::test]
    async fn without_an_upstream_pinning_is_not_available() {
        let registry = TestRegistry::new();
        for (method, path) in [
            ("GET", "/v1/pins"),
            ("POST", "/v1/pins/hashicorp/consul/aws/0.1.0"),
            ("DELETE", "/v1/pins/hashicorp/consul/aws/0.1.0"),
        ] {
            let response = registry.as_master(method, path, "").await;
            assert_eq!(response.status, 404, "{method} {path}");
            assert!(json(&response)["errors"][0]
                .as_str()
                .unwrap()
                .starts_with("pinning is not available"));
        }
    }

    #[tokio::test]
    async fn pins_list_empty_and_uploads_cannot_be_unpinned() {
        let registry = TestRegistry::with_unreachable_upstream();
        let response = registry.as_master("GET", "/v1/pins", "").await;
        assert_eq!(json(&response), serde_json::json!({"pins": []}));
        registry.publish("acme/vpc/aws", "1.0.0").await;
        let response = registry
            .as_master("DELETE", "/v1/pins/acme/vpc/aws/1.0.0", "")
            .await;
        assert_eq!(response.status, 409);
        assert_eq!(code(&response), "not_a_pin");
        let response = registry
            .as_master("DELETE", "/v1/pins/acme/vpc/aws/2.0.0", "")
            .await;
        assert_eq!(response.status, 404);
        assert_eq!(
            json(&response)["errors"][0],
            "module acme/vpc/aws version 2.0.0 is not pinned"
        );
    }

    #[tokio::test]
    async fn a_pin_is_refused_before_any_fetch_when_it_cannot_be_made() {
        let registry = TestRegistry::with_unreachable_upstream();
        registry.publish("acme/vpc/aws", "1.0.0").await;
        let response = registry
            .as_master("POST", "/v1/pins/acme/vpc/aws/1.0.0", "")
            .await;
        assert_eq!(response.status, 409);
        assert_eq!(code(&response), "version_exists");
        let response = registry
            .as_master("POST", "/v1/pins/denied/vpc/aws/1.0.0", "")
            .await;
        assert_eq!(response.status, 403);
        assert_eq!(code(&response), "not_allowed_by_proxy_policy");
        let response = registry
            .as_master("POST", "/v1/pins/acme/vpc/aws/1.1.0", "{\"override\":1}")
            .await;
        assert_eq!(response.status, 400);
    }

    #[tokio::test]
    async fn a_pin_the_upstream_cannot_answer_is_502_and_leaves_nothing() {
        let registry = TestRegistry::with_unreachable_upstream();
        let response = registry
            .as_master("POST", "/v1/pins/hashicorp/consul/aws/0.1.0", "")
            .await;
        assert_eq!(
            response.status,
            502,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(code(&response), "upstream_unreachable");
        let response = registry.as_master("GET", "/v1/pins", "").await;
        assert_eq!(json(&response), serde_json::json!({"pins": []}));
    }
}
