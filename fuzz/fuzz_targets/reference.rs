//! References as users and servers write them (`host:port/name:tag@digest`), plus the name and
//! tag grammars on their own: never a panic, `Display` gives back a string that parses to the
//! same reference, and every accepted reference builds its API URLs.
#![no_main]

use layerget::reference::{self, Endpoint, Reference, Registry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = reference::validate_name(s);
    let _ = reference::is_tag(s);
    if let Ok(registry) = Registry::parse(s) {
        let _ = (registry.api_host(), registry.host(), registry.is_loopback());
        let _ = registry.base_url(registry.scheme(false, false));
        assert_eq!(Registry::parse(&registry.to_string()).ok(), Some(registry));
    }
    let _ = Reference::parse_with_digest(s);
    let Ok(r) = s.parse::<Reference>() else {
        return;
    };
    let again: Reference = r
        .to_string()
        .parse()
        .unwrap_or_else(|e| panic!("`{r}` (from {s:?}) does not parse again: {e}"));
    assert_eq!(again, r, "Display round trip of {s:?}");
    let base = r.registry().base_url(r.registry().scheme(true, false));
    let _ = reference::api_url(
        &base,
        r.repository(),
        Endpoint::Manifest(r.tag().unwrap_or("latest")),
    );
    if let Some(d) = r.digest() {
        let _ = reference::api_url(&base, r.repository(), Endpoint::Blob(d));
    }
    let _ = r.location();
});
