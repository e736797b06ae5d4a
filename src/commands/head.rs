//! `layerget head REF`: what a registry says about a blob, without downloading it. A probe
//! for diagnosing a registry: status, size, digest, media type, the redirect chain's hosts
//! (never a query: presigned URLs carry credentials there), rate-limit headers, `Warning:
//! 299` texts, and with `--check-range` whether Range is honoured (a 1-byte ranged GET).

use super::{Common, Outcome, category_of, json_error};
use crate::client::retry::{self, Request};
use crate::client::{Client, RangeSupport, RegistryError, host_port};
use crate::output::Printer;
use crate::reference::Reference;

/// Runs `head`; `check_range` adds the 1-byte ranged GET.
pub async fn run(
    common: &Common,
    given: &str,
    check_range: bool,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let reference = Reference::parse_with_digest(given)?;
    if let Some(note) = crate::reference::scheme_note(given) {
        printer.info(&format!("note: {note}"));
    }
    let digest = reference
        .digest()
        .ok_or_else(|| super::UsageError(format!("`{given}` names no digest")))?;
    let client = Client::new(common.client.clone())?;
    let registry_url = client.blob_url(&reference, digest);
    let what = format!("blob `{digest}` of `{}`", reference.location());
    let request = Request {
        client: &client,
        policy: common.retry,
        url: registry_url.clone(),
        what: &what,
    };
    // The last error alone, as before the driver: `head` reports what the registry said.
    let result = retry::run(
        &request,
        |attempt, wait, e: &RegistryError| {
            printer.info(&format!(
                "attempt {attempt} failed ({}); retrying in {:.1} s",
                e.short(),
                wait.as_secs_f64()
            ))
        },
        async |_| client.head_blob(&reference, digest).await,
    )
    .await
    .map_err(|gave_up| gave_up.last);
    let head = match result {
        Ok(head) => head,
        Err(e) => {
            // The registry's own words about itself are worth seeing even when it failed.
            for text in client.take_warnings() {
                printer.warn(&format!("the registry says: {text}"));
            }
            let err = anyhow::Error::new(e);
            if common.json {
                printer.json_line(&json_error(given, &err))?;
            }
            printer.error(&err);
            return Ok(Outcome::Failed(category_of(&err)));
        }
    };
    let range = if check_range {
        match client.check_range(&reference, digest).await {
            Ok(r) => Some(r),
            Err(e) => {
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
    let redirected = if head.final_url.origin() == registry_url.origin() {
        "no".to_owned()
    } else {
        format!("yes, to {final_host}")
    };
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "(not sent)".into());
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
    for w in &warnings {
        text.push_str(&format!("\nwarning:      {w}"));
    }
    printer.data_line(&text)?;
    Ok(Outcome::Success)
}
