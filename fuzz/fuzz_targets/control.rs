//! The control-socket protocol (src/control.rs): one JSON line per request
//! and per answer. Decoding a line never panics, and a line that decodes
//! (as a request, as the daemon reads it, or as a response, as `vipctl`
//! reads it) encodes again to JSON that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vipd::control::{Request, Response};

fuzz_target!(|data: &[u8]| {
    // The daemon reads the line as UTF-8 text (read_line), vipctl too.
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(req) = serde_json::from_str::<Request>(line) {
        let text = serde_json::to_string(&req).expect("a request serialises");
        let again: Request = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("re-encoded request does not decode: {e}: {text}"));
        assert_eq!(again, req);
    }
    if let Ok(resp) = serde_json::from_str::<Response>(line) {
        let text = serde_json::to_string(&resp).expect("a response serialises");
        let again: Response = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("re-encoded response does not decode: {e}: {text}"));
        assert_eq!(again, resp);
    }
});
