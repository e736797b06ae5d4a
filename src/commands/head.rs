//! `layerget head REF`: what a registry says about a blob (status, size, digest, media type,
//! where it redirected), without downloading it.

use super::{Common, Outcome, category_of, json_error};
use crate::client::{Client, host_port};
use crate::output::Printer;
use crate::reference::Reference;

/// Runs `head`.
pub async fn run(common: &Common, given: &str, printer: &Printer) -> anyhow::Result<Outcome> {
    let reference = Reference::parse_with_digest(given)?;
    if let Some(note) = crate::reference::scheme_note(given) {
        printer.info(&format!("note: {note}"));
    }
    let digest = reference.digest().expect("checked by parse_with_digest");
    let client = Client::new(common.client.clone())?;
    let registry_url = client.blob_url(&reference, digest);
    let mut attempt = 1;
    let result = loop {
        match client.head_blob(&reference, digest).await {
            Ok(head) => break Ok(head),
            Err(e) => match common.retry.delay(attempt, e.failure()) {
                Some(wait) => {
                    printer.info(&format!(
                        "attempt {attempt} failed ({}); retrying in {:.1} s",
                        e.short(),
                        wait.as_secs_f64()
                    ));
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                None => break Err(e),
            },
        }
    };
    let head = match result {
        Ok(head) => head,
        Err(e) => {
            let err = anyhow::Error::new(e);
            if common.json {
                printer.json_line(&json_error(given, &err))?;
            }
            printer.error(&err);
            return Ok(Outcome::Failed(category_of(&err)));
        }
    };
    let final_host = host_port(&head.final_url);
    if common.json {
        printer.json_line(&serde_json::json!({
            "ref": given,
            "status": head.status,
            "size": head.size,
            "digest": head.digest,
            "content_type": head.content_type,
            "final_host": final_host,
        }))?;
        return Ok(Outcome::Success);
    }
    let redirected = if head.final_url.origin() == registry_url.origin() {
        "no".to_owned()
    } else {
        format!("yes, to {final_host}")
    };
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "(not sent)".into());
    printer.data_line(&format!(
        "ref:          {reference}\nstatus:       {}\nsize:         {}\ndigest:       {}\ncontent-type: {}\nredirected:   {redirected}",
        head.status,
        or_none(head.size.map(|s| s.to_string())),
        or_none(head.digest),
        or_none(head.content_type),
    ))?;
    Ok(Outcome::Success)
}
