//! Source tuples rewritten with UUID keys for a DSQL target.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    migrator_core::fuzzing::rewrite(data);
});
