//! Text from outside made safe to show: one sanitiser for everything a registry, token
//! service, credential helper, client or file may have written, used at the output boundary
//! (`output`, the log formatter in `main`) and, for text that must stay on one line, where a
//! server's words are decoded (`envelope`).
//!
//! A registry's error message is shown to a person in a terminal. Control characters there are
//! instructions to the terminal, not text: `ESC ] 52 ; c ; …` writes the clipboard, `ESC [ 2 J`
//! clears the screen, a bare `CR` overwrites what was printed before it, and the C1 controls
//! (U+0080–U+009F, e.g. U+009B, a one-character CSI) do the same on terminals that honour them.
//! Unicode's bidirectional overrides reorder what is shown ("Trojan Source", CVE-2021-42574).
//! All of these are escaped as `\u{…}` (or `\n`, `\r`, `\t`), so what was sent stays readable
//! and nothing reaches the terminal as a command. Pure code.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether line breaks (`\n`) and tabs pass through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// Keep `\n` and `\t`: the text is layerget's own message, whose lines (a `hint:` line)
    /// are meant; anything from outside in it was escaped with [`Lines::Escape`] already.
    Keep,
    /// Escape them too: the text came from outside and must not start a line of its own
    /// (a registry must not be able to print a `hint:` or `error:` line that looks like ours).
    Escape,
}

/// Whether `c` must not reach a terminal as it is.
fn is_unsafe(c: char, lines: Lines) -> bool {
    match c {
        '\n' | '\t' => lines == Lines::Escape,
        // C0, DEL and C1.
        c if c.is_control() => true,
        // Bidirectional marks, embeddings, overrides and isolates (Unicode UAX #9).
        '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

/// `s` with every control character (and bidirectional control) escaped; borrowed when there
/// was nothing to escape.
pub fn sanitize(s: &str, lines: Lines) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c, lines)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !is_unsafe(c, lines) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// A serialized JSON document with the characters that JSON allows raw but a terminal obeys
/// (DEL, C1, bidirectional controls) written as `\uXXXX` escapes: the same JSON value, safe to
/// print. serde_json escapes C0 controls itself.
pub fn sanitize_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| is_unsafe(c, Lines::Keep)) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c, Lines::Keep) {
            // Every such character is in the Basic Multilingual Plane: one `\uXXXX`.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases: &[(&str, Lines, &str)] = &[
            ("plain text", Lines::Escape, "plain text"),
            ("two\nlines\tand tab", Lines::Keep, "two\nlines\tand tab"),
            ("two\nlines", Lines::Escape, "two\\nlines"),
            ("a\rb", Lines::Keep, "a\\rb"),
            (
                "\u{1b}]52;c;ZXZpbA==\u{7}",
                Lines::Keep,
                "\\u{1b}]52;c;ZXZpbA==\\u{7}",
            ),
            ("\u{1b}[2J", Lines::Escape, "\\u{1b}[2J"),
            ("c1 \u{9b}31m", Lines::Keep, "c1 \\u{9b}31m"),
            ("del\u{7f}", Lines::Keep, "del\\u{7f}"),
            ("nul\0", Lines::Keep, "nul\\u{0}"),
            ("bidi \u{202e}txt.exe", Lines::Keep, "bidi \\u{202e}txt.exe"),
            (
                "isolate \u{2067}x\u{2069}",
                Lines::Keep,
                "isolate \\u{2067}x\\u{2069}",
            ),
            ("ünïcödé ✓ 漢字", Lines::Escape, "ünïcödé ✓ 漢字"),
        ];
        for (input, lines, want) in cases {
            assert_eq!(sanitize(input, *lines), *want, "{input:?}");
        }
        assert!(matches!(sanitize("ok", Lines::Escape), Cow::Borrowed(_)));
    }

    #[test]
    fn json_stays_the_same_value() {
        let value = serde_json::json!({"m": "a\u{1b}b\u{9b}c\u{7f}d\u{202e}e\nf"});
        let text = value.to_string();
        let safe = sanitize_json(&text);
        assert!(!safe.chars().any(|c| c.is_control()), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
    }

    proptest! {
        #[test]
        fn nothing_unsafe_survives(s in any::<String>()) {
            let escaped = sanitize(&s, Lines::Escape);
            prop_assert!(!escaped.chars().any(|c| is_unsafe(c, Lines::Escape)));
            let kept = sanitize(&s, Lines::Keep);
            prop_assert!(!kept.chars().any(|c| is_unsafe(c, Lines::Keep)));
            let json = serde_json::Value::String(s.clone()).to_string();
            let safe = sanitize_json(&json);
            prop_assert!(!safe.chars().any(|c| c.is_control()));
            let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
            prop_assert_eq!(back, serde_json::Value::String(s));
        }
    }
}
