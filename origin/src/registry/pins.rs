//! Pins: copying an upstream version into the local versions for good, listing pins and
//! removing them.

use super::clock::now_rfc3339;
use super::modules::version_exists;
use super::{OriginResponse, Registry, RequestBody};
use crate::error::ApiError;
use crate::names::ArchiveKey;
use crate::proxy::policy::PolicyVerdict;
use crate::proxy::Proxy;
use crate::storage::{PinRecord, PinStore, PublishOutcome, VersionMeta};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PinRequest {
    /// Pin a module the proxy policy does not allow.
    #[serde(default)]
    override_policy: bool,
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
        let request: PinRequest = match body {
            RequestBody::Bytes(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => {
                serde_json::from_slice(&bytes).map_err(|e| {
                    ApiError::bad_request(format!(
                        "expected no body or a JSON body like {{\"override_policy\":true}}: {e}"
                    ))
                })?
            }
            _ => PinRequest::default(),
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
        };
        let outcome = self
            .archives
            .publish(&key, fetched.staged.to_path_buf(), &meta)
            .await?;
        drop(fetched.staged);
        if outcome == PublishOutcome::AlreadyExists {
            return Err(version_exists(&key));
        }
        let mut record = pin_record(
            &key,
            &meta,
            &pinned_by,
            request.override_policy && verdict != PolicyVerdict::Allowed,
        );
        record.upstream_location = fetched.location;
        pins.put_pin(&record).await?;
        tracing::info!(module = %key.module, version = %key.version, source = %record.source_url, pinned_by = %record.pinned_by, "version pinned");
        let mut response = OriginResponse::json(201, describe_pin(&record));
        response.headers.push((
            "location".into(),
            format!("/v1/modules/{}/{}", key.module, key.version),
        ));
        Ok(response)
    }

    pub(super) async fn list_pins(&self) -> Result<OriginResponse, ApiError> {
        let (_, pins) = self.pin_store()?;
        let pins: Vec<_> = pins.list_pins().await?.iter().map(describe_pin).collect();
        Ok(OriginResponse::json(200, json!({ "pins": pins })))
    }

    /// Removes a pinned version; uploaded versions stay immutable.
    pub(super) async fn unpin(&self, key: ArchiveKey) -> Result<OriginResponse, ApiError> {
        let (_, pins) = self.pin_store()?;
        match self.archives.version_meta(&key).await? {
            Some(meta) if meta.source == "pin" => {
                self.archives.unpublish(&key).await?;
                pins.delete_pin(&key).await?;
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

fn pin_record(
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
