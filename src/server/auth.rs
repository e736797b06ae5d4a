//! `serve --htpasswd FILE`: HTTP Basic authentication against bcrypt entries as `htpasswd -B`
//! writes them (`user:$2y$05$…`, one a line).
//!
//! A bcrypt check costs tens to hundreds of milliseconds by design, far more than serving a
//! small blob, so a successful check is remembered: the SHA-256 of the whole `Authorization`
//! value goes into a bounded in-memory set, and later requests with the same value cost one
//! hash and one lookup. Failures are never remembered (a wrong password always pays the bcrypt
//! price). At most one check per core runs at once, on a blocking thread, so a flood of bad
//! passwords cannot starve the runtime; and at most `queue` requests wait for or run a check:
//! beyond that a request is not queued but answered [`Verdict::Busy`] at once (429 with
//! `Retry-After`), so such a flood cannot lock everyone out either (issue 9, item 16). Users
//! whose success is remembered pass without a check, busy or not. Credentials are never
//! logged or kept in clear.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;

/// The realm of the `WWW-Authenticate: Basic` challenge.
pub const REALM: &str = "layerget";
/// Highest bcrypt cost accepted (as `htpasswd -B -C`): each step doubles the work.
const MAX_COST: u32 = 17;
/// Successful `Authorization` values remembered at most (then the set starts over).
const CACHE_ENTRIES: usize = 4096;
/// Requests that may wait for or run a bcrypt check at once, unless set otherwise.
pub const DEFAULT_QUEUE: usize = 32;

/// The outcome of a credential check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid credentials of this user.
    Granted(String),
    /// No credentials, or wrong ones.
    Denied,
    /// Too many checks running and waiting: not checked, try again later.
    Busy,
}

/// The users of an htpasswd file and the memory of recent successful checks.
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// SHA-256 of accepted `Authorization` values → the user.
    verified: RwLock<HashMap<[u8; 32], String>>,
    /// Checks running at once (one per core).
    checks: Semaphore,
    /// Requests waiting for or running a check at once.
    queue: Semaphore,
    /// Checked for unknown users, so that a missing user costs as much as a wrong password
    /// (no user enumeration by timing): the highest cost in the file.
    dummy: String,
}

impl std::fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hashes.
        f.debug_struct("Htpasswd")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

/// Why an htpasswd file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HtpasswdError {
    /// A line is not `user:hash`.
    #[error("line {line}: expected `user:hash`")]
    Malformed {
        /// 1-based line number.
        line: usize,
    },
    /// A line's hash is not bcrypt.
    #[error(
        "line {line}: the entry for `{user}` is not a bcrypt hash ($2y$, $2b$ or $2a$); only bcrypt is supported (write entries with `htpasswd -B`)"
    )]
    NotBcrypt {
        /// 1-based line number.
        line: usize,
        /// The user named on the line.
        user: String,
    },
    /// A cost that would make every check take seconds.
    #[error(
        "line {line}: bcrypt cost {cost} is above {MAX_COST} (`htpasswd -B -C` allows at most {MAX_COST})"
    )]
    CostTooHigh {
        /// 1-based line number.
        line: usize,
        /// The entry's cost.
        cost: u32,
    },
    /// The same user twice.
    #[error("line {line}: `{user}` appears a second time")]
    Duplicate {
        /// 1-based line number.
        line: usize,
        /// The user named on the line.
        user: String,
    },
    /// No entry at all: nobody could log in.
    #[error("the file has no entries")]
    Empty,
}

impl Htpasswd {
    /// Parses an htpasswd file. Blank lines and `#` comments are skipped; every other line
    /// must be `user:bcrypt-hash`.
    pub fn parse(text: &str) -> Result<Htpasswd, HtpasswdError> {
        let mut users = HashMap::new();
        let mut cost = 4;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let (user, hash) = entry
                .split_once(':')
                .filter(|(u, h)| !u.is_empty() && !h.is_empty())
                .ok_or(HtpasswdError::Malformed { line })?;
            let bcrypt_prefix = ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p));
            let parts = bcrypt::HashParts::from_str(hash)
                .ok()
                .filter(|_| bcrypt_prefix)
                .ok_or_else(|| HtpasswdError::NotBcrypt {
                    line,
                    user: user.to_owned(),
                })?;
            if parts.get_cost() > MAX_COST {
                return Err(HtpasswdError::CostTooHigh {
                    line,
                    cost: parts.get_cost(),
                });
            }
            cost = cost.max(parts.get_cost());
            if users.insert(user.to_owned(), hash.to_owned()).is_some() {
                return Err(HtpasswdError::Duplicate {
                    line,
                    user: user.to_owned(),
                });
            }
        }
        if users.is_empty() {
            return Err(HtpasswdError::Empty);
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let dummy = bcrypt::hash_with_salt(b"", cost, [0x5a; 16])
            .map_err(|_| HtpasswdError::Empty)?
            .to_string();
        Ok(Htpasswd {
            users,
            dummy,
            verified: RwLock::new(HashMap::new()),
            checks: Semaphore::new(cores),
            queue: Semaphore::new(DEFAULT_QUEUE.max(cores)),
        })
    }

    /// Lets at most `n` requests (at least one) wait for or run a check at once; more are
    /// answered [`Verdict::Busy`].
    pub fn with_queue(mut self, n: usize) -> Htpasswd {
        self.queue = Semaphore::new(n.max(1));
        self
    }

    /// How many users the file has.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file has no users (never true for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `authorization` (the header's value, if any) carries valid Basic credentials.
    /// Blocking bcrypt work runs off the async threads; when the queue is full the answer is
    /// [`Verdict::Busy`] without waiting.
    pub async fn authorized(self: &Arc<Self>, authorization: Option<&[u8]>) -> Verdict {
        let Some(value) = authorization else {
            return Verdict::Denied;
        };
        let key: [u8; 32] = Sha256::digest(value).into();
        if let Some(user) = self
            .verified
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Verdict::Granted(user.clone());
        }
        let Some((user, password)) = basic_credentials(value) else {
            return Verdict::Denied;
        };
        let Ok(_queued) = self.queue.try_acquire() else {
            return Verdict::Busy;
        };
        let Ok(_running) = self.checks.acquire().await else {
            return Verdict::Busy;
        };
        let this = self.clone();
        let checked = user.clone();
        let ok = tokio::task::spawn_blocking(move || this.check(&checked, &password))
            .await
            .unwrap_or(false);
        if !ok {
            return Verdict::Denied;
        }
        let mut verified = self.verified.write().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= CACHE_ENTRIES {
            verified.clear();
        }
        verified.insert(key, user.clone());
        Verdict::Granted(user)
    }

    /// The bcrypt check itself (constant time in the hash comparison; an unknown user costs
    /// a check against a dummy hash).
    fn check(&self, user: &str, password: &[u8]) -> bool {
        match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(password, &self.dummy);
                false
            }
        }
    }
}

/// `Basic base64(user:password)` → the user and the password bytes.
fn basic_credentials(value: &[u8]) -> Option<(String, Vec<u8>)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    // RFC 7617: the user-id ends at the first colon; the password may contain more.
    let mut parts = decoded.splitn(2, |&b| b == b':');
    let user = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let password = parts.next()?.to_vec();
    Some((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b64}").into_bytes()
    }

    #[test]
    fn parse_accepts_bcrypt_and_names_bad_lines() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let file = format!("# users\n\nalice:{hash}\n");
        assert_eq!(Htpasswd::parse(&file).unwrap().len(), 1);
        let y = hash.replacen("$2b$", "$2y$", 1);
        assert!(Htpasswd::parse(&format!("bob:{y}")).is_ok());
        assert_eq!(
            Htpasswd::parse(&format!("alice:{hash}\nbob:{{SHA}}abc=\n")).unwrap_err(),
            HtpasswdError::NotBcrypt {
                line: 2,
                user: "bob".into()
            }
        );
        let md5 = "carol:$apr1$abc$0123456789012345678901";
        assert!(matches!(
            Htpasswd::parse(md5),
            Err(HtpasswdError::NotBcrypt { line: 1, .. })
        ));
        assert_eq!(
            Htpasswd::parse("no colon here").unwrap_err(),
            HtpasswdError::Malformed { line: 1 }
        );
        assert_eq!(
            Htpasswd::parse(&format!("a:{hash}\na:{hash}")).unwrap_err(),
            HtpasswdError::Duplicate {
                line: 2,
                user: "a".into()
            }
        );
        assert_eq!(
            Htpasswd::parse("# nothing\n").unwrap_err(),
            HtpasswdError::Empty
        );
        assert!(!format!("{:?}", Htpasswd::parse(&file).unwrap()).contains("$2"));
    }

    #[tokio::test]
    async fn checks_credentials_and_remembers_only_successes() {
        let hash = bcrypt::hash("pa:ss", 4).unwrap();
        let h = Arc::new(Htpasswd::parse(&format!("alice:{hash}")).unwrap());
        let alice = Verdict::Granted("alice".into());
        assert_eq!(h.authorized(None).await, Verdict::Denied);
        assert_eq!(h.authorized(Some(b"Bearer abc")).await, Verdict::Denied);
        assert_eq!(h.authorized(Some(b"Basic !!!")).await, Verdict::Denied);
        // No colon at all: no user-id/password pair.
        let no_colon = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("alice")
        );
        assert_eq!(
            h.authorized(Some(no_colon.as_bytes())).await,
            Verdict::Denied
        );
        let wrong = basic("alice", "wrong");
        assert_eq!(h.authorized(Some(&wrong)).await, Verdict::Denied);
        let mallory = basic("mallory", "pa:ss");
        assert_eq!(h.authorized(Some(&mallory)).await, Verdict::Denied);
        assert!(h.verified.read().unwrap().is_empty());
        assert_eq!(h.authorized(Some(&basic("alice", "pa:ss"))).await, alice);
        assert_eq!(h.verified.read().unwrap().len(), 1);
        assert_eq!(h.authorized(Some(&basic("alice", "pa:ss"))).await, alice);
        let spaced = format!(
            "basic  {}",
            base64::engine::general_purpose::STANDARD.encode("alice:pa:ss")
        );
        assert_eq!(h.authorized(Some(spaced.as_bytes())).await, alice);
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once_and_remembered_users_pass() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let h = Arc::new(
            Htpasswd::parse(&format!("alice:{hash}\nbob:{hash}"))
                .unwrap()
                .with_queue(2),
        );
        let alice = basic("alice", "pw");
        assert_eq!(
            h.authorized(Some(&alice)).await,
            Verdict::Granted("alice".into())
        );
        // Two requests are waiting or checking (their places taken here): the queue is full.
        let held = h.queue.try_acquire_many(2).unwrap();
        assert_eq!(h.authorized(Some(&basic("bob", "pw"))).await, Verdict::Busy);
        assert_eq!(h.authorized(Some(&basic("bob", "no"))).await, Verdict::Busy);
        // A remembered success needs no check, so it passes while the queue is full.
        assert_eq!(
            h.authorized(Some(&alice)).await,
            Verdict::Granted("alice".into())
        );
        drop(held);
        assert_eq!(
            h.authorized(Some(&basic("bob", "pw"))).await,
            Verdict::Granted("bob".into())
        );
    }
}
