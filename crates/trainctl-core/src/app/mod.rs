//! The application layer both faces share: everything a desktop window (or a CLI session, or a
//! future HTTP API) does *over time* — transfer jobs with ids and records, plans held by id until
//! applied, the watch registry, the live connection, local paths the user handed over, the
//! notifications list — so a Tauri command or a CLI command is one call into it.
//!
//! Why here and not in the shell: these hold rules (is this plan still the one the user saw? does
//! this error end the job? which price table? may the page name this file?). Written in a face,
//! each would be written again by the next face. The shell keeps only what is truly about a
//! window: IPC names, native popups, the tray, dialogs.
//!
//! Everything the app reports goes through one [`Sink`] (the host): core [`Event`]s, including
//! the app's own `TransferUpdated`, `WatchUpdated`, `Notification` and `Connection*` variants.
//!
//! Trust: callers are untrusted (a webview). They name local files only by [`grants`] tokens the
//! host issued for a native drop or dialog, plans only by id, metric sources only from the list
//! [`App::runs_list`] offered.

pub mod browse;
pub mod checkpoints;
pub mod connection;
pub mod datasets;
pub mod grants;
pub mod insights;
pub mod notify;
pub mod objects;
pub mod plans;
mod queue;
pub mod profiles;
pub mod registry;
pub mod review;
pub mod runs;
pub mod savings;
pub mod sync;
pub mod transfers;
pub mod watches;

use crate::event::{Event, Sink};
use std::sync::Arc;

pub use connection::{ConnectionInfo, Session};
pub use grants::{Grants, LocalGrant};
pub use notify::{AppNotification, NotificationLevel, Notifications};
pub use plans::PlanStore;
pub use sync::{SyncPairInfo, SyncPairSpec, SyncPrompt, SyncState, Syncs};
pub use transfers::{TransferFailure, TransferRecord, TransferState, Transfers};
pub use watches::{WatchInfo, WatchLine, WatchSpec, WatchState, Watches};

/// The application: one per process, shared (`Arc`) by every command and background task.
pub struct App {
    /// This app itself, for the background tasks it spawns.
    me: std::sync::Weak<App>,
    host: Arc<dyn Sink>,
    pub session: Session,
    pub grants: Grants,
    pub transfers: Transfers,
    pub watches: Watches,
    pub syncs: Syncs,
    pub(crate) queue: queue::Queue,
    pub notifications: Notifications,
    pub(crate) cleanup_plans: PlanStore<checkpoints::StoredCleanup>,
    pub(crate) delete_plans: PlanStore<browse::DeletePlan>,
    pub(crate) lifecycle_plans: PlanStore<crate::lifecycle::LifecyclePlan>,
    pub(crate) restore_plans: PlanStore<objects::RestorePlan>,
    pub(crate) rename_plans: PlanStore<browse::RenamePlan>,
    pub(crate) dedup_plans: PlanStore<crate::review::dedup_plan::S3DedupPlan>,
    pub(crate) offered: runs::OfferedSources,
    pub(crate) review: review::Running,
}

impl App {
    /// A new application reporting to `host` (the shell's one event mapping, or a test sink).
    /// Watches are loaded from `watches_file`, sync pairs from `syncs.json` beside it (none
    /// when `None`: nothing is persisted).
    pub fn new(host: Arc<dyn Sink>, watches_file: Option<std::path::PathBuf>) -> Arc<App> {
        Arc::new_cyclic(|me| App {
            me: me.clone(),
            host,
            session: Session::default(),
            grants: Grants::default(),
            transfers: Transfers::default(),
            syncs: Syncs::new(watches_file.as_ref().map(|w| w.with_file_name("syncs.json"))),
            queue: queue::Queue::new(watches_file.as_ref().map(|w| w.with_file_name("transfers.json"))),
            watches: Watches::new(watches_file),
            notifications: Notifications::default(),
            cleanup_plans: PlanStore::default(),
            delete_plans: PlanStore::default(),
            lifecycle_plans: PlanStore::default(),
            restore_plans: PlanStore::default(),
            rename_plans: PlanStore::default(),
            dedup_plans: PlanStore::default(),
            offered: runs::OfferedSources::default(),
            review: review::Running::default(),
        })
    }

    /// The shared handle of this app (for tasks that outlive a call).
    pub(crate) fn me(&self) -> Arc<App> {
        self.me.upgrade().expect("the app outlives the calls made on it")
    }

    /// Reports an event to the host, and turns the events that deserve one into a notification.
    pub(crate) fn emit(&self, event: Event) {
        let popup = notify::popup_for(&event, self);
        self.host.send(event);
        if let Some(n) = popup {
            self.notify(n);
        }
    }

    /// Adds a notification to the bounded list and reports it (the host shows it natively).
    pub fn notify(&self, n: notify::NewNotification) {
        let n = self.notifications.push(n);
        self.host.send(Event::Notification(n));
    }

    /// Passes a call's result through, keeping the connection banner right: a connection-scope
    /// error raises it (`ConnectionLost`, once), any success clears it (`ConnectionRestored`).
    pub(crate) fn watched<T>(&self, r: crate::Result<T>) -> crate::Result<T> {
        match &r {
            Ok(_) => {
                if let Some(profile) = self.session.mark_restored() {
                    self.host.send(Event::ConnectionRestored { profile });
                }
            }
            Err(e) if e.scope() == crate::error::Scope::Connection => {
                if let Some(profile) = self.session.mark_lost() {
                    self.host.send(Event::ConnectionLost { profile, error: e.info() });
                }
            }
            Err(_) => {}
        }
        r
    }
}
