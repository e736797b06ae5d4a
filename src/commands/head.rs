//! `layerget head REF`: what a registry says about a blob, without downloading it. A probe
//! for diagnosing a registry: status, size, digest, media type, the redirect chain's hosts
//! (never a query: presigned URLs carry credentials there), rate-limit headers, `Warning:
//! 299` texts, and with `--check-range` whether Range is honoured (a 1-byte ranged GET).

use super::{Common, Outcome, category_of, json_error};
use crate::client::retry::{self, Request};
use crate::client::{Client, Named, RangeSupport, RegistryError, host_port};
use crate::output::Printer;
use crate::reference::{Endpoint, Reference};

/// Runs `head`; `check_range` adds the 1-byte ranged GET.
pub async fn run(
    common: &Common,
    given: &str,
    check_range: bool,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    // A REF without a digest is refused here: `head` probes one blob.
    let reference = Reference::parse_with_digest(given)?;
    // Parsing drops a scheme (`https://…`) silently; the note says which rule applies
    // instead, since the probe may not go where the user typed.
    if let Some(note) = crate::reference::scheme_note(given) {
        printer.info(&format!("note: {note}"));
    }
    // Parsing required a digest, but the type still says `Option`: no panic if that changes.
    let digest = reference
        .digest()
        .ok_or_else(|| super::UsageError(format!("`{given}` names no digest")))?;
    let client = Client::new(common.client.clone())?;
    let what = format!("blob `{digest}` of `{}`", reference.location());
    let request = Request {
        client: &client,
        policy: common.retry,
        // A 429 holds back this URL's host, for the wait, from every later request of this
        // client: the ranged GET included.
        url: client.blob_url(&reference, digest),
        what: &what,
    };
    // Mirrors first when configured (content by digest), as `fetch` would ask.
    let sources = client.sources(&reference, Named::ByDigest);
    // The last error alone, as before the driver: `head` reports what the registry said
    // (after a failover, with the sources tried before it).
    let result = retry::run_over(
        &request,
        &sources,
        |attempt, wait, e: &RegistryError| {
            printer.info(&format!(
                "attempt {attempt} failed ({}); retrying in {:.1} s",
                e.short(),
                wait.as_secs_f64()
            ))
        },
        // Every attempt at one source sends the same HEAD; the source that answered is kept
        // for the ranged GET.
        async |_, source| {
            let head = client.head_blob(&reference, source, digest).await?;
            Ok((head, source.clone()))
        },
    )
    .await
    .map_err(|gave_up| {
        let tried = gave_up.tried.join("; ");
        let last = anyhow::Error::new(gave_up.last);
        if tried.is_empty() {
            last
        } else {
            last.context(format!(
                "no source answered for blob `{digest}` (tried before: {tried})"
            ))
        }
    });
    let (head, source) = match result {
        Ok(answer) => answer,
        Err(err) => {
            // The registry's own words about itself are worth seeing even when it failed.
            for text in client.take_warnings() {
                printer.warn(&format!("the registry says: {text}"));
            }
            // Printed here, after the registry's warnings, and returned as an outcome so that
            // `main` does not print it again; the exit code still follows its category. With
            // `--json` the REF's one line is the error object.
            if common.json {
                printer.json_line(&json_error(given, &err))?;
            }
            printer.error(&err);
            return Ok(Outcome::Failed(category_of(&err)));
        }
    };
    let range = if check_range {
        // A real ranged GET: `Accept-Ranges` is optional (RFC 9110, 14.3), so a HEAD without
        // it proves nothing.
        match client.check_range(&reference, &source, digest).await {
            Ok(r) => Some(r),
            Err(e) => {
                // A warning only: the HEAD's answer stands on its own.
                printer.warn(&format!("cannot check Range: {}", e.short()));
                None
            }
        }
    } else {
        None
    };
    // Every request's warnings, each once: the HEAD's and the ranged GET's.
    let warnings = client.take_warnings();
    let final_host = host_port(&head.final_url);
    // The hops after the registry: `host[:port]` only, never a path or query.
    let redirects: Vec<&String> = head.hops.iter().skip(1).collect();
    if common.json {
        printer.json_line(&serde_json::json!({
            "ref": given,
            "status": head.status,
            "size": head.size,
            "digest": head.digest,
            "content_type": head.content_type,
            "final_host": final_host,
            "redirects": redirects,
            // `null` when not checked, or when the blob is empty and no byte range exists.
            "range_honoured": match range {
                Some(RangeSupport::Honoured) => Some(true),
                Some(RangeSupport::Ignored { .. }) => Some(false),
                Some(RangeSupport::Unsatisfiable) | None => None,
            },
            "rate_limit": {
                "limit": head.rate_limit.limit,
                "remaining": head.rate_limit.remaining,
                "retry_after": head.rate_limit.retry_after,
            },
            "warnings": warnings,
        }))?;
        return Ok(Outcome::Success);
    }
    // Another origin (scheme, host, port) is what matters: the registry's credentials are
    // not sent there. Hops within its own origin still show on the `redirects:` line.
    // The source that answered: a mirror's own host is no redirect.
    let asked = client.url_at(&reference, &source, Endpoint::Blob(digest));
    let redirected = if head.final_url.origin() == asked.origin() {
        "no".to_owned()
    } else {
        format!("yes, to {final_host}")
    };
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "(not sent)".into());
    // Padded to one column for a person to read; `--json` is the form for scripts.
    let mut text = format!(
        "ref:          {reference}\nstatus:       {}\nsize:         {}\ndigest:       {}\ncontent-type: {}\nredirected:   {redirected}",
        head.status,
        or_none(head.size.map(|s| s.to_string())),
        or_none(head.digest),
        or_none(head.content_type),
    );
    if !redirects.is_empty() {
        text.push_str(&format!("\nredirects:    {}", head.hops.join(" -> ")));
    }
    if let Some(m) = source.mirror() {
        text.push_str(&format!("\nsource:       mirror {m}"));
    }
    match range {
        Some(RangeSupport::Honoured) => text.push_str("\nrange:        honoured (HTTP 206)"),
        Some(RangeSupport::Ignored { status }) => text.push_str(&format!(
            "\nrange:        ignored (HTTP {status}: the whole blob comes back, so an interrupted download restarts from zero)"
        )),
        Some(RangeSupport::Unsatisfiable) => {
            text.push_str("\nrange:        not applicable (HTTP 416: the blob is empty)")
        }
        None => {}
    }
    let rl = &head.rate_limit;
    // Shown as sent (`100;w=21600`), not interpreted.
    if !rl.is_empty() {
        let parts: Vec<String> = [
            ("limit", &rl.limit),
            ("remaining", &rl.remaining),
            ("retry-after", &rl.retry_after),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_ref().map(|v| format!("{name} {v}")))
        .collect();
        text.push_str(&format!("\nrate-limit:   {}", parts.join(", ")));
    }
    // Sanitised by the client already, and `data_line` sanitises the whole text again.
    for w in &warnings {
        text.push_str(&format!("\nwarning:      {w}"));
    }
    printer.data_line(&text)?;
    Ok(Outcome::Success)
}
