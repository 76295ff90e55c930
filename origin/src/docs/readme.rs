//! Renders a README to HTML that is safe to put in the registry's page as is.
//!
//! Markdown is rendered with `pulldown-cmark` (CommonMark plus tables and strikethrough), then
//! the HTML, raw HTML from the README included, goes through `ammonia`'s allow-list: no
//! scripts, no event attributes, no `style`, no iframes or forms, and only `http`, `https` and
//! `mailto` URLs. Links and images whose target is relative (or a fragment) would point into
//! an archive the page does not serve, so they are turned into their text (an image into its
//! alt text) before rendering; in raw HTML, ammonia drops relative URLs. Every link gets
//! `rel="noopener noreferrer"`.

use std::collections::HashSet;

use ammonia::UrlRelative;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// The URL schemes a link or image may use.
const ALLOWED_SCHEMES: [&str; 3] = ["http", "https", "mailto"];

/// `markdown` as sanitised HTML.
pub(super) fn render_readme(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let events = without_relative_targets(Parser::new_ext(markdown, options));
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    sanitizer().clean(&html).to_string()
}

fn sanitizer() -> ammonia::Builder<'static> {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(HashSet::from(ALLOWED_SCHEMES))
        .url_relative(UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"));
    builder
}

/// The events with every link and image whose target is not an absolute URL of an allowed
/// scheme unwrapped: its start and end dropped, its text kept.
fn without_relative_targets<'a>(events: impl Iterator<Item = Event<'a>>) -> Vec<Event<'a>> {
    // Whether each open link (or image) was kept, innermost last.
    let mut links: Vec<bool> = Vec::new();
    let mut images: Vec<bool> = Vec::new();
    let mut kept = Vec::new();
    for event in events {
        let keep = match &event {
            Event::Start(Tag::Link { dest_url, .. }) => {
                let keep = is_absolute_allowed(dest_url);
                links.push(keep);
                keep
            }
            Event::End(TagEnd::Link) => links.pop().unwrap_or(false),
            Event::Start(Tag::Image { dest_url, .. }) => {
                let keep = is_absolute_allowed(dest_url);
                images.push(keep);
                keep
            }
            Event::End(TagEnd::Image) => images.pop().unwrap_or(false),
            _ => true,
        };
        if keep {
            kept.push(event);
        }
    }
    kept
}

fn is_absolute_allowed(url: &str) -> bool {
    let Some((scheme, _)) = url.trim_start().split_once(':') else {
        return false;
    };
    ALLOWED_SCHEMES
        .iter()
        .any(|allowed| scheme.eq_ignore_ascii_case(allowed))
}
