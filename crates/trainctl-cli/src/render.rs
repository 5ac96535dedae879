//! Drawing core events for a terminal: an indicatif bar, or one JSON object per line with
//! `--json`. The only place in the CLI that turns an `Event` into text.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use trainctl_core::event::{Event, Sink};
use trainctl_core::Error;

/// Output mode chosen from the global flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Human,
    Quiet,
    Json,
}

impl Mode {
    pub fn from_globals(g: &crate::Globals) -> Mode {
        if g.json {
            Mode::Json
        } else if g.quiet {
            Mode::Quiet
        } else {
            Mode::Human
        }
    }
}

/// A [`Sink`] that renders transfer events.
pub struct Renderer {
    mode: Mode,
    bar: Mutex<Option<ProgressBar>>,
}

impl Renderer {
    pub fn new(mode: Mode) -> Self {
        Renderer { mode, bar: Mutex::new(None) }
    }

    fn bar(&self, total: u64) -> ProgressBar {
        let mut slot = self.bar.lock().unwrap();
        slot.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(8));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
                )
                .unwrap(),
            );
            bar
        })
        .clone()
    }

    /// Prints a line without tearing the bar. A hidden bar (stderr is not a terminal) drops
    /// `println`, so the line then goes straight to stderr: failures must never vanish.
    fn line(&self, s: &str) {
        match &*self.bar.lock().unwrap() {
            Some(bar) if !bar.is_hidden() => bar.println(s),
            _ => eprintln!("{s}"),
        }
    }

    /// Removes the bar (call before printing a summary).
    pub fn finish(&self) {
        if let Some(bar) = self.bar.lock().unwrap().take() {
            bar.finish_and_clear();
        }
    }
}

impl Sink for Renderer {
    fn send(&self, event: Event) {
        match self.mode {
            Mode::Json => print_json(&event),
            Mode::Quiet => {
                if let Event::ObjectFailed { key, error, .. } | Event::ObjectRejected { key, error, .. } = &event {
                    eprintln!("failed: {key}: {}", error.message);
                }
            }
            Mode::Human => match event {
                Event::TransferStarted { objects_total, bytes_total, skipped, engine, .. } => {
                    let bar = self.bar(bytes_total);
                    bar.set_message(format!("0/{objects_total} objects"));
                    if skipped > 0 {
                        self.line(&format!("{skipped} already complete, skipped"));
                    }
                    tracing::info!("engine: {engine}");
                }
                Event::Progress(p) => {
                    let bar = self.bar(p.bytes_total);
                    bar.set_length(p.bytes_total);
                    bar.set_position(p.bytes_done);
                    bar.set_message(format!("{}/{} objects", p.objects_done, p.objects_total));
                }
                Event::ObjectFailed { key, error, .. } => self.line(&format!("failed: {key}: {} ({})", error.message, error.hint)),
                Event::ObjectRejected { key, error, .. } => self.line(&rejected_line(&key, &error)),
                Event::ObjectDone { key, .. } => tracing::debug!("done: {key}"),
                Event::ObjectSkipped { key, reason, .. } => tracing::debug!("skipped: {key}: {reason}"),
                Event::Notice { message } => self.line(&message),
                Event::TransferFinished { .. } => self.finish(),
                Event::CheckpointDeleted { id, bytes, .. } => self.line(&format!("deleted {id} ({})", crate::render::bytes(bytes))),
                Event::CleanupFinished { .. } => self.finish(),
                // Watch events have their own lines (cmd/watch.rs); others' new events default to debug.
                other => tracing::debug!("{other:?}"),
            },
        }
    }
}

/// How an item the plan refused is told (also in `--dry-run`).
pub fn rejected_line(key: &str, error: &trainctl_core::error::ErrorInfo) -> String {
    format!("skipped {key}: {} ({})", error.message, error.hint)
}

/// Prints any serializable value as one JSON line on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, value);
    let _ = out.write_all(b"\n");
}

/// Prints an error as one readable line plus a hint (or a JSON object with --json).
pub fn print_error(err: &Error, json: bool) {
    if json {
        print_json(&serde_json::json!({ "error": err.info() }));
    } else {
        eprintln!("error: {err}\n  hint: {}", err.hint());
    }
}

/// Asks a yes/no question on the terminal. Without a terminal (CI, pipes) the answer is no:
/// destructive work then needs an explicit `--yes`.
pub fn confirm(question: &str) -> Result<(), Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::NotConfirmed(format!("{question} — no terminal to ask on")));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(|e| Error::Internal(e.to_string()))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Error::NotConfirmed("not confirmed; nothing was changed".into()))
    }
}

/// Human-readable byte count (binary units), for tables and summaries.
pub fn bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}

/// A Unix time as RFC 3339 (UTC, seconds), for listings.
pub fn time(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
