//! Registry authentication: answering `WWW-Authenticate` challenges with Basic credentials or
//! a bearer token from the registry's token service (the Docker token flow, "Token
//! Authentication Specification" of the Docker Registry HTTP API v2).
//!
//! State is per client and shared by every concurrent transfer, and everything of it belongs
//! to one registry origin (scheme, host, port): credentials are looked up once per registry,
//! the authentication scheme a registry asked for (`AuthScheme`: Bearer or Basic) is
//! remembered per origin (so later requests carry credentials up front instead of collecting
//! a 401 each), and tokens are cached per
//! (registry origin, credential identity, realm, service, scope) until shortly before they
//! expire. A registry that names another registry's realm therefore gets a token of its own
//! (made with its own credentials, usually none), never the other registry's. Token fetches
//! are serialized, so several transfers that start at once cause one token request.
//!
//! Which responses may teach a challenge is the send loop's business (`Client::send_at`: only
//! those from the registry's own origin); what this module refuses itself is a token realm
//! in clear text: credentials for an https registry never go to a non-loopback `http://`
//! realm.
//!
//! This file keeps the state (credentials, learned schemes, the token cache); `token` talks to
//! the token service and decides how long a token lives.

mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use reqwest::header::HeaderValue;
use tokio::sync::OnceCell;

use self::token::{Token, fetch_token};
use super::challenge::Challenge;
use super::credentials::{Credentials, Found, Sources, base64_encode};
use super::{Home, RegistryError};
use crate::digest::{Algorithm, digest_bytes};
use crate::reference::Origin;

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

/// How the registry at an origin asked to be authenticated (its `WWW-Authenticate`
/// challenge, as learned): not to be confused with a URL scheme (`http`/`https`).
#[derive(Debug, Clone)]
enum AuthScheme {
    /// A bearer token from the token service at `realm`.
    Bearer {
        realm: String,
        service: Option<String>,
    },
    /// Basic credentials on every request.
    Basic { realm: Option<String> },
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
    auth_schemes: Mutex<HashMap<Origin, AuthScheme>>,
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
            auth_schemes: Mutex::default(),
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

    fn auth_schemes(&self) -> std::sync::MutexGuard<'_, HashMap<Origin, AuthScheme>> {
        // A panic while holding the lock cannot leave the map half-updated (single inserts).
        self.auth_schemes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers the challenge the registry at `origin` answered with. Bearer is preferred
    /// over Basic, as docker does. The caller makes sure the challenge came from `origin`.
    pub fn learn(&self, origin: &Origin, challenges: &[Challenge]) -> bool {
        let auth_scheme = challenges
            .iter()
            .find_map(|c| {
                let realm = c.param("realm").filter(|_| c.is("bearer"))?;
                Some(AuthScheme::Bearer {
                    realm: realm.to_owned(),
                    service: c.param("service").map(str::to_owned),
                })
            })
            .or_else(|| {
                challenges
                    .iter()
                    .find(|c| c.is("basic"))
                    .map(|c| AuthScheme::Basic {
                        realm: c.param("realm").map(str::to_owned),
                    })
            });
        match auth_scheme {
            Some(s) => {
                self.auth_schemes().insert(origin.clone(), s);
                true
            }
            None => false,
        }
    }

    /// The authentication scheme the registry at `origin` asked for, once it has.
    fn auth_scheme(&self, origin: &Origin) -> Option<AuthScheme> {
        self.auth_schemes().get(origin).cloned()
    }

    /// Forgets a token the registry refused, so the next request fetches a new one.
    pub async fn forget(&self, authorization: &Authorization) {
        if let Some(key) = &authorization.token_key {
            self.tokens.lock().await.remove(key);
        }
    }

    /// The `Authorization` for a request to the registry `home` needing `scope`, when its
    /// authentication scheme is known: a cached or fresh bearer token, or Basic credentials. `None` when
    /// nothing is known yet or Basic is asked without credentials.
    pub(crate) async fn authorize(
        &self,
        home: &Home<'_>,
        scope: &str,
    ) -> Result<Option<Authorization>, RegistryError> {
        let Some(auth_scheme) = self.auth_scheme(&home.origin) else {
            return Ok(None);
        };
        let found = self.credentials(&home.name).await;
        let user = found
            .as_ref()
            .map(|f| (f.credentials.username().to_owned(), f.source.clone()));
        match auth_scheme {
            AuthScheme::Basic { realm } => {
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
                        registry: home.name.to_string(),
                        realm,
                        service: None,
                        scope: None,
                        user,
                        redirect_target: None,
                    },
                    token_key: None,
                }))
            }
            AuthScheme::Bearer { realm, service } => {
                let context = AuthContext {
                    registry: home.name.to_string(),
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
        let (realm, service) = match self.auth_scheme(origin) {
            Some(AuthScheme::Bearer { realm, service }) => (Some(realm), service),
            Some(AuthScheme::Basic { realm }) => (realm, None),
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

#[cfg(test)]
mod tests {
    use reqwest::Url;

    use super::*;
    use crate::client::credentials::Secret;

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
