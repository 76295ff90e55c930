//! The one shape every error answer of the registry has, wherever it is made: the edge's
//! denials and generated responses, the origin's errors and `tfreg serve`'s own.
//!
//! ```json
//! {"error":"version_exists","message":"…","errors":["…"],"code":"version_exists"}
//! ```
//!
//! `error` and `message` are the Python registry's shape (its clients read them), `errors` is
//! the Terraform registry protocol's (an array of strings), and `code` is what this registry's
//! own clients read. The code is stable (README, "Error codes"); the message is for people.

/// The JSON body of an error answer with a stable `code` and a `message` for the user.
pub fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({
        "error": code,
        "message": message,
        "errors": [message],
        "code": code,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_satisfies_both_shapes_and_keeps_the_code() {
        let body: serde_json::Value =
            serde_json::from_str(&error_body("version_exists", "it \"exists\"\n")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "error": "version_exists",
                "message": "it \"exists\"\n",
                "errors": ["it \"exists\"\n"],
                "code": "version_exists",
            })
        );
    }
}
