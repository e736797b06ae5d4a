//! `serve --htpasswd` files: never a panic, whatever the file holds.
//!
//! A valid entry costs one bcrypt run at its cost (the dummy hash for unknown users), 2^cost
//! rounds: inputs naming a cost above 5 anywhere are skipped, or a few mutations to `$2y$17$`
//! would make every execution take seconds. The cost limit itself is a unit test's job.
#![no_main]

use layerget::server::Htpasswd;
use libfuzzer_sys::fuzz_target;

fn expensive(text: &str) -> bool {
    text.as_bytes().windows(4).any(|w| {
        w[0] == b'$'
            && w[3] == b'$'
            && std::str::from_utf8(&w[1..3])
                .ok()
                .and_then(|c| c.parse::<u32>().ok())
                .is_some_and(|c| c > 5)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if expensive(text) {
        return;
    }
    if let Ok(h) = Htpasswd::parse(text) {
        assert!(!h.is_empty());
        let _ = format!("{h:?}");
    }
});
