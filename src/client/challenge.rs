//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1 and §11.2): pure, table-tested, and written
//! to never panic on hostile input.
//!
//! A header may hold several challenges (`Bearer realm="…",service="…", Basic realm="…"`), a
//! response may carry several headers, scheme and parameter names are case-insensitive, and
//! values are tokens or quoted strings with `\` escapes. Registries put spaces inside quoted
//! scopes (`scope="repository:a:pull repository:b:pull"`).

/// One challenge: an authentication scheme and its parameters (names lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The authentication scheme, lowercased (`bearer`, `basic`); not a URL scheme.
    pub auth_scheme: String,
    /// Parameters in order, names lowercased.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter's value by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this is the given authentication scheme.
    pub fn is(&self, auth_scheme: &str) -> bool {
        self.auth_scheme.eq_ignore_ascii_case(auth_scheme)
    }
}

/// Parses all challenges in the given header values. Malformed parts are skipped, so a bad
/// challenge next to a good one does not hide the good one.
pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for value in values {
        parse_one(value, &mut out);
    }
    out
}

/// RFC 9110 §5.6.2 `tchar`: what a token (a scheme, a parameter name, an unquoted value) may
/// hold. All ASCII, so a token's length in bytes is its length in chars.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A position in one header value. `pos` is always a char boundary and at most `s.len()`: it
/// only moves past ASCII (whitespace, commas, `=`, quotes, tchars), to the byte after an ASCII
/// `"` or `,` that was found, or to the end. So the slicing below cannot panic, whatever the
/// server sent.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }
    /// Optional whitespace (OWS, BWS): spaces and tabs.
    fn skip_ws(&mut self) {
        while let Some(c) = self.rest().chars().next() {
            if c == ' ' || c == '\t' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }
    /// Whitespace and list commas, empty elements included: RFC 9110 §5.6.1.2 says a recipient
    /// MUST parse and ignore a reasonable number of them (`a, , b`).
    fn skip_ws_and_commas(&mut self) {
        while let Some(c) = self.rest().chars().next() {
            if c == ' ' || c == '\t' || c == ',' {
                self.pos += 1;
            } else {
                break;
            }
        }
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    /// A token (`1*tchar`), or `None` with the cursor unmoved.
    fn token(&mut self) -> Option<String> {
        let len: usize = self
            .rest()
            .chars()
            .take_while(|c| is_tchar(*c))
            .map(char::len_utf8)
            .sum();
        if len == 0 {
            return None;
        }
        let t = self.rest()[..len].to_owned();
        self.pos += len;
        Some(t)
    }
    /// A quoted string, after the opening quote has been seen; unterminated strings run to the
    /// end.
    fn quoted(&mut self) -> String {
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return out;
                }
                // quoted-pair: the next char stands for itself; a `\` at the very end is
                // dropped.
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        out.push(escaped);
                    }
                }
                c => out.push(c),
            }
        }
        // No closing quote: the rest of the value was the string.
        self.pos = self.s.len();
        out
    }
    /// A token68 (`[A-Za-z0-9-._~+/]+=*`), used by some schemes instead of parameters;
    /// `None`, with the cursor unmoved, when what follows is not one.
    fn token68(&mut self) -> Option<String> {
        let body: usize = self
            .rest()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-._~+/".contains(*c))
            // All ASCII: counting chars counts bytes.
            .count();
        if body == 0 {
            return None;
        }
        let pad: usize = self.rest()[body..]
            .chars()
            .take_while(|c| *c == '=')
            .count();
        let end = body + pad;
        // Only a token68 when nothing but a comma or the end follows. That is what tells
        // `Negotiate abc==` from `Basic realm=x`: a parameter's `=` is followed by its value.
        let after = self.rest()[end..].trim_start_matches([' ', '\t']);
        if !(after.is_empty() || after.starts_with(',')) {
            return None;
        }
        let t = self.rest()[..end].to_owned();
        self.pos += end;
        Some(t)
    }
}

/// Parses the challenges of one header value into `out`. Always ends: each pass of the outer
/// loop consumes a scheme token, skips past a comma, or returns.
fn parse_one(value: &str, out: &mut Vec<Challenge>) {
    let mut c = Cursor { s: value, pos: 0 };
    loop {
        c.skip_ws_and_commas();
        let Some(scheme) = c.token() else {
            // Not a scheme: skip to the next comma and try again.
            match c.rest().find(',') {
                Some(i) => {
                    c.pos += i + 1;
                    continue;
                }
                None => return,
            }
        };
        let mut challenge = Challenge {
            auth_scheme: scheme.to_ascii_lowercase(),
            params: Vec::new(),
        };
        c.skip_ws();
        let save = c.pos;
        // A token68 is kept as the one parameter, with an empty name.
        if let Some(t68) = c.token68() {
            challenge.params.push((String::new(), t68));
            out.push(challenge);
            continue;
        }
        c.pos = save;
        // auth-params: name BWS "=" BWS (token / quoted-string), separated by commas. A name
        // that is not followed by `=` starts the next challenge.
        loop {
            c.skip_ws_and_commas();
            let start = c.pos;
            let Some(name) = c.token() else { break };
            c.skip_ws();
            if c.peek() != Some('=') {
                c.pos = start;
                break;
            }
            c.pos += 1;
            c.skip_ws();
            let value = match c.peek() {
                Some('"') => c.quoted(),
                // `name=` without a usable value keeps the name, with an empty value.
                _ => c.token().unwrap_or_default(),
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
        out.push(challenge);
        // Otherwise the cursor is at the next challenge's scheme, or at junk the outer loop
        // skips.
        if c.pos >= c.s.len() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn one(v: &str) -> Vec<Challenge> {
        parse([v])
    }

    /// Docker Hub's challenge; mixed case, spaces and a second scheme in one value; escapes;
    /// commas inside quotes; a token68 scheme; several headers; junk around a good challenge.
    #[test]
    fn table() {
        // Docker Hub's, for a public repository.
        let c = one(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        );
        assert_eq!(c.len(), 1);
        assert!(c[0].is("bearer"));
        assert_eq!(c[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c[0].param("SERVICE"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/alpine:pull"));

        // Names in any case, spaces around commas, a scope with spaces, then a Basic challenge.
        let c = one(
            r#"BEARER Realm="r", Service=svc , scope="repository:a:pull repository:b:pull", Basic realm="basic realm""#,
        );
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].param("service"), Some("svc"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:a:pull repository:b:pull")
        );
        assert!(c[1].is("Basic"));
        assert_eq!(c[1].param("realm"), Some("basic realm"));

        let c = one(r#"Basic realm="with \"quotes\" and \\ slash""#);
        assert_eq!(c[0].param("realm"), Some(r#"with "quotes" and \ slash"#));

        // The error a registry adds when a token lacks the scope, and a comma inside quotes.
        let c =
            one(r#"Bearer realm="x",error="insufficient_scope",scope="repository:a:pull,push""#);
        assert_eq!(c[0].param("error"), Some("insufficient_scope"));
        assert_eq!(c[0].param("scope"), Some("repository:a:pull,push"));

        // A token68 scheme, then a scheme with parameters.
        let c = one("Negotiate abc123==, Basic realm=x");
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].params, vec![(String::new(), "abc123==".to_owned())]);
        assert_eq!(c[1].param("realm"), Some("x"));

        let c = one("Basic");
        assert_eq!(
            c,
            vec![Challenge {
                auth_scheme: "basic".into(),
                params: vec![]
            }]
        );

        // Several headers.
        let c = parse(["Basic realm=a", r#"Bearer realm="b""#]);
        assert_eq!(c.len(), 2);

        // Junk around a good challenge.
        let c = one(r#",, ="x", Bearer realm="ok""#);
        assert!(
            c.iter()
                .any(|c| c.is("bearer") && c.param("realm") == Some("ok")),
            "{c:?}"
        );
        assert!(one("").is_empty());
        assert_eq!(
            one(r#"Bearer realm="unterminated"#)[0].param("realm"),
            Some("unterminated")
        );
    }

    proptest! {
        /// Arbitrary input (up to 200 non-control chars), however garbled, parses without a panic.
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse([s.as_str()]);
        }

        /// Any printable ASCII value, escaped as a server must, comes back exactly, and the
        /// parameter after it is still found.
        #[test]
        fn quoted_values_round_trip(v in "[ -~]{0,40}") {
            let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
            let c = parse([format!("Bearer realm=\"{escaped}\", service=s").as_str()]);
            prop_assert_eq!(c[0].param("realm"), Some(v.as_str()));
            prop_assert_eq!(c[0].param("service"), Some("s"));
        }
    }
}
