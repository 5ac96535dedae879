//! Generates Tauri's context (config, capabilities, embedded `ui/dist`) at build time.
fn main() {
    tauri_build::build()
}
