//! A registry's `Retry-After` (seconds or an HTTP-date): never a panic, and the wait the retry
//! policy derives from it stays within the policy's cap.
#![no_main]

use std::time::{Duration, SystemTime};

use layerget::client::retry::{self, Failure, RetryPolicy};
use layerget::envelope::ErrorBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    for now in [
        SystemTime::UNIX_EPOCH,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_633_600),
    ] {
        let wait = retry::parse_retry_after(value, now);
        let policy = RetryPolicy::default();
        let body = ErrorBody::Empty;
        let failure = Failure::Status {
            status: 429,
            body: &body,
            retry_after: wait,
        };
        if let Some(d) = policy.delay(1, failure) {
            assert!(d <= policy.max_wait.max(policy.cap));
        }
    }
});
