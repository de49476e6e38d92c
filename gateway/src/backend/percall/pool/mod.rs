//! Warm single-use containers for per-call functions ([`Pool`]): per
//! function a few containers already started from its image, each running
//! the launcher and waiting for exactly one call ([`super::warm`]). A call
//! takes one (a hit); when none is ready but one began starting before the
//! call came and no earlier call waits for it, it waits (a wait), since that
//! one began before a cold start would begin now and starts take about as
//! long; else it runs cold ([`super::cold`], a miss). Waiting calls get containers
//! in the order they came, and one waits at most as long as the slowest of
//! the recent starts (what a cold start may take), then runs cold; a start
//! that fails sends the calls it leaves without a container cold at once.
//! Replacements start in the background. A container is never used twice.
//!
//! How many: per function, the calls per second (decaying) times the time
//! a container takes to start, plus one, within the per-function cap; 0
//! once the function has not been called for the idle time. All pools
//! together stay within a cap on containers and one on memory (each
//! container counted at its memory limit). Idle containers do not count
//! against the quota: only calls do. A deploy or update drains the
//! function's pool; a container made from an older spec is never handed a
//! call, and each keeps the runtime it was started under: a call is handed
//! only a container of its function's runtime (a runc container never
//! serves a function that asks for runsc). Warm containers carry the
//! gateway's owner label and
//! [`labels::POOLED`] (not the function's label: they are no call's yet),
//! and the gateway removes its own at start.
//!
//! [`demand`] decides how many a function should have; [`metrics`] holds
//! the pool's metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bollard::models::{ContainerCreateBody, HealthConfig};
use prometheus::core::Collector;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

mod demand;
mod metrics;

use demand::Demand;
use metrics::PoolMetrics;

use super::cold;
use super::launcher::Launcher;
use super::warm::{self, Claim};
use crate::backend::container::setup::Isolation;
use crate::backend::container::{labels, Engine, EngineError};
use crate::backend::{BackendError, Invocation, Outcome};

use crate::function::Function;

/// The bounds of the warm containers kept for per-call functions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// A function not called for this long keeps none.
    pub idle: Duration,
    /// Most warm containers of one function (0: none at all).
    pub per_function: usize,
    /// Most warm containers across functions.
    pub total: usize,
    /// Most memory of warm containers across functions, each counted at
    /// its memory limit.
    pub memory_bytes: u64,
    /// The image whose `/fwatchdog` is the warm containers' launcher.
    pub launcher_image: String,
}

/// The function label that opts a function out of warm containers
/// (`"false"`).
pub const OPT_OUT: &str = "com.faas.pool";
/// How long a warm container may take to say it is ready.
const READY_LIMIT: Duration = Duration::from_secs(60);
/// How a container without a memory limit is counted against the pool's
/// memory.
const UNLIMITED_WEIGHT: u64 = 64 << 20;
/// The pool's memory when it is a share of the engine's and the engine does
/// not say how much it has.
const FALLBACK_MEMORY: u64 = 2 << 30;
/// The start time assumed before one was measured.
const FIRST_START_GUESS: f64 = 0.5;
/// How long a call waits for a starting container before any start was
/// measured.
const FIRST_WAIT_LIMIT: Duration = Duration::from_secs(5);
/// How many recent starts bound a call's wait.
const RECENT_STARTS: usize = 16;
/// The longest pause after warm containers of a function failed to start.
const MOST_BACKOFF: Duration = Duration::from_secs(60);

/// Warm containers of every per-call function.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    config: PoolConfig,
    /// `None`: no launcher image; every call runs cold.
    launcher: Option<Launcher>,
    state: Mutex<State>,
    metrics: PoolMetrics,
}

#[derive(Default)]
struct State {
    spares: HashMap<String, Spare>,
    /// Warm containers ready or starting, across functions.
    containers: usize,
    /// Their memory, as counted.
    memory: u64,
    /// Seconds a warm container takes to start, averaged.
    start_seconds: Option<f64>,
    /// The last [`RECENT_STARTS`] start times.
    recent_starts: VecDeque<Duration>,
}

/// One function's warm containers.
struct Spare {
    /// The spec they are made from.
    function: Function,
    /// Bumped when the spec changes: containers of an older generation are
    /// let go as soon as they are ready.
    generation: u64,
    ready: VecDeque<Entry>,
    /// Containers starting, of any generation.
    starting: usize,
    /// Those of the current generation: the ones calls may wait for.
    starting_current: usize,
    /// Calls waiting for a starting container, first come first served;
    /// `None` sends a call cold.
    waiters: VecDeque<oneshot::Sender<Option<Entry>>>,
    demand: Demand,
    /// Failed starts in a row, and no new start until this instant.
    failures: u32,
    paused_until: Option<Instant>,
}

/// A ready container: handing it a claim starts the call; dropping the
/// sender lets the container go.
struct Entry {
    claims: oneshot::Sender<Claim>,
    weight: u64,
    /// The OCI runtime it runs under.
    runtime: String,
}

/// What a call gets from the pool.
enum Take {
    Ready(Entry),
    /// Wait up to the limit for a container that is starting.
    Wait(oneshot::Receiver<Option<Entry>>, Duration),
    Cold,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pool {
    /// A pool on `engine`; removes the warm containers an earlier run of
    /// this gateway left, and prepares the launcher volume. Without a
    /// launcher image the pool stays empty and says so once. A memory cap
    /// of 0 is a quarter of the engine's memory.
    pub async fn new(engine: Engine, mut config: PoolConfig) -> Result<Pool, EngineError> {
        if config.memory_bytes == 0 {
            config.memory_bytes = engine_memory_share(&engine).await;
        }
        let leftovers = [labels::POOLED.to_string(), labels::owned_by(&engine.owner)];
        let removed = engine.remove_labelled(&leftovers).await?;
        if removed > 0 {
            tracing::info!("removed {removed} warm containers left by an earlier run");
        }
        let launcher = if config.per_function == 0 || config.total == 0 {
            None
        } else {
            match Launcher::prepare(&engine, &config.launcher_image).await {
                Ok(launcher) => Some(launcher),
                Err(e) => {
                    tracing::warn!(
                        "no warm containers: {e} (build {} with scripts/build-images.sh)",
                        config.launcher_image
                    );
                    None
                }
            }
        };
        let metrics = PoolMetrics::new()
            .map_err(|e| EngineError::Lost(format!("the pool's metrics: {e}")))?;
        let inner = Arc::new(Inner {
            engine,
            config,
            launcher,
            state: Mutex::default(),
            metrics,
        });
        if inner.launcher.is_some() {
            tokio::spawn(trim(Arc::downgrade(&inner)));
        }
        Ok(Pool { inner })
    }

    /// The OCI runtime `function`'s containers are given on this engine.
    pub fn runtime<'a>(&'a self, function: &'a Function) -> &'a str {
        self.inner.engine.runtimes.of(function)
    }

    /// The pool's metrics, for the gateway's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        self.inner.metrics.collectors()
    }

    /// Runs one call of a per-call function: in a warm container when one
    /// is ready or starting for it, else cold. Dropping the future stops the
    /// wait, or the call.
    pub async fn invoke(
        &self,
        function: &Function,
        mut call: Invocation,
    ) -> Result<Outcome, BackendError> {
        if !self.serves(function) {
            return cold::invoke(&self.inner.engine, function, call).await;
        }
        let name = function.name.as_str();
        let began = Instant::now();
        let mut first = true;
        loop {
            let (entry, waited) = match self.inner.take(function, first) {
                Take::Ready(entry) => (entry, false),
                Take::Wait(waiting, limit) => match wait(waiting, limit.min(call.timeout)).await {
                    Some(entry) => (entry, true),
                    None => break,
                },
                Take::Cold => break,
            };
            first = false;
            let cancel = CancellationToken::new();
            let _cancel_on_drop = cancel.clone().drop_guard();
            let (answer, answered) = oneshot::channel();
            let claim = Claim {
                env: call.request.env(call.id),
                input: call.input.clone(),
                timeout: call.timeout.saturating_sub(began.elapsed()),
                max_output_bytes: call.max_output_bytes,
                answer,
                cancel,
                reached: call.reached.clone(),
                span: tracing::Span::current(),
            };
            if entry.claims.send(claim).is_ok() {
                let counter = if waited {
                    &self.inner.metrics.waits
                } else {
                    &self.inner.metrics.hits
                };
                counter.with_label_values(&[name]).inc();
                return answered.await.unwrap_or_else(|_| {
                    Err(BackendError::Unreachable(format!(
                        "the warm container of {name} ended without an answer"
                    )))
                });
            }
            // It died between being ready and being claimed: another.
        }
        self.inner.metrics.misses.with_label_values(&[name]).inc();
        tracing::debug!("no warm container for the call: it runs cold");
        // The wait is part of the call's time.
        call.timeout = call.timeout.saturating_sub(began.elapsed());
        if call.timeout.is_zero() {
            return Err(BackendError::NotReady(format!(
                "timed out waiting for a container of {name} to start (the function's timeout); the function did not run"
            )));
        }
        cold::invoke(&self.inner.engine, function, call).await
    }

    /// Whether calls of `function` may be served warm.
    fn serves(&self, function: &Function) -> bool {
        self.inner.launcher.is_some()
            && function.labels.get(OPT_OUT).map(String::as_str) != Some("false")
    }

    /// A function's spec is new or changed: its warm containers go, and new
    /// ones are made from this spec when it is next called.
    pub fn reset(&self, function: &Function) {
        let mut state = lock(&self.inner.state);
        let State {
            spares,
            containers,
            memory,
            ..
        } = &mut *state;
        match spares.get_mut(&function.name) {
            Some(spare) => {
                spare.function = function.clone();
                spare.generation += 1;
                spare.paused_until = None;
                spare.failures = 0;
                // What starts now is of the old spec: its waiters run cold.
                spare.starting_current = 0;
                for waiter in spare.waiters.drain(..) {
                    let _ = waiter.send(None);
                }
                for entry in spare.ready.drain(..) {
                    *containers -= 1;
                    *memory -= entry.weight;
                }
            }
            None if self.serves(function) => {
                spares.insert(function.name.clone(), Spare::new(function.clone()));
            }
            None => {}
        }
        self.inner.metrics.set_ready(&function.name, 0);
    }

    /// A function is gone: so are its warm containers.
    pub fn forget(&self, name: &str) {
        let mut state = lock(&self.inner.state);
        if let Some(spare) = state.spares.remove(name) {
            state.containers -= spare.ready.len();
            state.memory -= spare.ready.iter().map(|e| e.weight).sum::<u64>();
        }
        self.inner.metrics.forget(name);
    }
}

impl Inner {
    /// Takes a ready container of `function`'s current spec, or a place in
    /// line for one that began starting before this call and is not yet
    /// promised to a call, or
    /// says to run cold; counts the call (when `count`), and starts what
    /// the pool now lacks.
    fn take(self: &Arc<Inner>, function: &Function, count: bool) -> Take {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let spare = state
            .spares
            .entry(function.name.clone())
            .or_insert_with(|| Spare::new(function.clone()));
        if count {
            spare.demand.call(now);
        }
        // A call of an older or newer spec than the pool's runs cold.
        let current = spare.function == *function;
        let runtime = self.engine.runtimes.of(function);
        let mut taken = None;
        let mut gone = Vec::new();
        if current {
            while let Some(entry) = spare.ready.pop_front() {
                gone.push(entry.weight);
                if !entry.claims.is_closed() && entry.runtime == runtime {
                    taken = Some(entry);
                    break;
                }
            }
        }
        let ready = spare.ready.len();
        // Only a container that began before this call came is ready sooner
        // than a cold start would be; those this call starts are not.
        let started_before = spare.starting_current;
        for weight in gone {
            state.release(weight);
        }
        self.metrics.set_ready(&function.name, ready);
        self.fill(&mut state, &function.name, now);
        if let Some(entry) = taken {
            return Take::Ready(entry);
        }
        let limit = state.wait_limit();
        match state.spares.get_mut(&function.name) {
            Some(spare) if current => {
                spare.waiters.retain(|waiter| !waiter.is_closed());
                if started_before.min(spare.starting_current) > spare.waiters.len() {
                    let (waiter, waiting) = oneshot::channel();
                    spare.waiters.push_back(waiter);
                    Take::Wait(waiting, limit)
                } else {
                    Take::Cold
                }
            }
            _ => Take::Cold,
        }
    }

    /// Starts warm containers of `name` until it has as many as its demand
    /// asks, within the caps.
    fn fill(self: &Arc<Inner>, state: &mut State, name: &str, now: Instant) {
        let start_seconds = state.start_seconds.unwrap_or(FIRST_START_GUESS);
        let Some(spare) = state.spares.get(name) else {
            return;
        };
        if spare.paused_until.is_some_and(|until| now < until) {
            return;
        }
        let want = spare.demand.target(now, start_seconds, &self.config);
        let have = spare.ready.len() + spare.starting;
        let weight = weight(&spare.function, &self.engine.isolation);
        let (function, generation) = (spare.function.clone(), spare.generation);
        for _ in have..want {
            if state.containers >= self.config.total
                || state.memory + weight > self.config.memory_bytes
            {
                break;
            }
            state.containers += 1;
            state.memory += weight;
            if let Some(spare) = state.spares.get_mut(name) {
                spare.starting += 1;
                spare.starting_current += 1;
            }
            let pool = Arc::clone(self);
            let function = function.clone();
            tokio::spawn(async move { pool.start_one(function, generation, weight).await });
        }
    }

    /// Starts one warm container of `function` and, once it is ready,
    /// offers it to calls; it then waits for its claim.
    async fn start_one(self: Arc<Inner>, function: Function, generation: u64, weight: u64) {
        let began = Instant::now();
        let started = match self.body(&function).await {
            Ok(body) => {
                let name = format!(
                    "faas-{}-warm-{}",
                    function.name,
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                );
                warm::start(&self.engine, &function.name, &name, body, READY_LIMIT).await
            }
            Err(e) => Err(e),
        };
        let (claims, claimed) = oneshot::channel();
        self.settle(&function, generation, weight, began, &started, claims);
        if let Ok(ready) = started {
            // Not offered: the claim sender is gone, so it is let go now.
            warm::keep(self.engine.clone(), ready, claimed).await;
        }
    }

    /// Accounts for a start that ended: offers the container to calls if it
    /// is of the function's current spec, else lets it go (and backs off
    /// after a failure).
    fn settle(
        &self,
        function: &Function,
        generation: u64,
        weight: u64,
        began: Instant,
        started: &Result<warm::Ready, BackendError>,
        claims: oneshot::Sender<Claim>,
    ) {
        let mut state = lock(&self.state);
        let spare = state.spares.get_mut(&function.name);
        let mut offered = false;
        let mut handed = false;
        match (started, spare) {
            (Ok(_), Some(spare)) => {
                spare.starting -= 1;
                spare.failures = 0;
                if spare.generation == generation {
                    spare.starting_current -= 1;
                    let runtime = self.engine.runtimes.of(function).to_string();
                    handed = spare.offer(Entry {
                        claims,
                        weight,
                        runtime,
                    });
                    let ready = spare.ready.len();
                    self.metrics.set_ready(&function.name, ready);
                    offered = true;
                }
            }
            (Err(e), Some(spare)) => {
                spare.starting -= 1;
                if spare.generation == generation {
                    spare.starting_current -= 1;
                    spare.send_cold();
                }
                spare.failures += 1;
                let pause = Duration::from_secs(1 << spare.failures.min(6)).min(MOST_BACKOFF);
                spare.paused_until = Some(Instant::now() + pause);
                if spare.failures == 1 {
                    tracing::warn!(
                        "warm containers of {} cannot start, its calls run cold: {e}",
                        function.name
                    );
                }
            }
            (_, None) => {}
        }
        if offered {
            let seconds = began.elapsed().as_secs_f64();
            self.metrics
                .start_seconds
                .with_label_values(&[&function.name])
                .observe(seconds);
            let average = state
                .start_seconds
                .map_or(seconds, |s| 0.8 * s + 0.2 * seconds);
            state.start_seconds = Some(average);
            if state.recent_starts.len() == RECENT_STARTS {
                state.recent_starts.pop_front();
            }
            state.recent_starts.push_back(began.elapsed());
        }
        // A container handed to a waiting call is no longer the pool's.
        if !offered || handed {
            state.release(weight);
        }
    }

    /// The create-config of a warm container of `function`: a per-call
    /// container's own ([`cold::create_body`]), with the launcher as
    /// its entrypoint running the image's command, the launcher's volume
    /// mounted read-only, and the pool's label instead of the function's.
    async fn body(&self, function: &Function) -> Result<ContainerCreateBody, BackendError> {
        let launcher = self
            .launcher
            .as_ref()
            .ok_or_else(|| BackendError::Start("no launcher".into()))?;
        let image = self
            .engine
            .docker
            .inspect_image(&function.image)
            .await
            .map_err(|source| EngineError::NoSuchImage {
                image: function.image.clone(),
                source: Some(source),
            })?;
        let config = image.config.unwrap_or_default();
        let mut argv = config.entrypoint.unwrap_or_default();
        if function.command.is_empty() {
            argv.extend(config.cmd.unwrap_or_default());
        } else {
            argv.extend(function.command.iter().cloned());
        }
        if argv.is_empty() {
            return Err(BackendError::Start(format!(
                "{} names no command and its image none either",
                function.name
            )));
        }
        let pooled = [(labels::POOLED.to_string(), function.name.clone())];
        let mut body = cold::create_body(&self.engine, function, &[], pooled)?;
        if let Some(labels) = body.labels.as_mut() {
            labels.remove(labels::FUNCTION);
        }
        body.entrypoint = Some(launcher.entrypoint());
        // The image's health check would run every few seconds in every
        // waiting container, for nothing: nothing listens.
        body.healthcheck = Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
        body.cmd = Some(argv);
        let host = body.host_config.get_or_insert_with(Default::default);
        host.mounts
            .get_or_insert_with(Vec::new)
            .push(launcher.mount(true));
        host.auto_remove = Some(true);
        Ok(body)
    }
}

impl State {
    fn release(&mut self, weight: u64) {
        self.containers = self.containers.saturating_sub(1);
        self.memory = self.memory.saturating_sub(weight);
    }

    /// How long a call waits for a starting container: as long as the
    /// slowest of the recent starts, what a cold start may take now.
    fn wait_limit(&self) -> Duration {
        self.recent_starts
            .iter()
            .max()
            .copied()
            .unwrap_or(FIRST_WAIT_LIMIT)
    }
}

impl Spare {
    fn new(function: Function) -> Spare {
        Spare {
            function,
            generation: 0,
            ready: VecDeque::new(),
            starting: 0,
            starting_current: 0,
            waiters: VecDeque::new(),
            demand: Demand::default(),
            failures: 0,
            paused_until: None,
        }
    }
}

impl Spare {
    /// Hands a ready container to the first call still waiting; with none,
    /// keeps it ready. Returns whether a call took it.
    fn offer(&mut self, entry: Entry) -> bool {
        let mut entry = Some(entry);
        while let Some(waiter) = self.waiters.pop_front() {
            match waiter.send(entry.take()) {
                Ok(()) => return true,
                // That call went away or stopped waiting.
                Err(back) => entry = back,
            }
        }
        self.ready.extend(entry);
        false
    }

    /// A start failed: the calls that no starting container will serve
    /// now, the last to come first, run cold.
    fn send_cold(&mut self) {
        self.waiters.retain(|waiter| !waiter.is_closed());
        while self.waiters.len() > self.starting_current {
            if let Some(waiter) = self.waiters.pop_back() {
                let _ = waiter.send(None);
            }
        }
    }
}

/// Waits up to `limit` for a starting container; `None` when the call
/// should run cold (the limit passed, its start failed, the spec changed).
async fn wait(mut waiting: oneshot::Receiver<Option<Entry>>, limit: Duration) -> Option<Entry> {
    match tokio::time::timeout(limit, &mut waiting).await {
        Ok(entry) => entry.ok().flatten(),
        Err(_) => {
            // One may have been handed over just now.
            waiting.close();
            waiting.try_recv().ok().flatten()
        }
    }
}

/// A quarter of the engine's memory (`MemTotal` of `docker info`): what
/// warm containers may reserve at their memory limits when the cap is 0.
/// [`FALLBACK_MEMORY`] when the engine does not say.
async fn engine_memory_share(engine: &Engine) -> u64 {
    let total = engine
        .docker
        .info()
        .await
        .ok()
        .and_then(|info| info.mem_total)
        .and_then(|total| u64::try_from(total).ok())
        .filter(|&total| total > 0);
    match total {
        Some(total) => total / 4,
        None => {
            tracing::warn!(
                "the engine does not say its memory: warm containers get {} MiB",
                FALLBACK_MEMORY >> 20
            );
            FALLBACK_MEMORY
        }
    }
}

/// How much of the pool's memory a warm container of `function` takes: its
/// memory limit (the function's, or the gateway's default).
fn weight(function: &Function, isolation: &Isolation) -> u64 {
    crate::backend::container::setup::host_config(function, isolation)
        .ok()
        .and_then(|host| host.memory)
        .and_then(|memory| u64::try_from(memory).ok())
        .filter(|&memory| memory > 0)
        .unwrap_or(UNLIMITED_WEIGHT)
}

/// Lets warm containers go while the pools are idle: every function not
/// called for the idle time goes to 0, others down to what their demand
/// asks. Ends with the pool.
async fn trim(pool: Weak<Inner>) {
    let every = match pool.upgrade() {
        Some(inner) => {
            (inner.config.idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(5))
        }
        None => return,
    };
    loop {
        tokio::time::sleep(every).await;
        let Some(inner) = pool.upgrade() else {
            return;
        };
        let now = Instant::now();
        let mut let_go = Vec::new();
        let mut state = lock(&inner.state);
        let start_seconds = state.start_seconds.unwrap_or(FIRST_START_GUESS);
        let State {
            spares,
            containers,
            memory,
            ..
        } = &mut *state;
        for (name, spare) in spares.iter_mut() {
            let want = spare.demand.target(now, start_seconds, &inner.config);
            let before = spare.ready.len();
            while spare.ready.len() + spare.starting > want {
                let Some(entry) = spare.ready.pop_front() else {
                    break;
                };
                *containers -= 1;
                *memory -= entry.weight;
                let_go.push(entry);
            }
            if spare.ready.len() != before {
                inner.metrics.set_ready(name, spare.ready.len());
            }
        }
        drop(state);
        // Each container's task removes it once its sender is dropped.
        drop(let_go);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spare() -> Spare {
        let deployment = serde_json::json!({"service": "f", "image": "i", "command": ["cat"]});
        let f = Function::create(serde_json::from_value(deployment).expect("json"), 0)
            .expect("a function");
        Spare::new(f)
    }

    fn entry(weight: u64) -> Entry {
        Entry {
            claims: oneshot::channel().0,
            weight,
            runtime: "runc".into(),
        }
    }

    #[test]
    fn ready_containers_go_to_waiting_calls_first_come_first_served() {
        let mut spare = spare();
        let (first, mut first_waits) = oneshot::channel();
        let (gone, gone_waits) = oneshot::channel();
        let (second, mut second_waits) = oneshot::channel();
        spare.waiters.extend([first, gone, second]);
        drop(gone_waits);
        assert!(spare.offer(entry(1)));
        assert!(matches!(first_waits.try_recv(), Ok(Some(e)) if e.weight == 1));
        assert!(spare.offer(entry(2)), "the call that went away is skipped");
        assert!(matches!(second_waits.try_recv(), Ok(Some(e)) if e.weight == 2));
        assert!(!spare.offer(entry(3)), "no one waits: it stays ready");
        assert_eq!(spare.ready.len(), 1);
    }

    #[test]
    fn a_failed_start_sends_the_last_waiting_call_cold() {
        let mut spare = spare();
        let (first, mut first_waits) = oneshot::channel();
        let (second, mut second_waits) = oneshot::channel();
        spare.waiters.extend([first, second]);
        spare.starting_current = 1;
        spare.send_cold();
        assert!(matches!(second_waits.try_recv(), Ok(None)), "cold");
        assert!(first_waits.try_recv().is_err(), "still waiting");
        assert_eq!(spare.waiters.len(), 1);
    }

    #[test]
    fn a_container_counts_at_its_memory_limit() {
        let deployment = serde_json::json!({"service": "f", "image": "i", "command": ["cat"],
            "limits": {"memory": "32m"}});
        let f = Function::create(serde_json::from_value(deployment).expect("json"), 0)
            .expect("a function");
        let isolation = Isolation::default();
        assert_eq!(weight(&f, &isolation), 32_000_000);
        let deployment = serde_json::json!({"service": "f", "image": "i", "command": ["cat"]});
        let f = Function::create(serde_json::from_value(deployment).expect("json"), 0)
            .expect("a function");
        assert_eq!(weight(&f, &isolation), isolation.default_memory as u64);
        let unlimited = Isolation {
            default_memory: 0,
            ..Isolation::default()
        };
        assert_eq!(weight(&f, &unlimited), UNLIMITED_WEIGHT);
    }
}
