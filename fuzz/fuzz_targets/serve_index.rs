//! The `index.json` that `serve` reads its tags from (it may have been written by another
//! tool): never a panic; listed tags can be looked up again, with and without `?ns=`.
#![no_main]

use layerget::store::Refs as Index;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(index) = Index::parse(data) else {
        return;
    };
    for repository in ["library/alpine", "team/app", "a"] {
        for ns in [None, Some("docker.io"), Some("registry.example")] {
            let Some(tags) = index.tags(repository, ns) else {
                continue;
            };
            for tag in tags {
                let entry = index.tag(repository, tag, ns).expect("a listed tag is found");
                let _ = index.media_type(&entry.digest);
            }
        }
    }
});
