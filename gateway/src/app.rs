//! The gateway's shared state: what every handler and the background tasks
//! hold. The invoke pipeline holds only its own handles ([`Calls`]).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::AlertFloors;
use crate::backend::front::Backend;
use crate::callback::Notifier;
use crate::config::Config;
use crate::invoke::Calls;
use crate::logins::Logins;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::samples::Samples;
use crate::scheduler::Scheduler;
use crate::store::Store;

pub struct App {
    pub config: Config,
    /// Functions, calls, outputs and events, durable.
    pub store: Arc<dyn Store>,
    /// The FIFO queue under the quota.
    pub scheduler: Arc<Scheduler>,
    /// What firing AlertManager alerts scaled functions to: the scaler
    /// keeps them there until resolved.
    pub alert_floors: Arc<AlertFloors>,
    /// The only door to where functions run.
    pub backend: Arc<Backend>,
    /// Prometheus series, at `/metrics`.
    pub metrics: Metrics,
    /// The deployed functions, in memory.
    pub registry: Arc<Registry>,
    /// Each function's recent figures, for the portal's plots.
    pub samples: Arc<Samples>,
    /// Delivers `X-Callback-Url` results.
    pub notifier: Arc<dyn Notifier>,
    /// The admin password.
    pub password: String,
    /// Failed logins per client address, and which are locked out.
    pub logins: Logins,
    /// Every task the gateway spawns (async calls with their callbacks, the
    /// autoscaler): a graceful stop waits for them.
    pub tasks: TaskTracker,
    /// Cancelled when the gateway begins to stop: queued calls stop waiting
    /// (async ones stay PENDING, to resume), log followers' streams end.
    pub stopping: CancellationToken,
    /// The invoke pipeline's handles on the parts above.
    pub calls: Calls,
}
