//! The token service half of the Docker token flow: asking the realm a challenge named for a
//! bearer token (OAuth2 POST with a refresh token, else GET with Basic credentials or none),
//! refusing to send credentials to a clear-text realm, and how long the token may be used.
//! Which token to ask for and caching it are the parent module's job.

use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;

use super::{AuthContext, TokenKey, basic};
use crate::client::credentials::{Credentials, Found, Secret};
use crate::client::{Home, RegistryError, follow, redact};
use crate::envelope::ErrorBody;
use crate::reference::Origin;

/// Token lifetime when the token service does not say (the spec's default).
const DEFAULT_EXPIRY: Duration = Duration::from_secs(60);
/// Taken off the end of a token's lifetime, so that it is not sent in its last seconds (a
/// request still in flight when it expires would be refused). At most half the lifetime, so a
/// very short-lived token is still used (see `token_lifetime`).
const SAFETY_MARGIN: Duration = Duration::from_secs(5);
/// The most of a token response that is read. Tokens are far smaller in practice; the cap keeps
/// a hostile or broken realm from filling memory.
const MAX_TOKEN_BODY: usize = 256 * 1024;

/// A bearer token and when to stop using it.
#[derive(Debug, Clone)]
pub(super) struct Token {
    /// The token.
    pub(super) value: Secret,
    /// When to fetch a new one.
    pub(super) expires: Instant,
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

/// The token service's answer. `token` is the Docker name, `access_token` the OAuth2 one: the
/// spec accepts either, allows both (they should be equal), and says `issued_at` (RFC 3339)
/// dates `expires_in` (seconds). Other fields (`refresh_token`, `scope`) are ignored.
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
pub(super) async fn fetch_token(
    home: &Home<'_>,
    key: &TokenKey,
    found: Option<&Found>,
    context: &AuthContext,
) -> Result<Token, RegistryError> {
    let (realm, service, scope) = (&key.realm, key.service.as_deref(), key.scope.as_str());
    // The realm is the server's word, not ours: a malformed one is a protocol error.
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
    // Checked before any request, so a refused realm sees nothing. Without credentials a
    // clear-text realm is allowed: there is nothing to leak.
    if found.is_some() && !realm_may_have_credentials(&home.origin, &realm_origin) {
        return Err(RegistryError::ClearTextRealm {
            registry: home.name.to_string(),
            realm: shown,
        });
    }
    // A refusal keeps the auth context, so its message can name the realm, scope and user.
    let refused = |status: u16, body: ErrorBody| RegistryError::Status {
        subject: "a token".to_owned(),
        location: format!("the token service `{shown}`"),
        status,
        body,
        retry_after: None,
        auth: Some(Box::new(context.clone())),
    };
    let transport = |e: reqwest::Error| crate::client::transport_error(&realm_url, &e);
    let mut response = None;
    // An identity token (docker's `identitytoken`) is an OAuth2 refresh token, exchanged with
    // `grant_type=refresh_token`; the spec requires a `client_id`.
    if let Some(Found {
        credentials: Credentials::IdentityToken { token, .. },
        ..
    }) = found
    {
        // A throwaway URL, used only for its form-urlencoded query serializer.
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
        // 404/405: the service has no OAuth2 endpoint; the GET below sends the token as a
        // Basic password instead. Any other answer, a refusal included, is final.
        if !matches!(r.status().as_u16(), 404 | 405) {
            response = Some(r);
        }
    }
    let response = match response {
        Some(r) => r,
        None => {
            // `service` and `scope` go after any query the realm URL has already. Several
            // scopes (a push that mounts: `repository:DEST:pull,push repository:SRC:pull`) are
            // one `scope` parameter each, as the token spec has them and docker and containerd
            // send them (the OAuth2 form above takes them space-separated, as OAuth2 does).
            let mut url = realm_url.clone();
            {
                let mut pairs = url.query_pairs_mut();
                if let Some(s) = service {
                    pairs.append_pair("service", s);
                }
                for one in scope.split(' ').filter(|s| !s.is_empty()) {
                    pairs.append_pair("scope", one);
                }
            }
            let authorization = match found.map(|f| &f.credentials) {
                Some(Credentials::Basic { username, password }) => {
                    Some(basic(username, password.expose()))
                }
                // `<token>` is the user name docker's credential helpers give an identity
                // token.
                Some(Credentials::IdentityToken { username, token }) => Some(basic(
                    username.as_deref().unwrap_or("<token>"),
                    token.expose(),
                )),
                None => None,
            };
            // Bound to the realm's origin: `follow` sends it there only, never to a host the
            // realm redirects to.
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
    // Read whatever the status: an error body may be the JSON envelope that says why.
    let body = read_capped(response).await;
    if !(200..300).contains(&status) {
        return Err(refused(status, ErrorBody::decode(&body)));
    }
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
            url: shown.clone(),
            reason: format!("the token response is not JSON ({e})"),
        })?;
    // Whichever field is non-empty, `token` first (when both are sent they should be equal).
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
    // At most half the time left goes to the margin: a 2 s token is used for 1 s, not never.
    let left = lifetime.saturating_sub(elapsed);
    left.saturating_sub(SAFETY_MARGIN.min(left / 2))
}

/// Parses `2026-11-28T03:00:00Z` and `…+01:00` / fractional seconds (what token services send).
/// `None` for anything else (and before 1970), and the token is then counted from when it
/// arrived.
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let time = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    // Fractional seconds are dropped: a second more or less does not matter here.
    let secs = u64::try_from(time.timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// The body, cut at `MAX_TOKEN_BODY` bytes. A transport error ends it early with what came;
/// the JSON parse that follows then fails with a message.
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

    /// UTC, an offset with fractional seconds, a leap day, and refusals (a 13th month, no
    /// date at all).
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

    /// The default and the margin, age counted from `issued_at`, the half-lifetime cap on the
    /// margin, and skewed clocks, which must not shorten a token.
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

    /// Which realms may be sent credentials, by the registry's origin and the realm's.
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
}
