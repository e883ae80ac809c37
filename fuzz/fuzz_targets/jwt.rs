//! The `Authorization` header and JWT reader: the input is the header's value. A 5xx
//! or a panic is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let status = api::fuzzing::read_authorization(data);
    assert!(status == 200 || (400..500).contains(&status), "{status}");
    if let Ok(token) = std::str::from_utf8(data) {
        let status = api::fuzzing::read_token(token);
        assert!(status == 200 || status == 401, "{status}");
    }
});
