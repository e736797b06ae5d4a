//! Registry authentication: answering `WWW-Authenticate` challenges with Basic credentials or
//! a bearer token from the registry's token service (the Docker token flow, "Token
//! Authentication Specification" of the Docker Registry HTTP API v2).
//!
//! State is per client and shared by every concurrent transfer, and everything of it belongs
//! to one registry origin (scheme, host, port): credentials are looked up once per registry,
//! the scheme a registry asked for is remembered per origin (so later requests carry
//! credentials up front instead of collecting a 401 each), and tokens are cached per
//! (registry origin, credential identity, realm, service, scope) until shortly before they
//! expire. A registry that names another registry's realm therefore gets a token of its own
//! (made with its own credentials, usually none), never the other registry's. Token fetches
//! are serialized, so several transfers that start at once cause one token request.
//!
//! Which responses may teach a challenge is the send loop's business (`client/mod.rs`: only
//! those from the registry's own origin); what this module refuses itself is a token realm
//! in clear text: credentials for an https registry never go to a non-loopback `http://`
//! realm.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::challenge::Challenge;
use super::credentials::{Credentials, Found, Secret, Sources, base64_encode};
use super::{Home, RegistryError, follow, redact};
use crate::digest::{Algorithm, digest_bytes};
use crate::envelope::ErrorBody;
use crate::reference::Origin;

/// Token lifetime when the token service does not say (the spec's default).
const DEFAULT_EXPIRY: Duration = Duration::from_secs(60);
/// The spec's minimum lifetime; shorter claims are taken as this (as docker does) unless the
/// server insists on less (see `token_lifetime`).
const SAFETY_MARGIN: Duration = Duration::from_secs(5);
/// The most of a token response that is read.
const MAX_TOKEN_BODY: usize = 256 * 1024;

/// What a refused request was authenticated with, for the error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthContext {
    /// The registry (`host[:port]`), for the login hint.
    pub registry: String,
    /// The token realm (a URL), or the Basic realm.
    pub realm: Option<String>,
    /// The `service` of the challenge.
    pub service: Option<String>,
    /// The scope asked for.
    pub scope: Option<String>,
    /// The user whose credentials were used, if any, and where they came from.
    pub user: Option<(String, String)>,
    /// When the refusal came from a host the registry redirected to (storage, CDN), that
    /// host: it was offered no credentials, and its challenge was not answered.
    pub redirect_target: Option<String>,
}

impl AuthContext {
    /// The sentence appended to a 401/403 message, and its hint line.
    pub fn explain(&self) -> String {
        let registry = &self.registry;
        if let Some(host) = &self.redirect_target {
            return format!(
                "; the refusal came from `{host}`, where the registry redirected the request (it gets no credentials and its challenge is not answered)\n\
                 hint: the storage behind `{registry}` refused the request: try again later, or tell the registry's operator"
            );
        }
        let mut parts = Vec::new();
        if let Some(r) = &self.realm {
            parts.push(format!("realm `{r}`"));
        }
        if let Some(s) = &self.service {
            parts.push(format!("service `{s}`"));
        }
        if let Some(s) = &self.scope {
            parts.push(format!("scope `{s}`"));
        }
        let asked = if parts.is_empty() {
            String::new()
        } else {
            format!("; challenge: {}", parts.join(", "))
        };
        let (who, hint) = match &self.user {
            Some((user, source)) => (
                format!("; credentials of `{user}` from {source} were refused"),
                format!(
                    "hint: check the password or token for `{user}`, and that it may pull this repository (`docker login {registry}` stores new ones)"
                ),
            ),
            None => (
                "; no credentials were sent".to_owned(),
                format!(
                    "hint: log in with `docker login {registry}`, or pass --username USER --password-stdin (with --registry-auth {registry} unless it is the first REF's registry)"
                ),
            ),
        };
        format!("{asked}{who}\n{hint}")
    }
}

#[derive(Debug, Clone)]
enum Scheme {
    Bearer {
        realm: String,
        service: Option<String>,
    },
    Basic {
        realm: Option<String>,
    },
}

#[derive(Debug, Clone)]
struct Token {
    value: Secret,
    expires: Instant,
}

/// Who credentials stand for: the user, where they came from, and a SHA-256 of the secret,
/// so that two different secrets never share a cached token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Identity {
    user: String,
    source: String,
    fingerprint: String,
}

impl Identity {
    fn of(found: &Found) -> Identity {
        let secret = match &found.credentials {
            Credentials::Basic { password, .. } => password.expose(),
            Credentials::IdentityToken { token, .. } => token.expose(),
        };
        Identity {
            user: found.credentials.username().to_owned(),
            source: found.source.clone(),
            fingerprint: digest_bytes(Algorithm::Sha256, secret.as_bytes()).to_string(),
        }
    }
}

/// A cached token's key: it is only ever sent to the registry it was fetched for, on behalf of
/// the same credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    registry: Origin,
    identity: Option<Identity>,
    realm: String,
    service: Option<String>,
    scope: String,
}

/// Authentication state shared by a client's requests.
#[derive(Debug)]
pub struct Auth {
    sources: Sources,
    /// By registry name (`host[:port]`), as credentials are stored. A lookup may run a
    /// credential helper: concurrent transfers to one registry wait for that one lookup (the
    /// cell), other registries do not (the map's lock is only held to find the cell).
    credentials: Mutex<HashMap<String, Arc<OnceCell<Option<Found>>>>>,
    /// By registry origin; only ever held for a map operation.
    schemes: Mutex<HashMap<Origin, Scheme>>,
    tokens: tokio::sync::Mutex<HashMap<TokenKey, Token>>,
}

/// The `Authorization` header to send, and what it stands for.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// The header value, for requests to [`Authorization::origin`] only.
    pub header: HeaderValue,
    /// The registry origin the header belongs to.
    pub origin: Origin,
    /// For messages when it is refused.
    pub context: AuthContext,
    /// The token cache entry it came from, to drop it when the registry refuses it.
    token_key: Option<TokenKey>,
}

impl Auth {
    /// Auth state over these credential sources.
    pub fn new(sources: Sources) -> Auth {
        Auth {
            sources,
            credentials: Mutex::default(),
            schemes: Mutex::default(),
            tokens: tokio::sync::Mutex::default(),
        }
    }

    /// Credentials for `registry`, looked up once; warnings are logged once.
    async fn credentials(&self, registry: &str) -> Option<Found> {
        let cell = self
            .credentials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(registry.to_owned())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            let (found, warnings) = self.sources.lookup(registry).await;
            for w in warnings {
                tracing::warn!("{w}");
            }
            found
        })
        .await
        .clone()
    }

    fn schemes(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, Scheme>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts).
        self.schemes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers the challenge the registry at `origin` answered with. Bearer is preferred
    /// over Basic, as docker does. The caller makes sure the challenge came from `origin`.
    pub fn learn(&self, origin: &Origin, challenges: &[Challenge]) -> bool {
        let scheme = challenges
            .iter()
            .find_map(|c| {
                let realm = c.param("realm").filter(|_| c.is("bearer"))?;
                Some(Scheme::Bearer {
                    realm: realm.to_owned(),
                    service: c.param("service").map(str::to_owned),
                })
            })
            .or_else(|| {
                challenges
                    .iter()
                    .find(|c| c.is("basic"))
                    .map(|c| Scheme::Basic {
                        realm: c.param("realm").map(str::to_owned),
                    })
            });
        match scheme {
            Some(s) => {
                self.schemes().insert(origin.clone(), s);
                true
            }
            None => false,
        }
    }

    /// The scheme the registry at `origin` asked for, once it has.
    fn scheme(&self, origin: &Origin) -> Option<Scheme> {
        self.schemes().get(origin).cloned()
    }

    /// Forgets a token the registry refused, so the next request fetches a new one.
    pub async fn forget(&self, authorization: &Authorization) {
        if let Some(key) = &authorization.token_key {
            self.tokens.lock().await.remove(key);
        }
    }

    /// The `Authorization` for a request to the registry `home` needing `scope`, when its
    /// scheme is known: a cached or fresh bearer token, or Basic credentials. `None` when
    /// nothing is known yet or Basic is asked without credentials.
    pub(crate) async fn authorize(
        &self,
        home: &Home<'_>,
        scope: &str,
    ) -> Result<Option<Authorization>, RegistryError> {
        let Some(scheme) = self.scheme(&home.origin) else {
            return Ok(None);
        };
        let found = self.credentials(home.name).await;
        let user = found
            .as_ref()
            .map(|f| (f.credentials.username().to_owned(), f.source.clone()));
        match scheme {
            Scheme::Basic { realm } => {
                let Some(Found {
                    credentials: Credentials::Basic { username, password },
                    ..
                }) = found
                else {
                    return Ok(None);
                };
                Ok(Some(Authorization {
                    header: basic(&username, password.expose()),
                    origin: home.origin.clone(),
                    context: AuthContext {
                        registry: home.name.to_owned(),
                        realm,
                        service: None,
                        scope: None,
                        user,
                        redirect_target: None,
                    },
                    token_key: None,
                }))
            }
            Scheme::Bearer { realm, service } => {
                let context = AuthContext {
                    registry: home.name.to_owned(),
                    realm: Some(realm.clone()),
                    service: service.clone(),
                    scope: Some(scope.to_owned()),
                    user,
                    redirect_target: None,
                };
                let key = TokenKey {
                    registry: home.origin.clone(),
                    identity: found.as_ref().map(Identity::of),
                    realm: realm.clone(),
                    service: service.clone(),
                    scope: scope.to_owned(),
                };
                let mut tokens = self.tokens.lock().await;
                let token = match tokens.get(&key) {
                    Some(t) if t.expires > Instant::now() => t.clone(),
                    _ => {
                        let t = fetch_token(home, &key, found.as_ref(), &context).await?;
                        tokens.insert(key.clone(), t.clone());
                        t
                    }
                };
                Ok(Some(Authorization {
                    header: sensitive(&format!("Bearer {}", token.value.expose())),
                    origin: home.origin.clone(),
                    context,
                    token_key: Some(key),
                }))
            }
        }
    }

    /// What an unauthenticated refusal from the registry at `origin` was about, for messages.
    pub fn anonymous_context(&self, registry: &str, origin: &Origin, scope: &str) -> AuthContext {
        let (realm, service) = match self.scheme(origin) {
            Some(Scheme::Bearer { realm, service }) => (Some(realm), service),
            Some(Scheme::Basic { realm }) => (realm, None),
            None => (None, None),
        };
        AuthContext {
            registry: registry.to_owned(),
            realm,
            service,
            scope: Some(scope.to_owned()),
            user: None,
            redirect_target: None,
        }
    }
}

fn sensitive(value: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

/// `Basic base64(user:password)` (RFC 7617).
fn basic(user: &str, password: &str) -> HeaderValue {
    sensitive(&format!(
        "Basic {}",
        base64_encode(format!("{user}:{password}").as_bytes())
    ))
}

/// Whether credentials for a registry at `registry` may be sent to the token realm at `realm`:
/// not in clear text, unless the realm is loopback (it never leaves the machine) or the
/// registry itself is spoken to in clear text over the network (the credentials are no safer
/// there). A loopback http registry does not count: its traffic stays on the machine, a
/// remote realm's would not.
fn realm_may_have_credentials(registry: &Origin, realm: &Origin) -> bool {
    realm.scheme() == "https"
        || realm.is_loopback()
        || (registry.scheme() == "http" && !registry.is_loopback())
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    issued_at: Option<String>,
}

/// Asks the token service for a token: the OAuth2 POST flow with a refresh token when the
/// credentials are an identity token (falling back to GET on 404/405, as docker does), else
/// GET with Basic credentials or anonymously. The request goes through the registry's
/// connection pools: its own TLS settings when the realm is on its origin, normal
/// verification elsewhere.
async fn fetch_token(
    home: &Home<'_>,
    key: &TokenKey,
    found: Option<&Found>,
    context: &AuthContext,
) -> Result<Token, RegistryError> {
    let (realm, service, scope) = (&key.realm, key.service.as_deref(), key.scope.as_str());
    let realm_url = Url::parse(realm).map_err(|e| RegistryError::Protocol {
        url: realm.to_owned(),
        reason: format!("the token realm is not a URL ({e})"),
    })?;
    let shown = redact(&realm_url);
    let Some(realm_origin) = Origin::of(&realm_url) else {
        return Err(RegistryError::Protocol {
            url: shown,
            reason: "the token realm is not an http or https URL".into(),
        });
    };
    if found.is_some() && !realm_may_have_credentials(&home.origin, &realm_origin) {
        return Err(RegistryError::ClearTextRealm {
            registry: home.name.to_owned(),
            realm: shown,
        });
    }
    let refused = |status: u16, body: ErrorBody| RegistryError::Status {
        subject: "a token".to_owned(),
        location: format!("the token service `{shown}`"),
        status,
        body,
        retry_after: None,
        auth: Some(Box::new(context.clone())),
    };
    let transport = |e: reqwest::Error| super::transport_error(&realm_url, &e);
    let mut response = None;
    if let Some(Found {
        credentials: Credentials::IdentityToken { token, .. },
        ..
    }) = found
    {
        let mut form = Url::parse("form:").map_err(|e| RegistryError::Setup(e.to_string()))?;
        {
            let mut pairs = form.query_pairs_mut();
            pairs
                .append_pair("grant_type", "refresh_token")
                .append_pair("refresh_token", token.expose())
                .append_pair("client_id", "layerget");
            if let Some(s) = service {
                pairs.append_pair("service", s);
            }
            pairs.append_pair("scope", scope);
        }
        // Not redirected (the pools follow none): a refresh token goes to the realm only.
        let r = home
            .pools
            .for_url(&home.origin, &realm_url)
            .post(realm_url.clone())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.query().unwrap_or_default().to_owned())
            .send()
            .await
            .map_err(transport)?;
        home.pools.note_warnings(r.headers());
        if !matches!(r.status().as_u16(), 404 | 405) {
            response = Some(r);
        }
    }
    let response = match response {
        Some(r) => r,
        None => {
            let mut url = realm_url.clone();
            {
                let mut pairs = url.query_pairs_mut();
                if let Some(s) = service {
                    pairs.append_pair("service", s);
                }
                pairs.append_pair("scope", scope);
            }
            let authorization = match found.map(|f| &f.credentials) {
                Some(Credentials::Basic { username, password }) => {
                    Some(basic(username, password.expose()))
                }
                Some(Credentials::IdentityToken { username, token }) => Some(basic(
                    username.as_deref().unwrap_or("<token>"),
                    token.expose(),
                )),
                None => None,
            };
            let credential = authorization.as_ref().map(|a| (&realm_origin, a));
            follow(
                home.pools,
                &home.origin,
                reqwest::Method::GET,
                &url,
                &HeaderMap::new(),
                credential,
            )
            .await?
        }
    };
    let status = response.status().as_u16();
    let body = read_capped(response).await;
    if !(200..300).contains(&status) {
        return Err(refused(status, ErrorBody::decode(&body)));
    }
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
            url: shown.clone(),
            reason: format!("the token response is not JSON ({e})"),
        })?;
    let value = parsed
        .token
        .filter(|t| !t.is_empty())
        .or(parsed.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| RegistryError::Protocol {
            url: shown.clone(),
            reason: "the token response has no token".into(),
        })?;
    // A token goes into a header: one that cannot be a header value is a broken token service.
    if HeaderValue::from_str(&format!("Bearer {value}")).is_err() {
        return Err(RegistryError::Protocol {
            url: shown,
            reason: "the token holds characters a header cannot carry".into(),
        });
    }
    let lifetime = token_lifetime(
        parsed.expires_in,
        parsed.issued_at.as_deref(),
        SystemTime::now(),
    );
    Ok(Token {
        value: Secret::new(value),
        expires: Instant::now() + lifetime,
    })
}

/// How long a fresh token may be used: `expires_in` (default 60 s) counted from `issued_at`
/// when given (clock skew aside), less a margin so it is not used in its last seconds.
fn token_lifetime(expires_in: Option<u64>, issued_at: Option<&str>, now: SystemTime) -> Duration {
    let lifetime = expires_in.map_or(DEFAULT_EXPIRY, Duration::from_secs);
    let elapsed = issued_at
        .and_then(parse_rfc3339)
        .and_then(|issued| now.duration_since(issued).ok())
        // A far-off issued_at is clock skew, not age.
        .filter(|age| *age < lifetime)
        .unwrap_or(Duration::ZERO);
    let left = lifetime.saturating_sub(elapsed);
    left.saturating_sub(SAFETY_MARGIN.min(left / 2))
}

/// Parses `2026-11-28T03:00:00Z` and `…+01:00` / fractional seconds (what token services send).
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let (date, time) = s.split_once(['T', 't'])?;
    let mut d = date.split('-');
    let (y, m, day): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (clock, offset_secs) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else {
        let i = time.rfind(['+', '-'])?;
        let (c, off) = time.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off.get(1..)?.split_once(':')?;
        (
            c,
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
        )
    };
    let clock = clock.split('.').next()?;
    let mut t = clock.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss - offset_secs;
    u64::try_from(secs)
        .ok()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

async fn read_capped(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_TOKEN_BODY {
        match response.chunk().await {
            Ok(Some(c)) => {
                let room = MAX_TOKEN_BODY.saturating_sub(body.len());
                body.extend_from_slice(c.get(..c.len().min(room)).unwrap_or_default());
            }
            _ => break,
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        let t = |s| {
            parse_rfc3339(s).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
        };
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(t("2026-11-28T03:00:00Z"), Some(1_795_834_800));
        assert_eq!(
            t("2026-11-28T04:00:00.123456789+01:00"),
            Some(1_795_834_800)
        );
        assert_eq!(t("2000-02-29T12:00:00Z"), Some(951_825_600));
        assert_eq!(t("2026-13-01T00:00:00Z"), None);
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn lifetimes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_834_800);
        assert_eq!(token_lifetime(None, None, now), Duration::from_secs(55));
        assert_eq!(
            token_lifetime(Some(300), None, now),
            Duration::from_secs(295)
        );
        // Issued 100 s ago with 300 s to live: 200 s left, less the margin.
        assert_eq!(
            token_lifetime(Some(300), Some("2026-11-28T02:58:20Z"), now),
            Duration::from_secs(195)
        );
        // A 2 s token is used for at most 1 s.
        assert_eq!(token_lifetime(Some(2), None, now), Duration::from_secs(1));
        // Skewed clocks: an issued_at in the future or long ago does not shorten it.
        assert_eq!(
            token_lifetime(Some(60), Some("2030-01-01T00:00:00Z"), now),
            Duration::from_secs(55)
        );
        assert_eq!(
            token_lifetime(Some(60), Some("2020-01-01T00:00:00Z"), now),
            Duration::from_secs(55)
        );
    }

    #[test]
    fn clear_text_realms_get_no_credentials() {
        let o = |s: &str| Origin::of(&Url::parse(s).unwrap()).unwrap();
        let https = o("https://registry.example/");
        let http = o("http://registry.example/");
        let loopback = o("http://127.0.0.1:5000/");
        let cases = [
            (&https, "https://auth.example/token", true),
            (&https, "http://auth.example/token", false),
            (&https, "http://127.0.0.1:5001/token", true),
            (&https, "http://localhost:5001/token", true),
            // The registry itself is spoken to in clear text: the realm is no worse.
            (&http, "http://auth.example/token", true),
            // A loopback registry's traffic stays on the machine; the realm's would not.
            (&loopback, "http://auth.example/token", false),
            (&loopback, "http://127.0.0.1:5001/token", true),
        ];
        for (registry, realm, want) in cases {
            assert_eq!(
                realm_may_have_credentials(registry, &o(realm)),
                want,
                "{registry} {realm}"
            );
        }
    }

    #[test]
    fn token_keys_separate_registries_and_identities() {
        let found = |user: &str, pass: &str| Found {
            credentials: Credentials::Basic {
                username: user.into(),
                password: Secret::new(pass),
            },
            source: "test".into(),
        };
        let o = |s: &str| Origin::of(&Url::parse(s).unwrap()).unwrap();
        let key = |registry: &str, who: Option<&Found>| TokenKey {
            registry: o(registry),
            identity: who.map(Identity::of),
            realm: "https://auth.example/token".into(),
            service: Some("svc".into()),
            scope: "repository:a/b:pull".into(),
        };
        let alice = found("alice", "one");
        let base = key("https://real.example/", Some(&alice));
        assert_eq!(base, key("https://real.example:443/", Some(&alice)));
        assert_ne!(base, key("https://evil.example/", Some(&alice)));
        assert_ne!(base, key("https://real.example/", None));
        assert_ne!(
            base,
            key("https://real.example/", Some(&found("alice", "two")))
        );
        // The fingerprint is a digest, not the secret.
        assert!(!format!("{base:?}").contains("one\""));
    }

    #[test]
    fn explanations_name_the_challenge_and_hint() {
        let ctx = AuthContext {
            registry: "127.0.0.1:5000".into(),
            realm: Some("http://127.0.0.1:1/token".into()),
            service: Some("svc".into()),
            scope: Some("repository:a/b:pull".into()),
            user: None,
            redirect_target: None,
        };
        let text = ctx.explain();
        assert!(text.contains("realm `http://127.0.0.1:1/token`"), "{text}");
        assert!(text.contains("service `svc`") && text.contains("scope `repository:a/b:pull`"));
        assert!(text.contains("\nhint: log in with `docker login 127.0.0.1:5000`"));
    }
}
