//! The operating-system specifics of the core, in one place, so that a macOS or Windows port
//! changes this file (and the other files listed in docs/architecture.md, "Ports") rather than
//! hunting `cfg`s through the engines.
//!
//! Each function says what it gives on Linux and what the fallback means elsewhere: progress
//! from the kernel's I/O counters, a child that dies with its parent, signals to a process group.

/// Bytes process `pid` has passed to write calls so far (Linux: `wchar` of `/proc/<pid>/io`), used
/// for s5cmd's byte progress. `None` elsewhere: progress then advances per completed object.
pub fn process_bytes_written(pid: u32) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
        text.lines().find_map(|l| l.strip_prefix("wchar:")).and_then(|v| v.trim().parse().ok())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Makes a child started by `cmd` die (SIGTERM) when this process dies, even by SIGKILL or the
/// OOM killer, so no orphan transfer goes on writing (Linux: `PR_SET_PDEATHSIG`). Elsewhere
/// nothing: `kill_on_drop` still covers every exit that unwinds.
pub fn die_with_parent(cmd: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}

/// Asks process `pid` to stop (SIGTERM on Unix; elsewhere nothing, and callers kill after a
/// grace period anyway).
pub fn terminate(pid: u32) {
    #[cfg(unix)]
    // SAFETY: plain kill(2) on a child of ours that has not been reaped yet.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Forwards an interrupt to the process group led by `pid` (a training script and its workers),
/// as a terminal's Ctrl-C would (SIGINT to the group on Unix).
pub fn interrupt_group(pid: u32) {
    #[cfg(unix)]
    // SAFETY: kill(2) with a negative pid signals the group our child leads.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGINT);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// A file's identity beyond its name (Unix: the inode), to tell a rotated log from the same one.
/// 0 where the platform has none (rotation is then seen by size and time only).
pub fn file_id(meta: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        0
    }
}

/// Environment variable that sets the async worker count (tokio's own name for it).
pub const ENV_WORKERS: &str = "TOKIO_WORKER_THREADS";

/// The async runtime both faces run the core on: one worker thread fewer than the machine has
/// cores (at least one), or `TOKIO_WORKER_THREADS` when it is a positive number.
///
/// Why not one per core, tokio's default: a transfer's CPU is mostly the kernel's — socket and
/// page-cache copies, writeback, the blocking threads that fsync and rename each file — and on a
/// small machine the workers then wait for cores and wake each other through futexes more than
/// they work. Measured on 2 cores with the S3 server on the same machine (docs/benchmarks.md,
/// "One async worker fewer than cores"): in A/B labs one worker instead of two used up to 16 %
/// less CPU and up to 9 % less time on the download rows, uploads unchanged. On a large machine
/// the missing worker is one of many.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let set = std::env::var(ENV_WORKERS).ok();
    let n = workers(cores, set.as_deref());
    if let Some(v) = set.filter(|v| positive(v).is_none()) {
        tracing::warn!("{ENV_WORKERS}={v:?} is not a positive number of threads: running {n}");
    }
    // Always set: tokio would otherwise read the variable itself, and panic on a bad value.
    tokio::runtime::Builder::new_multi_thread().enable_all().worker_threads(n).build()
}

/// Worker threads for a machine of `cores` cores and the value of `TOKIO_WORKER_THREADS`, if
/// any (see [`runtime`]).
fn workers(cores: usize, set: Option<&str>) -> usize {
    set.and_then(positive).unwrap_or(cores.saturating_sub(1).max(1))
}

fn positive(v: &str) -> Option<usize> {
    v.trim().parse().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::workers;

    #[test]
    fn one_core_is_left_to_the_kernel_and_the_blocking_threads_but_never_the_only_one() {
        assert_eq!([1, 2, 4, 64].map(|c| workers(c, None)), [1, 1, 3, 63]);
    }

    #[test]
    fn the_environment_sets_the_count_and_a_bad_value_falls_back_instead_of_panicking() {
        assert_eq!(workers(2, Some("4")), 4);
        assert_eq!(workers(2, Some(" 3 ")), 3);
        for bad in ["0", "-1", "four", ""] {
            assert_eq!(workers(8, Some(bad)), 7, "{bad}");
        }
    }
}
