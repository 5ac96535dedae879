//! The embedded demo in the app (`--demo`, the first-run "Try the demo" button): an in-process
//! S3 endpoint with a seeded training bucket and a simulated trainer (trainctl_core::demo).

use crate::connection::{connection_info, static_connection};
use crate::state::{AppState, Live};
use crate::types::ConnectionInfo;
use tauri::{AppHandle, Manager};
use trainctl_core::config::{CredentialSource, ResolvedProfile};
use trainctl_core::demo::{Demo, DemoOptions, DEMO_ACCESS_KEY, DEMO_REGION, DEMO_SECRET_KEY};
use trainctl_core::error::Result;

/// Starts the demo once (later calls reuse it) and makes it the live connection.
pub async fn start(app: &AppHandle) -> Result<ConnectionInfo> {
    let state = app.state::<AppState>();
    let mut demo = state.demo.lock().await;
    if demo.is_none() {
        *demo = Some(Demo::start(DemoOptions::default()).await?);
    }
    let endpoint = demo.as_ref().map(|d| d.server.endpoint_url()).unwrap_or_default();
    let profile = ResolvedProfile {
        name: "demo".into(),
        provider: "other".into(),
        endpoint_url: Some(endpoint),
        region: DEMO_REGION.into(),
        path_style: true,
        checksum_when_required: true,
        credentials: CredentialSource::AwsChain,
    };
    let conn = static_connection(&profile, DEMO_ACCESS_KEY, DEMO_SECRET_KEY);
    let info = connection_info(&profile, true);
    state.set_live(Live { conn, info: info.clone() });
    crate::tray::refresh(app);
    Ok(info)
}
