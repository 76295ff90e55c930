//! The JSON bodies of the token and pin APIs (`POST /v1/tokens`, `POST /v1/pins/...`): the
//! input's first byte picks the body, the rest is the body as sent.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tfreg_edge::{validate_scope, MAX_SCOPES};
use tfreg_origin::names::validate_token_name;
use tfreg_origin::{parse_create_token, parse_pin_request};

/// The clock the token check runs at (2026-11-30T00:00:00Z).
const NOW: u64 = 1_796_083_200;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    if pick % 2 == 0 {
        match parse_create_token(body, NOW) {
            // Whatever is accepted is what the store may hold: a valid name, valid scopes
            // sorted and without repeats, within the limit, and an expiry after now.
            Ok(token) => {
                assert!(validate_token_name(&token.name).is_ok(), "{:?}", token.name);
                assert!(token.scopes.len() <= MAX_SCOPES);
                assert!(token.scopes.windows(2).all(|w| w[0] < w[1]));
                assert!(token.scopes.iter().all(|s| validate_scope(s).is_ok()));
                assert!(token.expires_at.is_none_or(|at| at > NOW));
            }
            // Refused with a 400 that names what is wrong.
            Err(e) => {
                assert_eq!(e.status, 400, "{e:?}");
                assert!(!e.message.is_empty());
            }
        }
    } else {
        match parse_pin_request(body) {
            Ok(_) => {
                let blank = body.iter().all(u8::is_ascii_whitespace);
                assert!(blank || serde_json::from_slice::<serde_json::Value>(body).is_ok());
            }
            Err(e) => assert_eq!(e.status, 400, "{e:?}"),
        }
    }
});
