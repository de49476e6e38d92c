//! The gateway's shared state: what every handler and background task holds.

use std::sync::Arc;

use crate::backend::Backend;
use crate::callback::Notifier;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::scheduler::Scheduler;
use crate::store::Store;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub scheduler: Arc<Scheduler>,
    pub backend: Arc<dyn Backend>,
    pub registry: Registry,
    pub metrics: Metrics,
    pub notifier: Arc<dyn Notifier>,
    /// The admin password.
    pub password: String,
}
