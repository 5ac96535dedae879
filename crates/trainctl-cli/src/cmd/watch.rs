//! `trainctl s3 watch s3://…`: polls a prefix (core `watch`) and tells the user what happens —
//! human lines or `--json` lines, a command per event (`--exec`), desktop popups (`--notify`).

use crate::render::{self, Mode};
use crate::Globals;
use clap::Args;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use trainctl_core::event::{Event, Sink};
use trainctl_core::s3::S3Url;
use trainctl_core::watch::{self, setup, FinishRules, QueueSpec, WatchOptions, Watcher};
use trainctl_core::{Error, Result};

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The prefix to watch (it may not exist yet): s3://bucket/runs/run1/
    pub url: String,
    /// Seconds between polls (fractions allowed)
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub interval: f64,
    /// Run this shell command for each event (checkpoint, finished, stalled, resumed, waiting,
    /// error, recovered) with the details in TRAINCTL_* environment variables
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Desktop notifications (session D-Bus) for new checkpoints, finished and stalled runs
    #[arg(long)]
    pub notify: bool,
    /// A run is stalled after K × its observed checkpoint cadence without a new checkpoint
    #[arg(long, default_value_t = 3.0, value_name = "K")]
    pub stall_after: f64,
    /// Look once, report what is there (checkpoints, finished, stalled), and exit
    #[arg(long)]
    pub once: bool,
    /// Another file name that marks a finished run (repeatable; _SUCCESS, DONE, … are built in)
    #[arg(long = "done-marker", value_name = "NAME")]
    pub done_markers: Vec<String>,
    /// A run is finished when a key (relative to the watched prefix) matches this regex
    #[arg(long, value_name = "REGEX")]
    pub done_pattern: Option<String>,
    /// Checkpoint pattern instead of the built-in layouts (as in `trainctl checkpoint list`)
    #[arg(long, value_name = "REGEX")]
    pub pattern: Option<String>,
    /// List the whole prefix every N polls even in start_after mode (0: never)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub resync_every: u32,
    /// Stop after this many seconds (default: until Ctrl-C)
    #[arg(long, value_name = "SECONDS")]
    pub max_time: Option<f64>,
    /// Consume S3 Event Notifications from this SQS queue (URL, ARN or name) instead of
    /// polling: one reconciling listing at start, then changes as they happen
    #[arg(long, value_name = "QUEUE")]
    pub events: Option<String>,
    /// Make the bucket send ObjectCreated/ObjectRemoved events for this prefix to the --events
    /// queue (plan shown; --dry-run only shows it, --yes skips the question), then exit
    #[arg(long, requires = "events")]
    pub setup_events: bool,
    /// With --setup-events: show the plan, change nothing
    #[arg(long, requires = "setup_events")]
    pub dry_run: bool,
    /// With --setup-events: apply without asking
    #[arg(long, short = 'y', requires = "setup_events")]
    pub yes: bool,
}

/// Validated flags → core options.
fn options(a: &WatchArgs) -> Result<WatchOptions> {
    if !(a.interval.is_finite() && a.interval >= 0.1) {
        return Err(Error::Usage(format!("--interval must be at least 0.1 seconds (got {})", a.interval)));
    }
    if !(a.stall_after.is_finite() && a.stall_after >= 1.0) {
        return Err(Error::Usage(format!("--stall-after must be at least 1 (got {})", a.stall_after)));
    }
    if a.exec.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(Error::Usage("--exec needs a command".into()));
    }
    let mut finish = FinishRules::default();
    finish.markers.extend(a.done_markers.iter().cloned());
    finish.pattern = a.done_pattern.as_deref().map(|p| regex_flag("--done-pattern", p)).transpose()?;
    Ok(WatchOptions {
        interval: Duration::from_secs_f64(a.interval),
        stall_after: a.stall_after,
        finish,
        report_existing: a.once,
        resync_every: a.resync_every,
        pattern: a.pattern.as_deref().map(|p| regex_flag("--pattern", p)).transpose()?,
        ..WatchOptions::default()
    })
}

fn regex_flag(flag: &str, p: &str) -> Result<regex::Regex> {
    regex::Regex::new(p).map_err(|e| Error::Usage(format!("invalid {flag} `{p}`: {e}")))
}

pub async fn run(a: WatchArgs, g: &Globals) -> Result<i32> {
    let opts = options(&a)?;
    let url = S3Url::parse(&a.url)?;
    let queue = a.events.as_deref().map(QueueSpec::parse).transpose()?;
    if queue.is_some() && a.once {
        return Err(Error::Usage("--once looks once by listing; it does not go with --events".into()));
    }
    let conn = g.connect().await?;
    if let (true, Some(q)) = (a.setup_events, &queue) {
        return setup_events(&conn, &url, q, &a, g).await;
    }
    let out = WatchOutput::new(Mode::from_globals(g), g.verbose > 0, a.exec.clone(), a.notify);
    if a.once {
        let mut w = Watcher::new(conn, &url, opts);
        w.poll(&out).await?;
        return Ok(0);
    }
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    let max_time = a.max_time.map(Duration::from_secs_f64);
    tokio::spawn(async move {
        match max_time {
            Some(t) => tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = tokio::time::sleep(t) => {} },
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        stopper.cancel();
    });
    match &queue {
        Some(q) => watch::watch_events(&conn, &url, q, opts, &out, &cancel).await?,
        None => watch::watch(&conn, &url, opts, &out, &cancel).await?,
    }
    Ok(0)
}

/// `--setup-events`: plan, show, confirm, write the bucket notification configuration.
async fn setup_events(conn: &trainctl_core::s3::Connection, url: &S3Url, q: &QueueSpec, a: &WatchArgs, g: &Globals) -> Result<i32> {
    let (plan, queue) = setup::plan(conn, url, q).await?;
    let mode = Mode::from_globals(g);
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "watch_events_plan", "plan": plan })),
        Mode::Quiet => {}
        Mode::Human => {
            println!("bucket s3://{} → queue {}", plan.bucket, plan.queue_arn);
            if plan.already_configured {
                println!("  already configured: the bucket sends created/removed events under `{}` to this queue", plan.prefix);
            } else {
                println!("  add notification `{}`: {} for keys under `{}`", plan.configuration_id, setup::EVENTS.join(", "), plan.prefix);
                println!("  keep the bucket's {} other notification target(s) as they are", plan.kept_configurations);
            }
            if plan.queue_policy.is_some() {
                println!("  set the queue's access policy (it has none): allow s3.amazonaws.com to SendMessage from arn:aws:s3:::{}", plan.bucket);
            }
            for n in &plan.notes {
                println!("  note: {n}");
            }
        }
    }
    if a.dry_run || !plan.changes_something() {
        if mode == Mode::Human && a.dry_run {
            println!("dry run: nothing was changed");
        }
        return Ok(0);
    }
    if !a.yes {
        render::confirm(&format!("Write this notification configuration to s3://{}?", plan.bucket))?;
    }
    setup::apply(conn, &plan, &queue).await?;
    match mode {
        Mode::Json => render::print_json(&serde_json::json!({ "event": "watch_events_configured", "bucket": plan.bucket, "prefix": plan.prefix, "queue_arn": plan.queue_arn })),
        Mode::Quiet => {}
        Mode::Human => println!("done: watch it with `trainctl s3 watch {} --events {}`", a.url, a.events.as_deref().unwrap_or_default()),
    }
    Ok(0)
}

/// The sink of a watch: prints each event, runs `--exec`, shows `--notify` popups.
struct WatchOutput {
    mode: Mode,
    verbose: bool,
    exec: Option<String>,
    notify: bool,
    /// Said once: no session bus / the notification service refused.
    notify_broken: AtomicBool,
}

impl WatchOutput {
    fn new(mode: Mode, verbose: bool, exec: Option<String>, notify: bool) -> Self {
        let out = WatchOutput { mode, verbose, exec, notify, notify_broken: AtomicBool::new(false) };
        if notify && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none_or(|v| v.is_empty()) {
            out.notify_unavailable("no session D-Bus (DBUS_SESSION_BUS_ADDRESS is not set)");
        }
        out
    }

    fn notify_unavailable(&self, why: &str) {
        if !self.notify_broken.swap(true, Ordering::SeqCst) && self.mode != Mode::Json {
            eprintln!("{} --notify: {why}; going on without popups", clock());
        }
    }

    fn print(&self, e: &Event) {
        match self.mode {
            Mode::Json => render::print_json(e),
            Mode::Quiet => {}
            Mode::Human => {
                if let Some(line) = human_line(e, self.verbose) {
                    println!("{} {line}", clock());
                }
            }
        }
    }

    fn popup(&self, e: &Event) {
        if !self.notify || self.notify_broken.load(Ordering::SeqCst) {
            return;
        }
        let Some((title, body)) = popup_text(e) else { return };
        let result = notify_rust::Notification::new().appname("trainctl").summary(&title).body(&body).show();
        if let Err(err) = result {
            self.notify_unavailable(&format!("the notification service failed ({err})"));
        }
    }
}

impl Sink for WatchOutput {
    fn send(&self, e: Event) {
        self.print(&e);
        if let Some(cmd) = &self.exec {
            run_exec(cmd, &e);
        }
        self.popup(&e);
    }
}

fn clock() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format!("{:02}:{:02}:{:02}", (secs / 3600) % 24, (secs / 60) % 60, secs % 60)
}

fn run_label(run: &str) -> String {
    if run.is_empty() {
        "run".into()
    } else {
        format!("run {run}")
    }
}

/// One human line per event (per-object lines only with -v).
fn human_line(e: &Event, verbose: bool) -> Option<String> {
    Some(match e {
        Event::WatchStarted { watch, mode, objects, bytes, checkpoints } => {
            format!("watching {watch} ({mode} polling; {objects} objects, {}, {checkpoints} complete checkpoints); Ctrl-C stops", render::bytes(*bytes))
        }
        Event::WatchWaiting { message, .. } => format!("waiting: {message}"),
        Event::WatchObject { key, size, .. } if verbose => format!("+ {key} ({})", render::bytes(*size)),
        Event::WatchObject { .. } => return None,
        Event::WatchGrowth { objects_added, bytes_added, objects_total, bytes_total, .. } => {
            format!("prefix grew: +{objects_added} objects, +{} (now {objects_total} objects, {})", render::bytes(*bytes_added), render::bytes(*bytes_total))
        }
        Event::WatchCheckpoint { id, step, layout, files, bytes, metrics, .. } => {
            let step = step.map(|s| format!(" step {s}")).unwrap_or_default();
            let metrics: String = metrics.iter().map(|(k, v)| format!(" {k}={v}")).collect();
            format!("new checkpoint {id}{step} ({layout:?}, {files} files, {}){metrics}", render::bytes(*bytes))
        }
        Event::WatchRunFinished { run, reason, .. } => format!("{} finished: {reason}", run_label(run)),
        Event::WatchRunStalled { run, silent_secs, cadence_secs, last_checkpoint, .. } => format!(
            "{} stalled: no new checkpoint for {silent_secs:.0}s (cadence {cadence_secs:.1}s; last {})",
            run_label(run),
            last_checkpoint.as_deref().unwrap_or("-")
        ),
        Event::WatchRunResumed { run, id, silent_secs, .. } => format!("{} resumed after {silent_secs:.0}s: {id}", run_label(run)),
        Event::WatchError { error, retry_in_secs, failures, .. } => {
            format!("poll failed ({failures} in a row): {} — {}; retrying in {retry_in_secs:.0}s", error.message, error.hint)
        }
        Event::WatchRecovered { failures, .. } => format!("polling works again after {failures} failed polls"),
        Event::Notice { message } => message.clone(),
        _ => return None,
    })
}

/// Title and body of a desktop popup, for the events worth one.
fn popup_text(e: &Event) -> Option<(String, String)> {
    match e {
        Event::WatchCheckpoint { watch, id, step, .. } => {
            Some(("New checkpoint".into(), format!("{watch}{id}{}", step.map(|s| format!(" (step {s})")).unwrap_or_default())))
        }
        Event::WatchRunFinished { watch, run, reason, .. } => Some(("Run finished".into(), format!("{watch}{run} — {reason}"))),
        Event::WatchRunStalled { watch, run, silent_secs, .. } => Some(("Run stalled".into(), format!("{watch}{run}: no checkpoint for {silent_secs:.0}s"))),
        Event::WatchRunResumed { watch, run, id, .. } => Some(("Run resumed".into(), format!("{watch}{run}: {id}"))),
        _ => None,
    }
}

/// `TRAINCTL_*` variables describing an event; `None` for events that run no command
/// (per-object and growth events would run it thousands of times during a data upload).
pub fn exec_env(e: &Event) -> Option<Vec<(&'static str, String)>> {
    let name = serde_json::to_value(e).ok()?.get("event")?.as_str()?.to_string();
    let mut env = vec![("TRAINCTL_EVENT", name), ("TRAINCTL_JSON", serde_json::to_string(e).ok()?)];
    let mut put = |k: &'static str, v: String| env.push((k, v));
    match e {
        Event::WatchCheckpoint { watch, run, id, step, epoch, bytes, layout, .. } => {
            put("TRAINCTL_WATCH", watch.clone());
            put("TRAINCTL_RUN", run.clone());
            put("TRAINCTL_KEY", id.clone());
            put("TRAINCTL_URL", format!("{watch}{id}"));
            put("TRAINCTL_STEP", step.map(|s| s.to_string()).unwrap_or_default());
            put("TRAINCTL_EPOCH", epoch.map(|s| s.to_string()).unwrap_or_default());
            put("TRAINCTL_BYTES", bytes.to_string());
            put("TRAINCTL_LAYOUT", format!("{layout:?}"));
        }
        Event::WatchRunFinished { watch, run, reason, step } => {
            put("TRAINCTL_WATCH", watch.clone());
            put("TRAINCTL_RUN", run.clone());
            put("TRAINCTL_REASON", reason.clone());
            put("TRAINCTL_STEP", step.map(|s| s.to_string()).unwrap_or_default());
        }
        Event::WatchRunStalled { watch, run, last_checkpoint, silent_secs, .. } => {
            put("TRAINCTL_WATCH", watch.clone());
            put("TRAINCTL_RUN", run.clone());
            put("TRAINCTL_KEY", last_checkpoint.clone().unwrap_or_default());
            put("TRAINCTL_SILENT_SECS", format!("{silent_secs:.0}"));
        }
        Event::WatchRunResumed { watch, run, id, .. } => {
            put("TRAINCTL_WATCH", watch.clone());
            put("TRAINCTL_RUN", run.clone());
            put("TRAINCTL_KEY", id.clone());
        }
        Event::WatchWaiting { watch, message } | Event::WatchError { watch, error: trainctl_core::error::ErrorInfo { message, .. }, .. } => {
            put("TRAINCTL_WATCH", watch.clone());
            put("TRAINCTL_REASON", message.clone());
        }
        Event::WatchRecovered { watch, .. } => put("TRAINCTL_WATCH", watch.clone()),
        _ => return None,
    }
    Some(env)
}

/// Starts `sh -c CMD` for an event without waiting for it (a slow hook must not delay polling).
/// The child gets the event in `TRAINCTL_*` variables and never the AWS credentials.
fn run_exec(cmd: &str, e: &Event) {
    let Some(env) = exec_env(e) else { return };
    let mut c = std::process::Command::new("sh");
    c.arg("-c").arg(cmd).envs(env).stdin(std::process::Stdio::null());
    for secret in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"] {
        c.env_remove(secret);
    }
    match c.spawn() {
        Ok(mut child) => {
            let cmd = cmd.to_string();
            std::thread::spawn(move || match child.wait() {
                Ok(s) if !s.success() => eprintln!("{} --exec `{cmd}` exited with {s}", clock()),
                Err(err) => eprintln!("{} --exec `{cmd}`: {err}", clock()),
                _ => {}
            });
        }
        Err(err) => eprintln!("{} cannot run --exec `{cmd}`: {err}", clock()),
    }
}
