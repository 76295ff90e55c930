//! go-getter's re-encoding of a module source's query.

/// The query as go-getter sends it: Go's `url.Values.Encode()`, keys sorted and each name and
/// value `QueryEscape`d, which leaves `A-Z a-z 0-9 - _ . ~` as they are (a CloudFront
/// signature's `~` stays `~`; the `url` crate's form encoding would write `%7E`).
pub(super) fn go_query_encode(mut pairs: Vec<(String, String)>) -> String {
    fn escape(text: &str, out: &mut String) {
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(byte as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{byte:02X}")),
            }
        }
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut query = String::new();
    for (name, value) in pairs {
        if !query.is_empty() {
            query.push('&');
        }
        escape(&name, &mut query);
        query.push('=');
        escape(&value, &mut query);
    }
    query
}
