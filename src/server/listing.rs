//! The lists: `/v2/<name>/tags/list` and `/v2/_catalog`, paged; and the query parameters
//! `serve` understands.

use axum::body::Body;
use axum::http::header;
use axum::http::{Response, StatusCode};

use super::{ApiError, json_response, value};
use crate::store::{ContentStore, ns_registry};

/// `GET /v2/<name>/tags/list[?n=N&last=TAG]` ("Listing Tags"): sorted, `n` at most, after
/// `last`, with a `Link` to the next page when more remain.
pub(super) async fn tags_list<S: ContentStore>(
    source: &S,
    name: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let index = source.refs().await?;
    let tags = index
        .tags(name, query.ns.as_deref())
        .ok_or_else(|| ApiError::NameUnknown(name.to_owned()))?;
    let (page, more) = paginate(tags, query)?;
    let body = serde_json::json!({ "name": name, "tags": page }).to_string();
    let mut response = json_response(StatusCode::OK, "application/json", body);
    if let (true, Some(n), Some(last_tag)) = (more, query.n.as_deref(), page.last()) {
        // The name and tags are validated, so they need no escaping in a URL.
        let link = format!(
            "</v2/{name}/tags/list?n={n}&last={last_tag}{}>; rel=\"next\"",
            query.ns_param()
        );
        response.headers_mut().insert(header::LINK, value(link));
    }
    Ok(response)
}

/// `GET /v2/_catalog[?n=N&last=REPO]` ("Listing Repositories" of distribution's API): the
/// repositories with tags in the cache, sorted, paged as distribution pages them, with its
/// `Link` form (`last` before `n`).
pub(super) async fn catalog<S: ContentStore>(
    source: &S,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let index = source.refs().await?;
    let (page, more) = paginate(index.repositories(query.ns.as_deref()), query)?;
    let body = serde_json::json!({ "repositories": page }).to_string();
    let mut response = json_response(StatusCode::OK, "application/json", body);
    if let (true, Some(n), Some(last)) = (more, query.n.as_deref(), page.last()) {
        let link = format!(
            "</v2/_catalog?last={}&n={n}{}>; rel=\"next\"",
            form_encode(last),
            query.ns_param()
        );
        response.headers_mut().insert(header::LINK, value(link));
    }
    Ok(response)
}

/// A page of sorted `items`: those after `last`, at most `n`; and whether more remain.
fn paginate<'a>(
    items: impl Iterator<Item = &'a str>,
    query: &Query,
) -> Result<(Vec<&'a str>, bool), ApiError> {
    let n: Option<usize> = match query.n.as_deref() {
        None => None,
        Some(v) => Some(
            (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .then(|| v.parse().ok())
                .flatten()
                .ok_or_else(|| ApiError::PaginationNumberInvalid(v.to_owned()))?,
        ),
    };
    let last = query.last.as_deref();
    let mut after = items.filter(|t| last.is_none_or(|l| *t > l)).peekable();
    let page: Vec<&str> = match n {
        Some(n) => after.by_ref().take(n).collect(),
        None => after.by_ref().collect(),
    };
    Ok((page, after.peek().is_some()))
}

/// The query parameters `serve` understands, percent-decoded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Query {
    /// `ns`: the registry a containerd mirror asks for, normalized ([`ns_registry`]);
    /// an invalid one is the empty string, which names no registry.
    pub(super) ns: Option<String>,
    /// The `ns` as sent (decoded), for `Link` headers.
    ns_raw: Option<String>,
    /// `n`, unparsed (pagination validates it).
    pub(super) n: Option<String>,
    /// `last`.
    pub(super) last: Option<String>,
}

impl Query {
    pub(super) fn parse(query: Option<&str>) -> Query {
        let mut q = Query::default();
        for (k, v) in query_pairs(query.unwrap_or("")) {
            match k.as_str() {
                "ns" => {
                    q.ns = Some(ns_registry(&v).unwrap_or_default());
                    q.ns_raw = Some(v);
                }
                "n" => q.n = Some(v),
                "last" => q.last = Some(v),
                _ => {}
            }
        }
        q
    }

    /// `&ns=…` for a `Link` header when the request had one (only if it is a valid registry,
    /// which needs no escaping).
    fn ns_param(&self) -> String {
        match (&self.ns, &self.ns_raw) {
            (Some(ns), Some(raw)) if !ns.is_empty() => format!("&ns={}", form_encode(raw)),
            _ => String::new(),
        }
    }
}

/// A query value escaped as Go's `url.QueryEscape` does it for the text we put there (names,
/// registries): all but `A-Za-z0-9-_.~` as `%XX` (`beta/one` is `beta%2Fone`, as distribution
/// writes it).
pub(super) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `application/x-www-form-urlencoded` pairs of a query string: `+` is a space, `%XX` a byte
/// (an invalid escape is kept as it is), and the bytes are read as UTF-8 (lossily).
pub(super) fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
            match b {
                b'+' => out.push(b' '),
                b'%' => {
                    if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    out.push(b'%');
                }
                _ => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}
