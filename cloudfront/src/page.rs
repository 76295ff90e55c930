//! The registry's web page: four static files (`terraform/web/`), public at `/ui/`. The page
//! holds no data; it reads the API with the token its reader pastes in. The deployment module
//! uploads the same files to S3 and answers them with a CloudFront response headers policy
//! carrying the header values below, so both places send the same bytes and headers.

use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Response};
use tfreg_origin::{ApiError, OriginResponse};

/// One file of the page.
pub struct PageFile {
    /// Its name under `/ui/` (and under `terraform/web/`).
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

/// The page's files. `/ui/` is `index.html`.
pub const FILES: &[PageFile] = &[
    PageFile {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../../terraform/web/index.html"),
    },
    PageFile {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../terraform/web/app.js"),
    },
    PageFile {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../terraform/web/app.css"),
    },
    // Without an icon of its own, the browser asks for /favicon.ico, which is no file of the
    // page (a 401 in every reader's console).
    PageFile {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../../terraform/web/favicon.svg"),
    },
];

/// Scripts, styles, images and API calls from this origin only, so neither a README nor
/// anything else the API returns can bring in code; no plugins, no `<base>`, no framing, no
/// form posts (the page's forms are handled by its script).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; object-src 'none'; \
     base-uri 'none'; frame-ancestors 'none'; form-action 'none'";
pub const X_CONTENT_TYPE_OPTIONS: &str = "nosniff";
/// The page's URLs name modules; no other site needs to learn them.
pub const REFERRER_POLICY: &str = "no-referrer";
/// For browsers that predate `frame-ancestors`.
pub const X_FRAME_OPTIONS: &str = "DENY";
/// Kept, but checked again on every use: a new version of the page shows at once.
pub const CACHE_CONTROL: &str = "no-cache";

/// The headers every answer under `/ui/` carries, besides its `Content-Type`.
pub const SECURITY_HEADERS: &[(HeaderName, &str)] = &[
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, X_CONTENT_TYPE_OPTIONS),
    (header::REFERRER_POLICY, REFERRER_POLICY),
    (header::X_FRAME_OPTIONS, X_FRAME_OPTIONS),
    (header::CACHE_CONTROL, CACHE_CONTROL),
];

/// The file `/ui/{file}` names: `""` is the page itself.
pub fn find(file: &str) -> Option<&'static PageFile> {
    let name = if file.is_empty() { "index.html" } else { file };
    FILES.iter().find(|f| f.name == name)
}

/// The answer to `GET /ui/{file}`: the file, or the registry's JSON 404.
pub fn respond(file: &str) -> Response<Bytes> {
    let mut response = match find(file) {
        Some(page) => {
            let mut response = Response::new(Bytes::from_static(page.body.as_bytes()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(page.content_type),
            );
            response
        }
        None => OriginResponse::error(&ApiError::not_found(format!(
            "no such file of the web page: /ui/{file}"
        )))
        .into_http()
        .map(Bytes::from),
    };
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name.clone(), HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn header<'a>(response: &'a Response<Bytes>, name: &str) -> &'a str {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .to_str()
            .unwrap()
    }

    #[test]
    fn the_page_itself_is_index_html() {
        for file in ["", "index.html"] {
            let response = respond(file);
            assert_eq!(response.status(), StatusCode::OK, "/ui/{file}");
            assert_eq!(
                header(&response, "content-type"),
                "text/html; charset=utf-8"
            );
            assert!(String::from_utf8_lossy(response.body()).contains("<script src=\"/ui/app.js\""));
        }
    }

    #[test]
    fn each_file_has_its_content_type_with_a_charset() {
        for (file, content_type) in [
            ("app.js", "text/javascript; charset=utf-8"),
            ("app.css", "text/css; charset=utf-8"),
            ("favicon.svg", "image/svg+xml"),
        ] {
            let response = respond(file);
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(&response, "content-type"), content_type);
            assert!(!response.body().is_empty());
        }
    }

    #[test]
    fn every_file_carries_the_security_headers() {
        for file in ["", "index.html", "app.js", "app.css", "missing.js"] {
            let response = respond(file);
            assert_eq!(
                header(&response, "content-security-policy"),
                "default-src 'self'; object-src 'none'; base-uri 'none'; \
                 frame-ancestors 'none'; form-action 'none'"
            );
            assert_eq!(header(&response, "x-content-type-options"), "nosniff");
            assert_eq!(header(&response, "referrer-policy"), "no-referrer");
            assert_eq!(header(&response, "x-frame-options"), "DENY");
            assert_eq!(header(&response, "cache-control"), "no-cache");
        }
    }

    #[test]
    fn any_other_file_is_a_json_404() {
        for file in [
            "missing.js",
            "../Cargo.toml",
            "index.html/",
            "APP.JS",
            "app.js.map",
        ] {
            let response = respond(file);
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "/ui/{file}");
            assert_eq!(header(&response, "content-type"), "application/json");
            let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            assert!(body["errors"][0].as_str().unwrap().contains("/ui/"));
        }
    }

    /// The deployment module publishes whatever is in terraform/web/; `tfreg serve` must
    /// serve the same files.
    #[test]
    fn every_file_of_terraform_web_is_served() {
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../terraform/web");
        let mut on_disk: Vec<String> = std::fs::read_dir(web)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut served: Vec<String> = FILES.iter().map(|f| f.name.to_owned()).collect();
        served.sort();
        assert_eq!(on_disk, served);
    }

    /// The page runs under `default-src 'self'`: an inline script or style would be refused
    /// by the browser, so none may be written.
    #[test]
    fn the_page_has_no_inline_script_or_style() {
        let html = find("").unwrap().body;
        assert!(!html.contains("style="), "inline style attribute");
        assert!(!html.contains("<style"), "inline style element");
        for script in html.split("<script").skip(1) {
            let tag_end = script.find('>').unwrap();
            assert!(script[..tag_end].contains("src="), "inline script");
            assert!(
                script[tag_end + 1..].starts_with("</script>"),
                "inline script"
            );
        }
        let lower = html.to_lowercase();
        for (at, _) in lower.match_indices(" on") {
            let name: String = lower[at + 3..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            let after = &lower[at + 3 + name.len()..];
            assert!(!after.starts_with('='), "an event attribute: on{name}");
        }
    }
}
