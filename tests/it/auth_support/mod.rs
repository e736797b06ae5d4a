//! Hand-written test server: a Docker token server (the token flow of distribution's
//! `docs/spec/auth/token.md`, plus the OAuth2 `POST` of `oauth.md`), and helpers that run the
//! reference registry in token-auth and TLS modes around it, seeded through a plain registry on
//! the same storage.
//!
//! The token server signs RS256 JWTs with `ring`, using the test-only key and self-signed
//! certificate committed in `tests/data/` (see its README; no `openssl` at test time). The
//! registry trusts that certificate through `auth.token.rootcertbundle` and finds it in each
//! token's `x5c` header. Grants: [`ALICE_USER`] gets whatever she asks for on any repository;
//! anyone, even anonymous, gets `pull` on repositories under `public/`; everyone else gets a token
//! with an empty `access` list, which the registry refuses with `insufficient_scope`. Wrong
//! credentials get a 401 with a JSON body and no token.
//!
//! Facts about distribution 2.8.2 that the harness tests at the bottom check:
//! - the challenge is `Bearer realm="…",service="…",scope="repository:<name>:pull"` (no scope
//!   for `GET /v2/`), and a token lacking the scope gets the same challenge plus
//!   `error="insufficient_scope"`;
//! - `exp` and `nbf` are checked with 60 s of leeway, so a token expired 30 s ago still works: a
//!   client renewing tokens is visible at the token server, not as registry refusals.

//!
//! Modules: `token` (the token server and its JWTs), `registries` (the registry in token and TLS
//! modes), `encoding` (base64, forms, timestamps); the harness tests are here. Everything is
//! re-exported, so test modules `use crate::auth_support::*`.

// Not every helper is used until `mod auth;` is enabled.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

mod encoding;
mod registries;
mod token;

pub use encoding::*;
pub use registries::*;
pub use token::*;

/// The user the token server grants everything to.
pub const ALICE_USER: &str = "alice";
/// [`ALICE_USER`]'s password.
pub const ALICE_PASS: &str = "wonderland-secret";
/// An identity (refresh) token standing for [`ALICE_USER`]: accepted as the password of any
/// username in `GET /token`, and as `refresh_token` in the OAuth2 `POST /token`.
pub const ALICE_IDENTITY_TOKEN: &str = "alice-identity-token-7c1f0e";
/// `service` of the token registry (the JWT audience).
pub const TOKEN_SERVICE: &str = "layerget-test";
/// `iss` of the tokens, as the registry is told to expect.
pub const TOKEN_ISSUER: &str = "layerget-test-issuer";
/// Default `expires_in` of issued tokens, in seconds.
pub const DEFAULT_EXPIRES_IN: u64 = 300;

/// A path under `tests/data/` (committed, test-only keys and certificates).
pub fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

// ---------------------------------------------------------------------------------------------
// Harness tests: the token server, the registry's token auth, TLS (raw HTTP, no layerget)
// ---------------------------------------------------------------------------------------------

/// `GET /token` with optional Basic credentials; returns the response.
fn get_token(tokens: &TokenServer, query: &str, auth: Option<(&str, &str)>) -> HttpResponse {
    let authorization = auth.map(|(u, p)| basic_authorization(u, p));
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|a| ("Authorization", a.as_str()))
        .collect();
    http_request(
        &tokens.addr(),
        "GET",
        &format!("/token?{query}"),
        &headers,
        b"",
    )
}

/// The `token` field of a 200 token response.
fn token_of(r: &HttpResponse) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    json["token"].as_str().unwrap().to_owned()
}

#[test]
fn encoders_match_rfc4648_vectors() {
    let vectors = [
        ("", "", ""),
        ("f", "Zg==", "Zg"),
        ("fo", "Zm8=", "Zm8"),
        ("foo", "Zm9v", "Zm9v"),
        ("foob", "Zm9vYg==", "Zm9vYg"),
        ("fooba", "Zm9vYmE=", "Zm9vYmE"),
        ("foobar", "Zm9vYmFy", "Zm9vYmFy"),
    ];
    for (plain, std, url) in vectors {
        assert_eq!(base64(plain.as_bytes()), std);
        assert_eq!(base64url(plain.as_bytes()), url);
        assert_eq!(decode64(std).unwrap(), plain.as_bytes());
    }
    assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    assert_eq!(
        basic_authorization(BASIC_USER, BASIC_PASS),
        BASIC_AUTHORIZATION
    );
    assert_eq!(
        form_decode("scope=repository%3Aa%2Fb%3Apull+x&e=&f"),
        [
            ("scope".into(), "repository:a/b:pull x".into()),
            ("e".into(), String::new()),
            ("f".into(), String::new())
        ]
    );
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400 + 3_723), "2000-02-29T01:02:03Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
}

#[test]
fn token_server_grants_by_caller_and_records_requests() {
    let tokens = TokenServer::start_with(TokenOptions { expires_in: 7 });
    let q = |repo: &str| format!("service={TOKEN_SERVICE}&scope=repository%3A{repo}%3Apull%2Cpush");

    let r = get_token(&tokens, &q("private/app"), Some((ALICE_USER, ALICE_PASS)));
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["token"], json["access_token"]);
    assert_eq!(json["expires_in"], 7);
    assert!(json["issued_at"].as_str().unwrap().ends_with('Z'));
    let claims = token_claims(&token_of(&r));
    assert_eq!(claims["sub"], ALICE_USER);
    assert_eq!(claims["aud"], TOKEN_SERVICE);
    assert_eq!(claims["iss"], TOKEN_ISSUER);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        7
    );
    assert_eq!(
        claims["access"],
        json!([{"type": "repository", "name": "private/app", "actions": ["pull", "push"]}])
    );

    // Anonymous: pull only, only under public/; elsewhere an empty access list.
    let anon_public = token_claims(&token_of(&get_token(&tokens, &q("public/app"), None)));
    assert_eq!(anon_public["access"][0]["actions"], json!(["pull"]));
    assert_eq!(anon_public["sub"], "");
    let anon_private = token_claims(&token_of(&get_token(&tokens, &q("private/app"), None)));
    assert_eq!(anon_private["access"], json!([]));

    // The identity token works as a Basic password and as an OAuth2 refresh token.
    let r = get_token(&tokens, &q("x/y"), Some(("<token>", ALICE_IDENTITY_TOKEN)));
    assert_eq!(token_claims(&token_of(&r))["sub"], ALICE_USER);
    let form = format!(
        "grant_type=refresh_token&refresh_token={ALICE_IDENTITY_TOKEN}&service={TOKEN_SERVICE}\
         &scope=repository%3Ax%2Fy%3Apull&client_id=layerget"
    );
    let r = http_request(
        &tokens.addr(),
        "POST",
        "/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["scope"], "repository:x/y:pull");
    assert_eq!(
        token_claims(json["access_token"].as_str().unwrap())["sub"],
        ALICE_USER
    );

    // A wrong password: 401 with a JSON body, no token.
    let r = get_token(&tokens, &q("private/app"), Some((ALICE_USER, "wrong")));
    assert_eq!(r.status, 401);
    let json: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(json["errors"][0]["code"], "UNAUTHORIZED");
    assert!(json.get("token").is_none());

    let seen = tokens.requests();
    let callers: Vec<Caller> = seen.iter().map(|r| r.caller).collect();
    assert_eq!(
        callers,
        [
            Caller::Alice,
            Caller::Anonymous,
            Caller::Anonymous,
            Caller::AliceByIdentityToken,
            Caller::AliceByIdentityToken,
            Caller::Refused
        ]
    );
    assert_eq!(seen[0].scopes, ["repository:private/app:pull,push"]);
    assert_eq!(seen[0].service.as_deref(), Some(TOKEN_SERVICE));
    assert!(seen[0].authorization && !seen[1].authorization);
    assert_eq!(seen[4].grant_type.as_deref(), Some("refresh_token"));
    assert_eq!(seen[5].status, 401);
    assert_eq!(tokens.issued().len(), 5);
}

#[test]
fn registry_challenges_and_accepts_tokens_and_refuses_insufficient_scope() {
    let setup = TokenRegistry::start();
    let digest = setup.push_blob("private/app", b"private bytes");
    let public = setup.push_blob("public/app", b"public bytes");
    let addr = setup.addr();
    let realm = setup.tokens.realm();
    let bearer = |t: &str| format!("Bearer {t}");

    // Pinned challenge texts of distribution 2.8.2.
    let r = http_request(&addr, "GET", "/v2/", &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(r#"Bearer realm="{realm}",service="{TOKEN_SERVICE}""#)
    );
    let path = format!("/v2/private/app/blobs/{digest}");
    let r = http_request(&addr, "GET", &path, &[], b"");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(
            r#"Bearer realm="{realm}",service="{TOKEN_SERVICE}",scope="repository:private/app:pull""#
        )
    );

    let query = format!("service={TOKEN_SERVICE}&scope=repository:private/app:pull");
    let alice = token_of(&get_token(
        &setup.tokens,
        &query,
        Some((ALICE_USER, ALICE_PASS)),
    ));
    let r = http_request(
        &addr,
        "GET",
        &path,
        &[("Authorization", &bearer(&alice))],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"private bytes");

    // A valid token without the scope: 401 with `error="insufficient_scope"`, not 403.
    let anon = token_of(&get_token(&setup.tokens, &query, None));
    let r = http_request(
        &addr,
        "GET",
        &path,
        &[("Authorization", &bearer(&anon))],
        b"",
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(
            r#"Bearer realm="{realm}",service="{TOKEN_SERVICE}",scope="repository:private/app:pull",error="insufficient_scope""#
        )
    );
    let envelope: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(envelope["errors"][0]["code"], "UNAUTHORIZED");

    let query = format!("service={TOKEN_SERVICE}&scope=repository:public/app:pull");
    let anon = token_of(&get_token(&setup.tokens, &query, None));
    let r = http_request(
        &addr,
        "GET",
        &format!("/v2/public/app/blobs/{public}"),
        &[("Authorization", &bearer(&anon))],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // Something that is not a JWT signed by a trusted key is refused as invalid.
    let r = http_request(
        &addr,
        "GET",
        &path,
        &[("Authorization", "Bearer not.a.jwt")],
        b"",
    );
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .ends_with(r#"error="invalid_token""#)
    );
}

#[test]
fn registry_allows_60_seconds_of_leeway_on_exp() {
    let setup = TokenRegistry::start();
    let digest = setup.push_blob("private/leeway", b"leeway");
    let path = format!("/v2/private/leeway/blobs/{digest}");
    let access = [("private/leeway".to_owned(), vec!["pull".to_owned()])];
    let now = unix_now();
    let status_with_exp = |exp: u64| {
        let token = mint_token(ALICE_USER, &access, exp - 120, exp);
        let auth = format!("Bearer {token}");
        http_request(
            &setup.addr(),
            "GET",
            &path,
            &[("Authorization", &auth)],
            b"",
        )
    };
    assert_eq!(status_with_exp(now + 60).status, 200);
    // Expired 30 s ago: still accepted (the leeway is 60 s, `token.Leeway` in 2.8.2).
    assert_eq!(status_with_exp(now - 30).status, 200);
    // Expired 90 s ago: refused as an invalid token.
    let r = status_with_exp(now - 90);
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .ends_with(r#"error="invalid_token""#),
        "{:?}",
        r.headers
    );
}

#[test]
fn redirect_middleware_sends_blob_gets_to_another_host() {
    let target = redirect_target(b"cdn".to_vec());
    let setup = TokenRegistry::start_with(TokenOptions::default(), |b| {
        b.yaml(&redirect_middleware_yaml(&target.url("/")))
    });
    let digest = setup.push_blob("private/cdn", b"cdn");
    let query = format!("service={TOKEN_SERVICE}&scope=repository:private/cdn:pull");
    let token = token_of(&get_token(
        &setup.tokens,
        &query,
        Some((ALICE_USER, ALICE_PASS)),
    ));
    let r = http_request(
        &setup.addr(),
        "GET",
        &format!("/v2/private/cdn/blobs/{digest}"),
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    );
    assert_eq!(r.status, 307, "{}", r.text());
    let location = r.header("location").unwrap();
    // 2.8.2 keeps only the scheme and host of `baseurl`, then appends the storage path.
    let expected = target.url(&format!(
        "/docker/registry/v2/blobs/sha256/{}/{}/data",
        &digest[7..9],
        &digest[7..]
    ));
    assert_eq!(location, expected);
}

#[test]
fn tls_registry_is_trusted_with_the_test_ca_only() {
    let tls = TlsRegistry::start();
    let addr = tls.registry.addr();
    assert_eq!(https_get_status(&addr, "/v2/", &tls.ca_file()), Ok(200));
    let err = https_get_status(&addr, "/v2/", &tls.unrelated_ca_file()).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    // Plain HTTP to the TLS port: Go answers 400 ("client sent an HTTP request to an HTTPS
    // server").
    assert_eq!(http_request(&addr, "GET", "/v2/", &[], b"").status, 400);
}
