//! Pins: checkpoint ids kept whatever the retention policy says, stored next to the runs in
//! `.trainctl-pins.json` (`{"pins": ["run1/checkpoint-100/"]}`) so every machine and the
//! desktop app that cleans the same directory or prefix sees the same pins.

use super::detect::{DetectOptions, PINS_FILE};
pub use super::pins_file::{parse_pins, render_pins};
use super::source::{discover, Location};
use crate::error::{Error, Result};
use crate::s3::errors::SdkResultExt;
use crate::s3::Connection;
use std::collections::BTreeSet;

/// Adds (`pin = true`) or removes ids and stores the file; returns the new set. Pinning an id
/// that is not a checkpoint there is refused (a typo would otherwise protect nothing silently).
pub async fn update_pins(loc: &Location, conn: Option<&Connection>, ids: &[String], pin: bool) -> Result<BTreeSet<String>> {
    let found = discover(loc, conn, &DetectOptions::new()).await?;
    let known: BTreeSet<&str> = found.runs.iter().flat_map(|r| r.checkpoints.iter().map(|c| c.id.as_str())).collect();
    let mut pins = found.pins.clone();
    for id in ids {
        let id = resolve_id(id, &known, &pins).ok_or_else(|| {
            Error::Usage(format!("no checkpoint `{id}` under {}; `trainctl checkpoint list` shows the ids", loc.display()))
        })?;
        if pin {
            pins.insert(id);
        } else {
            pins.remove(&id);
        }
    }
    save_pins(loc, conn, &pins).await?;
    Ok(pins)
}

/// The id as listed (`checkpoint-100` also names `checkpoint-100/`); unpinning accepts any pinned id.
fn resolve_id(id: &str, known: &BTreeSet<&str>, pinned: &BTreeSet<String>) -> Option<String> {
    let dir = format!("{}/", id.trim_end_matches('/'));
    let listed = |c: &str| known.iter().any(|k| *k == c) || pinned.contains(c);
    if listed(id) {
        return Some(id.to_string());
    }
    listed(&dir).then_some(dir)
}

async fn save_pins(loc: &Location, conn: Option<&Connection>, pins: &BTreeSet<String>) -> Result<()> {
    let body = render_pins(pins);
    match loc {
        Location::Local(root) => {
            let (tmp, path) = (root.join(format!("{PINS_FILE}.tmp")), root.join(PINS_FILE));
            std::fs::write(&tmp, &body).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
        }
        Location::S3(url) => {
            let conn = conn.ok_or_else(|| Error::Internal("S3 pins without a connection".into()))?;
            let key = format!("{}{PINS_FILE}", url.dir_prefix());
            let req = conn.client.put_object().bucket(&url.bucket).key(&key).body(body.into());
            req.send().await.or_s3(&conn.ctx().bucket(&url.bucket).key(&key))?;
            Ok(())
        }
    }
}
