//! The COPY binary stream readers, on any bytes cut into pieces anywhere.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    // The first byte says how many of the next bytes are cut points (up to 7).
    let (n, rest) = match input.split_first() {
        Some((n, rest)) => ((*n % 8) as usize, rest),
        None => return,
    };
    let n = n.min(rest.len());
    let (cuts, data) = rest.split_at(n);
    migrator_core::fuzzing::copy_frames(data, cuts);
});
