//! Connection strings, as URLs and as `key=value` lists.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        migrator_core::fuzzing::connection_string(s);
    }
});
