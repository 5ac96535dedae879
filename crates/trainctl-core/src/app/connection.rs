//! The live connection of an app session: which profile (or the embedded demo) the views talk to,
//! whether it is lost, and the one way each kind of connection is opened.

use super::App;
use crate::config::aws_files::AwsProfiles;
use crate::config::file::ConfigFile;
use crate::config::profile::{resolve, PROFILE_ENV};
use crate::config::{Overrides, ResolvedProfile};
use crate::demo::{Demo, DemoOptions};
use crate::error::{Error, Result};
use crate::s3::Connection;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// The live connection, as the nav bar and the Dashboard show it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionInfo {
    pub profile: String,
    pub endpoint_url: Option<String>,
    pub region: String,
    pub provider: Option<String>,
    pub demo: bool,
}

impl ConnectionInfo {
    fn of(p: &ResolvedProfile, demo: bool) -> ConnectionInfo {
        ConnectionInfo { profile: p.name.clone(), endpoint_url: p.endpoint_url.clone(), region: p.region.clone(), provider: Some(p.provider.clone()), demo }
    }
}

/// What `app_info` returns at start-up: enough for a window to pick its first screen.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    pub version: String,
    /// Started with `--demo` (or the demo was started this session).
    pub demo: bool,
    /// No trainctl profile, no AWS profile and no AWS env credentials: show the first-run screen.
    pub first_run: bool,
    /// The connection made at start-up, if any.
    pub connection: Option<ConnectionInfo>,
}

/// The connection a session talks to, and its demo when one was started.
#[derive(Default)]
pub struct Session {
    live: Mutex<Option<(Connection, ConnectionInfo)>>,
    demo: tokio::sync::Mutex<Option<Demo>>,
    started_with_demo: AtomicBool,
    /// True after a call met a connection-scope error, until one succeeds again.
    lost: AtomicBool,
}

impl Session {
    /// The live connection, or a usage error telling the user to connect first.
    pub fn conn(&self) -> Result<Connection> {
        self.live.lock().unwrap().as_ref().map(|(c, _)| c.clone()).ok_or_else(not_connected)
    }

    pub fn info(&self) -> Option<ConnectionInfo> {
        self.live.lock().unwrap().as_ref().map(|(_, i)| i.clone())
    }

    fn set(&self, conn: Connection, info: ConnectionInfo) {
        *self.live.lock().unwrap() = Some((conn, info));
        self.lost.store(false, Ordering::SeqCst);
    }

    /// Marks the connection lost; returns its profile the first time (to raise the banner once).
    pub(crate) fn mark_lost(&self) -> Option<String> {
        (!self.lost.swap(true, Ordering::SeqCst)).then(|| self.info().map(|i| i.profile).unwrap_or_default())
    }

    /// Marks the connection working; returns its profile when it had been lost.
    pub(crate) fn mark_restored(&self) -> Option<String> {
        self.lost.swap(false, Ordering::SeqCst).then(|| self.info().map(|i| i.profile).unwrap_or_default())
    }
}

fn not_connected() -> Error {
    Error::Usage("not connected: pick a connection in Connections (or try the demo)".into())
}

/// Resolves the profile the flags name (or the AWS environment) and connects — the one way a
/// command-line session opens its connection. No network call yet.
pub async fn open(overrides: &Overrides) -> Result<Connection> {
    let ov = overrides.clone();
    let profile = blocking(move || resolve(&ov)).await?;
    Connection::open(&profile).await
}

/// No trainctl profile, no AWS profile, no AWS credentials in the environment.
pub fn is_first_run() -> bool {
    let no_trainctl = ConfigFile::load().map(|c| c.profiles.is_empty()).unwrap_or(false);
    let no_aws = AwsProfiles::load().names().is_empty();
    let env = |k: &str| std::env::var(k).ok().is_some_and(|v| !v.is_empty());
    no_trainctl && no_aws && !env("AWS_ACCESS_KEY_ID") && !env("AWS_PROFILE")
}

/// Resolves a saved profile by name (config file and keychain reads block: off the workers).
pub async fn resolve_named(name: &str) -> Result<ResolvedProfile> {
    let ov = Overrides { profile: Some(name.to_string()), ..Default::default() };
    blocking(move || resolve(&ov)).await
}

/// Runs blocking work (config files, the keychain) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(format!("blocking task: {e}")))?
}

impl App {
    /// What a window needs to pick its first screen.
    pub fn app_info(&self) -> AppInfo {
        let connection = self.session.info();
        AppInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            demo: self.session.started_with_demo.load(Ordering::SeqCst) || connection.as_ref().is_some_and(|c| c.demo),
            first_run: is_first_run(),
            connection,
        }
    }

    /// Makes profile `name` the live connection after one ListBuckets proves it works
    /// (`demo` is the embedded demo when it runs).
    pub async fn connect(&self, name: &str) -> Result<ConnectionInfo> {
        if name == crate::demo::DEMO_PROFILE && self.session.demo.lock().await.is_some() {
            return self.start_demo().await;
        }
        let r = async {
            let resolved = resolve_named(name).await?;
            let conn = Connection::open(&resolved).await?;
            crate::s3::list::list_buckets(&conn).await?;
            Ok((conn, ConnectionInfo::of(&resolved, false)))
        }
        .await;
        let (conn, info) = self.watched(r)?;
        self.session.set(conn, info.clone());
        self.restart_watches();
        self.restart_syncs();
        self.offer_interrupted();
        Ok(info)
    }

    /// The price table of `conn`'s storage, with the profile's `prices` read again: a table set
    /// in config.toml while the app runs applies to the next estimate, as it would to the CLI's
    /// next command. (A connection that is not a saved profile keeps what it was opened with.)
    pub(crate) async fn price_table(&self, conn: &Connection) -> Result<crate::cost::PriceTable> {
        let mut profile = conn.profile.clone();
        if let Ok(fresh) = resolve_named(&profile.name).await {
            profile.prices = fresh.prices;
        }
        crate::cost::table_for_profile(&profile, None)
    }

    /// Starts the embedded demo once (later calls reuse it) and makes it the live connection.
    pub async fn start_demo(&self) -> Result<ConnectionInfo> {
        self.start_demo_with(DemoOptions::default()).await
    }

    /// [`App::start_demo`] with options (tests: no simulated trainer, a data folder).
    pub async fn start_demo_with(&self, opts: DemoOptions) -> Result<ConnectionInfo> {
        let mut demo = self.session.demo.lock().await;
        if demo.is_none() {
            *demo = Some(Demo::start(opts).await?);
        }
        let server = &demo.as_ref().expect("started above").server;
        let profile = crate::demo::profile(&server.endpoint_url());
        let conn = Connection::with_keys(&profile, crate::demo::DEMO_ACCESS_KEY, crate::demo::DEMO_SECRET_KEY);
        let info = ConnectionInfo::of(&profile, true);
        self.session.started_with_demo.store(true, Ordering::SeqCst);
        self.session.set(conn, info.clone());
        drop(demo);
        self.restart_watches();
        self.restart_syncs();
        self.offer_interrupted();
        Ok(info)
    }

    /// At start-up: the demo when asked for, else `TRAINCTL_PROFILE`, else the first trainctl
    /// profile, else the AWS environment when it has credentials. Nothing is contacted (a
    /// profile that cannot connect leaves no connection: the window shows Connections); saved
    /// watches are restored afterwards either way.
    pub async fn start(&self, demo: bool) {
        if demo {
            if let Err(e) = self.start_demo().await {
                tracing::error!("the demo did not start: {e}");
            }
        } else if !is_first_run() {
            if let Ok(Some((conn, info))) = startup_connection().await {
                self.session.set(conn, info);
            }
        }
        self.restore_watches();
        self.restore_syncs();
        self.offer_interrupted();
    }
}

async fn startup_connection() -> Result<Option<(Connection, ConnectionInfo)>> {
    let name = std::env::var(PROFILE_ENV).ok().filter(|v| !v.is_empty()).or_else(|| ConfigFile::load().ok().and_then(|c| c.profiles.keys().next().cloned()));
    let resolved = match name {
        Some(n) => resolve_named(&n).await?,
        None => blocking(|| resolve(&Overrides::default())).await?,
    };
    let conn = Connection::open(&resolved).await?;
    Ok(Some((conn, ConnectionInfo::of(&resolved, false))))
}
