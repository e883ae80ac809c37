//! The request-body reader: the first byte says which `Content-Type` is sent, the
//! rest is the body. A 5xx or a panic that escapes the reader is a finding.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;

/// libfuzzer-sys aborts in its panic hook, before any `catch_unwind` can act; but the
/// body reader catches, on purpose, the panics of the multipart parser it uses. This
/// hook only prints (and keeps quiet about that parser's): a panic that escapes the
/// reader still aborts, as libfuzzer-sys runs each input under `catch_unwind`.
static HOOK: Once = Once::new();

fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let in_multipart = info
            .location()
            .is_some_and(|at| at.file().contains("actix-multipart"));
        if !in_multipart {
            eprintln!("{info}");
        }
    }));
}

const CONTENT_TYPES: [&[u8]; 6] = [
    b"application/json",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=XyZ",
    b"multipart/form-data",
    b"text/plain",
    b"",
];

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(install_hook);
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(*selector) % CONTENT_TYPES.len()];
    let status = api::fuzzing::read_body(content_type, body);
    assert!(status == 200 || (400..500).contains(&status), "{status}");
});
