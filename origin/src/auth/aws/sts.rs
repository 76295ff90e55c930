//! Forwarding a checked request to STS and reading its answer.

use super::request::ForwardedRequest;
use super::StsEndpoint;
use crate::auth::ExchangeError;
use crate::proxy::CaBundle;
use aws_smithy_xml::decode::{try_data, Document, ScopedDecoder};
use std::time::Duration;

/// The longest STS answer read (a `GetCallerIdentity` answer is under 1 KiB).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Who STS says signed the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CallerIdentity {
    pub arn: String,
    pub account: String,
    pub user_id: String,
}

pub(super) struct StsClient {
    http: reqwest::Client,
    endpoint: StsEndpoint,
}

impl StsClient {
    pub(super) fn new(endpoint: StsEndpoint, ca_bundle: Option<&CaBundle>) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .tls_built_in_native_certs(true)
            .tls_built_in_webpki_certs(true);
        for certificate in ca_bundle.iter().flat_map(|b| b.certificates.iter()) {
            builder = builder.add_root_certificate(certificate.clone());
        }
        let http = builder
            // A signed request goes to the configured endpoint and nowhere else: no
            // redirects, and no HTTP proxy from the environment.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(concat!(
                "tfreg/",
                env!("CARGO_PKG_VERSION"),
                " (aws exchange)"
            ))
            .build()
            .map_err(|e| format!("cannot build the STS HTTP client: {e}"))?;
        Ok(StsClient { http, endpoint })
    }

    /// POSTs `request` to the configured endpoint and reads the caller's identity from the
    /// answer.
    pub(super) async fn get_caller_identity(
        &self,
        request: ForwardedRequest,
    ) -> Result<CallerIdentity, ExchangeError> {
        let mut post = self.http.post(self.endpoint.url().clone());
        for (name, value) in &request.headers {
            post = post.header(name, value);
        }
        let host = &self.endpoint.host_header;
        let mut answer = post.body(request.body).send().await.map_err(|e| {
            // reqwest's message names the URL, which is configuration, not a secret.
            ExchangeError::Upstream(format!("STS ({host}) could not be reached: {e}"))
        })?;
        let status = answer.status();
        let mut text = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(|e| {
            ExchangeError::Upstream(format!("STS ({host}) answer was cut short: {e}"))
        })? {
            if text.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(ExchangeError::Upstream(format!(
                    "STS ({host}) answered with more than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            text.extend_from_slice(&chunk);
        }
        let text = String::from_utf8_lossy(&text);
        if status.is_success() {
            parse_caller_identity(&text).ok_or_else(|| {
                ExchangeError::Upstream(format!(
                    "STS ({host}) answered {status} without a GetCallerIdentityResult Arn"
                ))
            })
        } else {
            Err(sts_error(
                status.as_u16(),
                parse_error_code(&text).as_deref(),
            ))
        }
    }
}

/// The text of the element at `path` below the root, the root's name being `path[0]`.
fn find_text(xml: &str, path: &[&str]) -> Option<String> {
    let mut document = Document::new(xml);
    let mut root = document.root_element().ok()?;
    if !root.start_el().matches(path[0]) {
        return None;
    }
    find_below(&mut root, &path[1..])
}

fn find_below(scope: &mut ScopedDecoder, path: &[&str]) -> Option<String> {
    while let Some(mut tag) = scope.next_tag() {
        if tag.start_el().matches(path[0]) {
            return if path.len() == 1 {
                try_data(&mut tag).ok().map(|text| text.trim().to_owned())
            } else {
                find_below(&mut tag, &path[1..])
            };
        }
    }
    None
}

/// `GetCallerIdentityResponse/GetCallerIdentityResult/{Arn,Account,UserId}`.
pub(super) fn parse_caller_identity(xml: &str) -> Option<CallerIdentity> {
    let field = |name| {
        find_text(
            xml,
            &["GetCallerIdentityResponse", "GetCallerIdentityResult", name],
        )
    };
    let arn = field("Arn")?;
    // What STS says is shown to users and matched against rules: an ARN, nothing else.
    if !arn.starts_with("arn:") || arn.len() > 2048 || !arn.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    Some(CallerIdentity {
        arn,
        account: field("Account").unwrap_or_default(),
        user_id: field("UserId").unwrap_or_default(),
    })
}

/// `ErrorResponse/Error/Code`, if it is a plain code word.
pub(super) fn parse_error_code(xml: &str) -> Option<String> {
    let code = find_text(xml, &["ErrorResponse", "Error", "Code"])?;
    let plain = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_');
    plain.then_some(code)
}

/// What an STS error means for the caller. STS's own messages are not passed on: some quote
/// the request's Authorization header back.
pub(super) fn sts_error(status: u16, code: Option<&str>) -> ExchangeError {
    let refused = |text: &str| ExchangeError::Refused(text.to_owned());
    match (status, code) {
        (500..=599, _) => ExchangeError::Upstream(format!("STS answered {status}; try again")),
        (_, Some("Throttling" | "RequestLimitExceeded")) => ExchangeError::Upstream(
            "STS is throttling this registry's requests; try again shortly".into(),
        ),
        (400..=499, Some("SignatureDoesNotMatch")) => refused(
            "STS refused the signature (SignatureDoesNotMatch): the request was changed after \
             signing, or signed with a wrong secret key",
        ),
        (400..=499, Some("IncompleteSignature")) => {
            refused("STS refused the signature as incomplete (IncompleteSignature)")
        }
        (400..=499, Some("InvalidClientTokenId")) => refused(
            "STS does not know the access key or session token that signed the request \
             (InvalidClientTokenId)",
        ),
        (400..=499, Some("ExpiredToken")) => refused(
            "the credentials that signed the request have expired (ExpiredToken): refresh \
             them and sign again",
        ),
        (400..=499, Some("RequestExpired")) => refused(
            "STS finds the signed request expired (RequestExpired): sign a fresh one, and \
             check the signer's clock",
        ),
        (400..=499, Some("AccessDenied")) => {
            refused("STS denied the signer GetCallerIdentity (AccessDenied)")
        }
        (400..=499, Some(code)) => {
            ExchangeError::Refused(format!("STS refused the signed request ({code})"))
        }
        (400..=499, None) => {
            ExchangeError::Refused(format!("STS refused the signed request (HTTP {status})"))
        }
        _ => ExchangeError::Upstream(format!("STS answered {status}, not a result")),
    }
}
