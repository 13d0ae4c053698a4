//! Crash points for the fault tests (feature `failpoints`): named spots where a test makes
//! the process die at once, as `kill -9` or a power cut would there, to show that a re-run
//! finishes from whatever state that leaves. Configured through the `fail` crate's
//! `FAILPOINTS` environment variable: `copy.chunk.before_commit=return` dies the first time
//! through, `3*off->return` the fourth. Without the feature a crash point is nothing.

/// Dies here, at once and without cleaning up, if the test armed crash point `name`.
#[inline]
pub(crate) fn crash_point(name: &str) {
    #[cfg(feature = "failpoints")]
    {
        static SETUP: std::sync::Once = std::sync::Once::new();
        // The scenario stays set up for the life of the process.
        SETUP.call_once(|| std::mem::forget(fail::FailScenario::setup()));
        if fail::eval(name, |_| ()).is_some() {
            eprintln!("crash point {name}: dying here");
            std::process::abort();
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
