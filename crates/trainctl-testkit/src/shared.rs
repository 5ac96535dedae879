//! One server per backend per test process.
//!
//! Why: `cargo test` runs the tests of a binary as threads of one process; starting Garage per
//! test would cost seconds each. Tests isolate themselves with `S3Server::new_bucket`.
//! The servers live until the process exits, when the kernel kills them (PDEATHSIG).

use std::sync::OnceLock;

use crate::server::S3Server;

/// The process-wide moto server, started on first use. Panics with the reason if it cannot start.
pub fn shared_moto() -> &'static S3Server {
    match MOTO.get_or_init(|| started(crate::start_moto())) {
        Ok(s) => s,
        Err(e) => panic!("cannot start moto_server: {e}"),
    }
}

/// The process-wide Garage server, started on first use. Panics with the reason if it cannot start.
pub fn shared_garage() -> &'static S3Server {
    match garage_slot() {
        Ok(s) => s,
        Err(e) => panic!("cannot start garage: {e}"),
    }
}

/// The shared Garage, or `None` (after saying so on stderr) when its binary is missing and
/// `TRAINCTL_ALLOW_SKIP=1`.
///
/// Why: a developer without Garage built may still run the moto half of the suite, but CI
/// (which never sets the variable) must fail rather than skip silently.
pub fn shared_garage_or_skip() -> Option<&'static S3Server> {
    if crate::tools::find_garage().is_none() && allow_skip() {
        eprintln!("SKIPPED (garage binary not found and TRAINCTL_ALLOW_SKIP=1)");
        return None;
    }
    Some(shared_garage())
}

fn garage_slot() -> &'static Result<S3Server, String> {
    GARAGE.get_or_init(|| started(crate::start_garage()))
}

static MOTO: OnceLock<Result<S3Server, String>> = OnceLock::new();
static GARAGE: OnceLock<Result<S3Server, String>> = OnceLock::new();

/// Registers (once) the exit hook that stops shared servers and deletes their data.
fn started(server: Result<S3Server, String>) -> Result<S3Server, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    // SAFETY: registering a plain `extern "C" fn` with atexit.
    HOOK.call_once(|| unsafe {
        libc::atexit(shut_down_shared);
    });
    server
}

/// Runs at process exit (the test harness exits through `exit`, which runs atexit hooks).
extern "C" fn shut_down_shared() {
    for slot in [&MOTO, &GARAGE] {
        if let Some(Ok(server)) = slot.get() {
            server.shut_down_in_place();
        }
    }
}

/// True when `TRAINCTL_ALLOW_SKIP=1`: tests may skip when a required tool is missing.
pub fn allow_skip() -> bool {
    std::env::var("TRAINCTL_ALLOW_SKIP").is_ok_and(|v| v == "1")
}
