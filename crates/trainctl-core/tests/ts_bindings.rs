//! Fails when ui/src/lib/generated/ no longer matches the core's IPC types (feature `ts`).
//! `TRAINCTL_TS_WRITE=1` rewrites them instead (`make bindings`).
#![cfg(feature = "ts")]

#[test]
fn export_bindings() {
    let roots = trainctl_core::ts_bindings::core_roots();
    if let Err(stale) = trainctl_core::ts_bindings::write_or_check(&roots) {
        panic!("{stale}");
    }
}
