//! Finding modules: the list, namespace, module and search endpoints in the shapes of the
//! Terraform Registry API (`meta` with `limit`, `current_offset`, `next_offset`, `next_url`;
//! `modules` with `id`, `owner`, `namespace`, `name`, `version`, `provider`, `description`,
//! `source`, `published_at`, `downloads`, `verified`), answered from the catalogue in memory;
//! and keeping the catalogue current as modules change.

use super::{OriginResponse, Registry};
use crate::catalogue::{entry_from_store, CatalogueEntry, Filter, Page};
use crate::error::ApiError;
use crate::names::ModuleAddress;
use crate::storage::ArchiveStore;
use serde_json::json;

/// The Registry API's page size when none is asked for.
pub const DEFAULT_PAGE_LIMIT: usize = 15;
/// The most a page may hold, as on the public registry.
pub const MAX_PAGE_LIMIT: usize = 100;

/// The largest `offset` taken (far past any catalogue; it keeps the arithmetic small).
pub const MAX_OFFSET: usize = 1_000_000_000;

/// What a list or search request asked for.
struct PageRequest {
    offset: usize,
    limit: usize,
    filter: Filter,
    query: Option<String>,
    /// `verified=true`: nothing here is verified (that is the public registry's partner
    /// programme), so the answer is empty.
    verified_only: bool,
}

impl PageRequest {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut request = PageRequest {
            offset: 0,
            limit: DEFAULT_PAGE_LIMIT,
            filter: Filter::default(),
            query: None,
            verified_only: false,
        };
        for (key, value) in query_pairs(query) {
            let number = |what: &str| {
                value.parse::<usize>().map_err(|_| {
                    ApiError::bad_request(format!("{what} must be a whole number, not {value:?}"))
                })
            };
            match key.as_str() {
                "offset" => {
                    let offset = number("offset")?;
                    if offset > MAX_OFFSET {
                        return Err(ApiError::bad_request(format!(
                            "offset must be at most {MAX_OFFSET}, not {offset}"
                        )));
                    }
                    request.offset = offset;
                }
                "limit" => {
                    let limit = number("limit")?;
                    if !(1..=MAX_PAGE_LIMIT).contains(&limit) {
                        return Err(ApiError::bad_request(format!(
                            "limit must be between 1 and {MAX_PAGE_LIMIT}, not {limit}"
                        )));
                    }
                    request.limit = limit;
                }
                "provider" if !value.is_empty() => request.filter.system = Some(value.clone()),
                "namespace" if !value.is_empty() => request.filter.namespace = Some(value.clone()),
                "q" => request.query = Some(value.clone()),
                "verified" => {
                    request.verified_only = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        other => {
                            return Err(ApiError::bad_request(format!(
                                "verified must be true or false, not {other:?}"
                            )))
                        }
                    }
                }
                // Other parameters (the public registry's `sort`, say) are ignored, as
                // unknown parameters are there.
                _ => {}
            }
        }
        Ok(request)
    }
}

/// The decoded `key=value` pairs of a query string (`+` is a space, as in forms).
pub(super) fn query_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://query.invalid/?{query}"))
        .map(|url| {
            url.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

impl Registry {
    /// `GET /v1/modules`, `GET /v1/modules/{namespace}`, `GET /v1/modules/{namespace}/{name}`.
    pub(super) async fn list_modules(
        &self,
        path: &str,
        query: &str,
        namespace: Option<&str>,
        name: Option<&str>,
        scopes: Vec<String>,
    ) -> Result<OriginResponse, ApiError> {
        let mut request = PageRequest::parse(query)?;
        request.filter.scopes = scopes;
        if let Some(namespace) = namespace {
            crate::names::validate_segment("namespace", namespace)?;
            request.filter.namespace = Some(namespace.to_owned());
        }
        if let Some(name) = name {
            crate::names::validate_segment("name", name)?;
            request.filter.name = Some(name.to_owned());
        }
        let index = self.catalogue().snapshot().await?;
        let page = if request.verified_only {
            Page::empty()
        } else {
            index.list(&request.filter, request.offset, request.limit)
        };
        if let (Some(namespace), Some(name)) = (namespace, name) {
            if page.total == 0 {
                return Err(ApiError::not_found(format!(
                    "module {namespace}/{name} not found"
                )));
            }
        }
        Ok(page_response(path, &request, &page))
    }

    /// `GET /v1/modules/search?q=…`.
    pub(super) async fn search_modules(
        &self,
        path: &str,
        query: &str,
        scopes: Vec<String>,
    ) -> Result<OriginResponse, ApiError> {
        let mut request = PageRequest::parse(query)?;
        request.filter.scopes = scopes;
        // A `q` without letters or digits finds nothing; no `q` at all is a mistake.
        let words = match request.query.as_deref() {
            Some(words) if !words.is_empty() => words,
            _ => {
                return Err(ApiError::bad_request(
                    "search needs words to look for: ?q=vpc (letters and digits; other characters separate words)",
                ))
            }
        };
        let index = self.catalogue().snapshot().await?;
        let page = if request.verified_only {
            Page::empty()
        } else {
            index.search(words, &request.filter, request.offset, request.limit)
        };
        Ok(page_response(path, &request, &page))
    }

    /// Records `module` in the catalogue as `store` now holds it (or takes it out when it has
    /// no versions there). `proxied` entries never replace an entry of this registry's own.
    /// A failure is logged, not returned: the change itself is done, and `tfreg reindex --all`
    /// rebuilds the catalogue.
    pub(super) async fn record_in_catalogue(
        &self,
        store: &dyn ArchiveStore,
        module: &ModuleAddress,
        proxied: bool,
    ) {
        let recorded = match entry_from_store(store, module).await {
            Ok(Some(entry)) if proxied => {
                self.catalogue()
                    .upsert(entry, |existing| !existing.is_proxied())
                    .await
            }
            Ok(Some(entry)) => self.catalogue().upsert(entry, |_| false).await,
            Ok(None) if proxied => Ok(()),
            Ok(None) => {
                self.catalogue()
                    .remove(&module.namespace, &module.name, &module.system)
                    .await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = recorded {
            tracing::error!(%module, %error, "could not update the module catalogue; `tfreg reindex --all` rebuilds it");
        }
    }
}

fn page_response(path: &str, request: &PageRequest, page: &Page<'_>) -> OriginResponse {
    let offset = request.offset;
    let limit = request.limit;
    let mut meta = json!({ "limit": limit, "current_offset": offset });
    if offset > 0 {
        meta["prev_offset"] = json!(offset.saturating_sub(limit));
    }
    if offset + page.entries.len() < page.total {
        let next = offset + limit;
        meta["next_offset"] = json!(next);
        let mut pairs = url_pairs(&[("limit", limit.to_string()), ("offset", next.to_string())]);
        for (key, value) in [
            ("q", request.query.clone()),
            ("provider", request.filter.system.clone()),
        ] {
            if let Some(value) = value {
                pairs.push('&');
                pairs.push_str(&url_pairs(&[(key, value)]));
            }
        }
        if path.ends_with("/search") {
            if let Some(namespace) = &request.filter.namespace {
                pairs.push('&');
                pairs.push_str(&url_pairs(&[("namespace", namespace.clone())]));
            }
        }
        meta["next_url"] = json!(format!("{path}?{pairs}"));
    }
    let modules: Vec<_> = page.entries.iter().map(|e| module_summary(e)).collect();
    OriginResponse::json(200, json!({ "meta": meta, "modules": modules }))
}

fn url_pairs(pairs: &[(&str, String)]) -> String {
    let mut url = reqwest::Url::parse("http://query.invalid/").expect("a valid base");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

/// A module in a list: the Registry API's fields, then this registry's own.
pub(super) fn module_summary(entry: &CatalogueEntry) -> serde_json::Value {
    json!({
        "id": format!("{}/{}", entry.address(), entry.version),
        "owner": entry.owner,
        "namespace": entry.namespace,
        "name": entry.name,
        "version": entry.version,
        "provider": entry.system,
        "description": entry.description,
        "source": entry.repository_url.clone().unwrap_or_else(|| entry.address()),
        "published_at": entry.published_at,
        // Not counted here: downloads are signed URLs served by CloudFront, not the origin.
        "downloads": 0,
        // The public registry's partner programme; nothing here is verified.
        "verified": false,
        "origin": entry.origin,
        "origin_url": entry.origin_url,
        "repository_url": entry.repository_url,
        "versions_count": entry.versions,
    })
}
