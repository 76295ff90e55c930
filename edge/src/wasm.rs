//! The WebAssembly exports the Node.js handler calls: a tiny C ABI over [`EdgeBundle`].
//!
//! Strings cross as UTF-8 in linear memory. The caller `alloc`s a buffer, writes into it,
//! passes (pointer, length) and `dealloc`s it afterwards. Each call's answer (a JSON object,
//! see [`crate::bundle`]) stays in a buffer the module owns until the next call: the call
//! returns its length and `output_ptr` its address. The clock is an argument (`now`, seconds
//! since the Unix epoch, an i64 that JavaScript passes as a BigInt), so the module needs no
//! imports at all.
//!
//! One [`EdgeBundle`] lives in the instance from `init` on; its token cache survives warm
//! invocations of the function.

use crate::bundle::EdgeBundle;
use std::cell::RefCell;

thread_local! {
    static BUNDLE: RefCell<Option<EdgeBundle>> = const { RefCell::new(None) };
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

/// Stores `json` as the current answer and returns its length.
fn answer(json: String) -> usize {
    OUTPUT.with(|output| {
        let mut output = output.borrow_mut();
        *output = json.into_bytes();
        output.len()
    })
}

/// # Safety
/// `ptr` must point to `len` readable bytes.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> Result<&'a str, String> {
    let bytes = if len == 0 {
        &[][..]
    } else {
        std::slice::from_raw_parts(ptr, len)
    };
    std::str::from_utf8(bytes).map_err(|_| error_json("an argument is not UTF-8"))
}

fn with_bundle(run: impl FnOnce(&mut EdgeBundle) -> String) -> String {
    BUNDLE.with(|bundle| match bundle.borrow_mut().as_mut() {
        Some(bundle) => run(bundle),
        None => error_json("init was not called, or it failed"),
    })
}

/// A buffer of `len` bytes for the caller to write an argument into.
#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut buffer = Vec::<u8>::with_capacity(len.max(1));
    let ptr = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    ptr
}

/// Frees a buffer from [`alloc`].
///
/// # Safety
/// `ptr` and `len` must be those of one [`alloc`] call, and the buffer freed only once.
#[no_mangle]
pub unsafe extern "C" fn dealloc(ptr: *mut u8, len: usize) {
    drop(Vec::from_raw_parts(ptr, 0, len.max(1)));
}

/// Where the last call's answer starts; its length is what the call returned.
#[no_mangle]
pub extern "C" fn output_ptr() -> *const u8 {
    OUTPUT.with(|output| output.borrow().as_ptr())
}

/// Reads `config.json` (its text) and sets up the check: `{"ok":true}` or `{"error":…}`.
///
/// # Safety
/// (`config_ptr`, `config_len`) must be readable memory, e.g. a buffer from [`alloc`].
#[no_mangle]
pub unsafe extern "C" fn init(config_ptr: *const u8, config_len: usize) -> usize {
    let json = match input(config_ptr, config_len) {
        Ok(json) => json,
        Err(error) => return answer(error),
    };
    answer(match EdgeBundle::from_config_json(json) {
        Ok(ready) => {
            BUNDLE.with(|bundle| *bundle.borrow_mut() = Some(ready));
            r#"{"ok":true}"#.to_owned()
        }
        Err(error) => error_json(&error.to_string()),
    })
}

/// Checks a viewer-request event (its JSON text): `{"result":…}`, `{"lookup":"<hash>"}` or
/// `{"error":…}`.
///
/// # Safety
/// (`event_ptr`, `event_len`) must be readable memory, e.g. a buffer from [`alloc`].
#[no_mangle]
pub unsafe extern "C" fn viewer_request(event_ptr: *const u8, event_len: usize, now: u64) -> usize {
    let event = match input(event_ptr, event_len) {
        Ok(event) => event,
        Err(error) => return answer(error),
    };
    answer(with_bundle(|bundle| bundle.viewer_request_json(event, now)))
}

/// Finishes a check that answered `lookup`, with the token item found (JSON) or `null`:
/// `{"result":…}` or `{"error":…}`.
///
/// # Safety
/// Each (pointer, length) pair must be readable memory, e.g. a buffer from [`alloc`].
#[no_mangle]
pub unsafe extern "C" fn complete(
    event_ptr: *const u8,
    event_len: usize,
    hash_ptr: *const u8,
    hash_len: usize,
    item_ptr: *const u8,
    item_len: usize,
    now: u64,
) -> usize {
    let inputs = (|| {
        Ok::<_, String>((
            input(event_ptr, event_len)?,
            input(hash_ptr, hash_len)?,
            input(item_ptr, item_len)?,
        ))
    })();
    let (event, hash, item) = match inputs {
        Ok(inputs) => inputs,
        Err(error) => return answer(error),
    };
    answer(with_bundle(|bundle| {
        bundle.complete_json(event, hash, item, now)
    }))
}
