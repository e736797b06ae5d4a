//! `sync`: every reference recorded in the cache, pushed under one destination prefix (what an
//! air-gapped site runs to load what it was handed into its own registry). This module decides
//! which names are synced and where each goes; pushing each is [`super::push`]'s job.
//!
//! `127.0.0.1:5000/team/app:v1` synced to `registry.internal/mirror` goes to
//! `registry.internal/mirror/team/app:v1` (the source registry is dropped, the repository path
//! kept); a name recorded by digest goes by digest. `--match` is a glob over the full name:
//! `*` matches any run of characters (`/` included), `?` one character.

use crate::manifest::REF_NAME;
use crate::reference::{Reference, ReferenceError};
use crate::store::{ContentStore, StoreError};

/// Whether `text` matches the glob `pattern` (`*`: any run of characters, `?`: one).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matching with one backtrack point (the last `*`): linear in practice.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

/// Where `source` goes under `prefix` (`host[:port][/path]`).
pub fn dest_for(prefix: &str, source: &Reference) -> Result<Reference, ReferenceError> {
    let prefix = prefix.trim_end_matches('/');
    let mut dest = format!("{prefix}/{}", source.repository());
    if let Some(tag) = source.tag() {
        dest = format!("{dest}:{tag}");
    }
    if let Some(digest) = source.digest() {
        dest = format!("{dest}@{digest}");
    }
    dest.parse()
}

/// The names recorded in the cache (entries carrying `org.opencontainers.image.ref.name` that
/// are references), sorted, those matching `pattern` when one is given.
pub async fn recorded_names<S: ContentStore>(
    store: &S,
    pattern: Option<&str>,
) -> Result<Vec<(String, Reference)>, StoreError> {
    let refs = store.refs().await?;
    let mut names: Vec<(String, Reference)> = refs
        .layout()
        .entries()
        .iter()
        .filter_map(|d| d.annotations.get(REF_NAME))
        .filter(|n| pattern.is_none_or(|p| glob_match(p, n)))
        .filter_map(|n| n.parse::<Reference>().ok().map(|r| (n.clone(), r)))
        .collect();
    names.sort_by(|a, b| a.0.cmp(&b.0));
    names.dedup_by(|a, b| a.0 == b.0);
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("*", "anything/at:all", true),
            ("127.0.0.1:5000/team/*", "127.0.0.1:5000/team/app:v1", true),
            ("*/team/*", "127.0.0.1:5000/team/sub/app:v1", true),
            ("*:v?", "r/a:v1", true),
            ("*:v?", "r/a:v10", false),
            ("r/a:v1", "r/a:v1", true),
            ("r/a:v1", "r/a:v2", false),
            ("", "", true),
            ("", "x", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_match(p, t), want, "{p} {t}");
        }
    }

    #[test]
    fn destinations() {
        let r: Reference = "127.0.0.1:5000/team/app:v1".parse().unwrap();
        assert_eq!(
            dest_for("registry.internal/mirror/", &r)
                .unwrap()
                .to_string(),
            "registry.internal/mirror/team/app:v1"
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r: Reference = format!("ghcr.io/x/y@{d}").parse().unwrap();
        assert_eq!(
            dest_for("10.0.0.1:5000", &r).unwrap().to_string(),
            format!("10.0.0.1:5000/x/y@{d}")
        );
        assert!(dest_for("Bad Host", &r).is_err());
    }
}
