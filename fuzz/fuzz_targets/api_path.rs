//! `serve`'s request routing: the path as a client sent it, matched from the right. Never a
//! panic; every routed name passes the name grammar, and the last segment goes on to the
//! digest or tag parser as the handlers do.
#![no_main]

use layerget::digest::Digest;
use layerget::reference::{self, ApiRoute};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Some(route)) = reference::parse_api_path(path) else {
        return;
    };
    let name = match route {
        ApiRoute::Base => return,
        ApiRoute::Blob { name, digest } | ApiRoute::Referrers { name, digest } => {
            let _ = digest.parse::<Digest>();
            name
        }
        ApiRoute::Manifest { name, reference } => {
            if !reference::is_tag(reference) {
                let _ = reference.parse::<Digest>();
            }
            name
        }
        ApiRoute::TagsList { name } | ApiRoute::Upload { name } => name,
    };
    assert!(
        reference::validate_name(name).is_ok(),
        "{path:?} routed to bad name {name:?}"
    );
    assert!(path.contains(name));
});
