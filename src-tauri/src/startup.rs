//! Start-up trace: with `TRAINCTL_STARTUP_TRACE=1` the shell prints, on stderr, the milliseconds
//! from process start to each step (shell: main, setup, window, page load; page: DOMContentLoaded,
//! Svelte mount, app info, first frame), so that a slow start can be pinned on one step instead
//! of guessed at. Off by default: nothing is printed and the page's one report is ignored.
//!
//! Times are measured from the process's start as the kernel records it (`/proc/self/stat`), so
//! dynamic linking and GTK's own start are included; the page's marks arrive as wall-clock times
//! (`performance.timeOrigin + performance.now()`) and are put on the same axis.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environment variable that turns the trace on (any non-empty value but `0`).
pub const TRACE_ENV: &str = "TRAINCTL_STARTUP_TRACE";

struct Origin {
    /// When `main` began, as an `Instant` (monotonic) and as wall-clock time.
    at_main: Instant,
    wall_at_main: SystemTime,
    /// Time from the process's start (exec) to `main`, as the kernel reports it (10 ms ticks).
    exec_to_main: Duration,
}

static ORIGIN: OnceLock<Option<Origin>> = OnceLock::new();

/// Call first thing in `main`: fixes the origin and prints the first mark.
pub fn init() {
    let on = std::env::var(TRACE_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    let origin = on.then(|| Origin { at_main: Instant::now(), wall_at_main: SystemTime::now(), exec_to_main: exec_to_now().unwrap_or_default() });
    if ORIGIN.set(origin).is_ok() {
        mark("main() entered");
    }
}

fn origin() -> Option<&'static Origin> {
    ORIGIN.get().and_then(Option::as_ref)
}

/// Prints `startup: +<ms since exec> ms  <what>` when tracing.
pub fn mark(what: &str) {
    if let Some(o) = origin() {
        print_at(o.exec_to_main + o.at_main.elapsed(), "shell", what);
    }
}

fn print_at(since_exec: Duration, side: &str, what: &str) {
    eprintln!("startup: {:>7.1} ms  [{side}] {what}", since_exec.as_secs_f64() * 1000.0);
}

/// Marks reported by the page (`ui/src/lib/startup.ts`): wall-clock milliseconds since the epoch.
pub fn page_marks(marks: &[(String, f64)]) {
    let Some(o) = origin() else { return };
    let Ok(main_epoch) = o.wall_at_main.duration_since(UNIX_EPOCH) else { return };
    let main_ms = main_epoch.as_secs_f64() * 1000.0;
    for (what, at_ms) in marks {
        let since_main = (at_ms - main_ms).max(0.0);
        print_at(o.exec_to_main + Duration::from_secs_f64(since_main / 1000.0), "page", what);
    }
}

/// Elapsed time since this process was exec'd: `/proc/uptime` minus field 22 of `/proc/self/stat`.
#[cfg(target_os = "linux")]
fn exec_to_now() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let after = &stat[stat.rfind(')')? + 2..];
    let start_ticks: f64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    // CLK_TCK is 100 on every Linux this runs on (USER_HZ is fixed by the ABI).
    Some(Duration::from_secs_f64((uptime - start_ticks / 100.0).max(0.0)))
}

#[cfg(not(target_os = "linux"))]
fn exec_to_now() -> Option<Duration> {
    None
}

/// The page's one start-up report. A no-op unless the shell runs with `TRAINCTL_STARTUP_TRACE`.
#[tauri::command(rename_all = "snake_case")]
pub fn startup_trace(marks: Vec<(String, f64)>) {
    page_marks(&marks);
}
