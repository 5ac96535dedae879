//! WebKitGTK settings for a small, local, single-page app (Linux only; docs/benchmarks.md,
//! "Desktop start-up and idle memory", has the measurements behind each one).
//!
//! - **Hardware acceleration: never.** WebKitGTK's accelerated compositing renders through GL
//!   (under Xvfb, or on a machine without a usable GPU: Mesa's llvmpipe, in software). For this UI
//!   (text, tables, a few canvas charts) it only adds cost: about 100 MB of the web process's
//!   memory and 1–4 s before the first frame here. Without it WebKit paints on the CPU, which a
//!   UI with no 3D transforms, video or WebGL does not notice (checked on X screenshots of the
//!   Dashboard with its canvas charts and of the 100k-object Browser).
//!
//! Two more were measured and are off by default because they changed nothing measurable
//! (idle PSS and first paint within noise, with and without the first): **cache model
//! "document viewer"** (`cache`) and **page cache off** (`pagecache`).
//!
//! `TRAINCTL_WEBKIT_TUNING` names the settings to apply (`accel,cache,pagecache`; default:
//! `accel`; `all`; `none` for WebKit's defaults), so the benchmark can measure each one.
//!
//! **Under WebDriver** (the e2e suite) hardware acceleration keeps WebKit's default unless
//! `TRAINCTL_WEBKIT_TUNING` asks otherwise: WebKitGTK 2.50's WebDriver screenshot waits for a
//! compositor frame, which without compositing often never comes (the command timed out after
//! 120 s in about half the tries). Users never take WebDriver screenshots; the benchmark sets the
//! variable and grabs the window through X instead.

/// Environment variable listing the settings to apply (see the module docs).
pub const TUNING_ENV: &str = "TRAINCTL_WEBKIT_TUNING";

/// Which settings to apply, from `TRAINCTL_WEBKIT_TUNING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub no_accel: bool,
    pub document_cache: bool,
    pub no_page_cache: bool,
    /// Set through the environment (applies as given, even under WebDriver).
    pub explicit: bool,
}

impl Tuning {
    pub fn from_env() -> Self {
        Self::parse(std::env::var(TUNING_ENV).ok().as_deref())
    }

    /// `None`: `accel` only; `all`: everything; `none`: nothing; otherwise a comma list of names.
    pub fn parse(value: Option<&str>) -> Self {
        let explicit = value.is_some_and(|v| !v.trim().is_empty());
        let value = value.map(str::trim).filter(|v| !v.is_empty()).unwrap_or("accel");
        let has = |name: &str| value == "all" || value.split(',').any(|v| v.trim() == name);
        Tuning { no_accel: has("accel"), document_cache: has("cache"), no_page_cache: has("pagecache"), explicit }
    }
}

/// Applies the settings to the main window's webview. Called from `setup`, on the main thread,
/// right after Tauri created the window: the page's first load has only been requested.
#[cfg(target_os = "linux")]
pub fn tune(window: &tauri::WebviewWindow) {
    let tuning = Tuning::from_env();
    let result = window.with_webview(move |wv| {
        use webkit2gtk::{CacheModel, HardwareAccelerationPolicy, SettingsExt, WebContextExt, WebViewExt};
        let view = wv.inner();
        let webdriver = view.is_controlled_by_automation() && !tuning.explicit;
        if let Some(settings) = WebViewExt::settings(&view) {
            if tuning.no_accel && !webdriver {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            }
            if tuning.no_page_cache {
                settings.set_enable_page_cache(false);
            }
        }
        if tuning.document_cache {
            if let Some(context) = view.context() {
                context.set_cache_model(CacheModel::DocumentViewer);
            }
        }
    });
    if let Err(e) = result {
        tracing::warn!("WebKit settings not applied: {e}");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn tune(_window: &tauri::WebviewWindow) {}

#[cfg(test)]
mod tests {
    use super::Tuning;

    #[test]
    fn tuning_defaults_to_no_acceleration_and_parses_lists() {
        let default = Tuning { no_accel: true, document_cache: false, no_page_cache: false, explicit: false };
        assert_eq!(Tuning::parse(None), default);
        assert_eq!(Tuning::parse(Some(" ")), default);
        let all = Tuning { no_accel: true, document_cache: true, no_page_cache: true, explicit: true };
        assert_eq!(Tuning::parse(Some("all")), all);
        assert_eq!(Tuning::parse(Some("none")), Tuning { no_accel: false, document_cache: false, no_page_cache: false, explicit: true });
        assert_eq!(Tuning::parse(Some("accel, pagecache")), Tuning { no_accel: true, document_cache: false, no_page_cache: true, explicit: true });
    }
}
