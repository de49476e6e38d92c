//! The pipeline's handles for a test: a real store in a temporary
//! directory, a runner that does what each call's input was scripted to
//! and says which calls it started, and a notifier that keeps what it was
//! given.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::Uri;
use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use watchdog::{Exit, Outcome};

use crate::backend::{BackendError, Invocation, Request};
use crate::call::{CallKind, End};
use crate::call_id::CallId;
use crate::callback::{Callback, Notifier, UrlError};
use crate::function::{Deployment, Function};
use crate::invoke::{Answer, Bounds, Call, Calls, Invoker, Recorder};
use crate::metrics::Metrics;
use crate::registry::{Deployed, Registry};
use crate::samples::Samples;
use crate::scheduler::Scheduler;
use crate::store::{Caps, Recovered, Sqlite, Store};

/// What the runner does with a call, chosen by its input.
#[derive(Clone)]
pub enum Plan {
    /// Exits 0 at once, echoing its input.
    Echo,
    /// Waits until the token is cancelled, then exits 0.
    Hold(CancellationToken),
    /// Takes this long, then exits 0.
    Take(Duration),
    /// Runs past its timeout, then is killed, as a real run would be.
    Overrun,
    Exit(Exit),
    Fail(BackendError),
}

/// A call as the runner saw it start.
#[derive(Debug, Clone)]
pub struct Started {
    pub input: String,
    pub timeout: Duration,
}

#[derive(Default)]
pub struct Runner {
    plans: Mutex<HashMap<String, Plan>>,
    started: watch::Sender<Vec<Started>>,
    /// The inputs of the runs dropped before they ended: killed, for a
    /// real runner.
    killed: Mutex<Vec<String>>,
}

/// A run in progress: killed if dropped before [`Running::ended`].
struct Running<'a> {
    runner: &'a Runner,
    input: Option<String>,
}

impl Running<'_> {
    fn ended(mut self) {
        self.input = None;
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(input) = self.input.take() {
            self.runner.killed.lock().expect("killed").push(input);
        }
    }
}

impl Runner {
    pub fn plan(&self, input: &str, plan: Plan) {
        let mut plans = self.plans.lock().expect("plans");
        plans.insert(input.to_string(), plan);
    }

    /// Holds the call whose input is `input` until the token is cancelled.
    pub fn hold(&self, input: &str) -> CancellationToken {
        let gate = CancellationToken::new();
        self.plan(input, Plan::Hold(gate.clone()));
        gate
    }

    /// The calls started so far, in their order.
    pub fn started(&self) -> Vec<Started> {
        self.started.borrow().clone()
    }

    /// The inputs of the calls started so far, in their order.
    pub fn inputs(&self) -> Vec<String> {
        self.started().into_iter().map(|s| s.input).collect()
    }

    /// Waits until the call whose input is `input` has started.
    pub async fn until_running(&self, input: &str) {
        let mut seen = self.started.subscribe();
        let running = |s: &Vec<Started>| s.iter().any(|call| call.input == input);
        seen.wait_for(running).await.expect("the runner");
    }

    /// The inputs of the runs killed (dropped before they ended).
    pub fn killed(&self) -> Vec<String> {
        self.killed.lock().expect("killed").clone()
    }

    /// Waits until `n` calls have started.
    pub async fn until_started(&self, n: usize) {
        let mut seen = self.started.subscribe();
        seen.wait_for(|s| s.len() >= n).await.expect("the runner");
    }
}

#[async_trait]
impl Invoker for Runner {
    async fn invoke(
        &self,
        _function: &Function,
        call: Invocation,
    ) -> Result<Outcome, BackendError> {
        let input = String::from_utf8_lossy(&call.input).into_owned();
        let plan = {
            let plans = self.plans.lock().expect("plans");
            plans.get(&input).cloned().unwrap_or(Plan::Echo)
        };
        self.started.send_modify(|s| {
            s.push(Started {
                input: input.clone(),
                timeout: call.timeout,
            })
        });
        let began = Instant::now();
        let running = Running {
            runner: self,
            input: Some(input),
        };
        let exit = match plan {
            Plan::Echo => Exit::Code(0),
            Plan::Hold(gate) => {
                gate.cancelled().await;
                Exit::Code(0)
            }
            Plan::Take(time) => {
                tokio::time::sleep(time).await;
                Exit::Code(0)
            }
            Plan::Overrun => {
                tokio::time::sleep(call.timeout).await;
                Exit::TimedOut
            }
            Plan::Exit(exit) => exit,
            Plan::Fail(e) => {
                running.ended();
                return Err(e);
            }
        };
        running.ended();
        Ok(Outcome {
            exit,
            stdout: call.input,
            stderr: Bytes::new(),
            duration: began.elapsed().max(Duration::from_millis(1)),
        })
    }
}

/// Keeps every result it is asked to deliver.
#[derive(Default)]
pub struct Notified {
    delivered: watch::Sender<Vec<Callback>>,
}

/// What [`Notified`] says of each delivery, for the call's events.
pub const DELIVERED: &str = "delivered: 200";

impl Notified {
    /// What was delivered so far, in its order.
    pub fn delivered(&self) -> Vec<(CallId, u16, Bytes)> {
        let all = self.delivered.borrow();
        all.iter()
            .map(|c| (c.call_id, c.status, c.body.clone()))
            .collect()
    }
}

#[async_trait]
impl Notifier for Notified {
    async fn check(&self, _url: &Uri) -> Result<(), UrlError> {
        Ok(())
    }

    async fn notify(&self, callback: Callback) -> String {
        self.delivered.send_modify(|d| d.push(callback));
        DELIVERED.to_string()
    }
}

/// A data directory of its own, removed afterwards.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new() -> Dir {
        let dir = std::env::temp_dir().join(format!("faas-invoke-{}", CallId::new()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Dir(dir)
    }

    pub fn open(&self) -> (Arc<dyn Store>, Recovered) {
        let caps = Caps {
            output_bytes: 1 << 30,
            log_bytes: 1 << 30,
            database_bytes: 1 << 40,
        };
        let (store, recovered) = Sqlite::open(&self.0, caps).expect("the store opens");
        (Arc::new(store), recovered)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The pipeline's handles on a store, the fake runner and notifier.
pub struct Gateway {
    pub calls: Calls,
    pub store: Arc<dyn Store>,
    pub runner: Arc<Runner>,
    pub notified: Arc<Notified>,
    pub registry: Registry,
}

impl Gateway {
    /// `quota` calls at once, `max_queue` waiting per function, on a fresh
    /// store in a new directory, which lives as long as the `Dir` returned.
    pub fn fresh(quota: usize, max_queue: usize) -> (Dir, Gateway) {
        let dir = Dir::new();
        let gw = Gateway::on(dir.open().0, quota, max_queue);
        (dir, gw)
    }

    /// [`Gateway::fresh`] with [`F`](super::F) deployed, its timeout a minute.
    pub fn with_f(quota: usize, max_queue: usize) -> (Dir, Gateway, Arc<Deployed>) {
        let (dir, gw) = Gateway::fresh(quota, max_queue);
        let f = gw.deploy(super::F, 60);
        (dir, gw, f)
    }

    /// `quota` calls at once, `max_queue` waiting per function, on `store`.
    pub fn on(store: Arc<dyn Store>, quota: usize, max_queue: usize) -> Gateway {
        let metrics = Metrics::new().expect("metrics");
        let runner = Arc::new(Runner::default());
        let notified = Arc::new(Notified::default());
        let calls = Calls {
            recorder: Recorder {
                store: store.clone(),
                metrics: metrics.clone(),
                samples: Arc::new(Samples::new(Duration::from_secs(1))),
            },
            scheduler: Scheduler::new(quota, max_queue, metrics),
            runner: runner.clone(),
            notifier: notified.clone(),
            tasks: TaskTracker::new(),
            stopping: CancellationToken::new(),
            cancels: Default::default(),
            bounds: Bounds {
                max_queue,
                max_payload_bytes: 1 << 20,
                max_call_age: None,
            },
        };
        Gateway {
            calls,
            store,
            runner,
            notified,
            registry: Registry::default(),
        }
    }

    /// Deploys `name` with a timeout of `timeout` seconds.
    pub fn deploy(&self, name: &str, timeout: u64) -> Arc<Deployed> {
        self.deploy_with(
            Deployment {
                timeout: Some(timeout),
                ..Deployment::default()
            },
            name,
        )
    }

    /// Deploys `name` with a maxConcurrency of `limit`.
    pub fn deploy_limited(&self, name: &str, limit: u32) -> Arc<Deployed> {
        self.deploy_with(
            Deployment {
                max_concurrency: Some(limit),
                ..Deployment::default()
            },
            name,
        )
    }

    pub fn deploy_with(&self, deployment: Deployment, name: &str) -> Arc<Deployed> {
        let deployment = Deployment {
            service: Some(name.into()),
            image: Some("fake".into()),
            ..deployment
        };
        let function = Function::create(deployment, 1_000).expect("a function");
        self.registry
            .reserve(name)
            .expect("a new name")
            .commit(function);
        self.registry.get(name).expect("deployed")
    }

    /// Submits a call of `deployed` with `input`.
    pub async fn submit(
        &self,
        deployed: &Arc<Deployed>,
        kind: CallKind,
        input: &str,
    ) -> (CallId, Result<Answer, crate::error::Error>) {
        let call = call(kind, input);
        let id = call.id;
        (
            id,
            super::super::submit(&self.calls, deployed.clone(), call).await,
        )
    }

    /// Submits an async call of `deployed` with `input`, which must be
    /// accepted.
    pub async fn submit_async(&self, deployed: &Arc<Deployed>, input: &str) -> CallId {
        let (id, answer) = self.submit(deployed, CallKind::Async, input).await;
        super::accepted(answer);
        id
    }

    /// Submits an async call that runs until the token returned is
    /// cancelled, and waits until it runs.
    pub async fn held_async(
        &self,
        deployed: &Arc<Deployed>,
        input: &str,
    ) -> (CallId, CancellationToken) {
        let gate = self.runner.hold(input);
        let id = self.submit_async(deployed, input).await;
        self.runner.until_running(input).await;
        (id, gate)
    }

    /// Submits a sync call in a task of its own that runs until the token
    /// returned is cancelled, and waits until it runs.
    pub async fn held_sync(
        &self,
        deployed: &Arc<Deployed>,
        input: &str,
    ) -> (CallId, tokio::task::JoinHandle<End>, CancellationToken) {
        let gate = self.runner.hold(input);
        let (id, call) = self.running_sync(deployed, input).await;
        (id, call, gate)
    }

    /// Submits a sync call in a task of its own and waits until it runs.
    pub async fn running_sync(
        &self,
        deployed: &Arc<Deployed>,
        input: &str,
    ) -> (CallId, tokio::task::JoinHandle<End>) {
        let (id, call) = self.spawn_sync(deployed, input);
        self.runner.until_running(input).await;
        (id, call)
    }

    /// Submits a sync call in a task of its own: its end when it answers.
    pub fn spawn_sync(
        &self,
        deployed: &Arc<Deployed>,
        input: &str,
    ) -> (CallId, tokio::task::JoinHandle<End>) {
        let call = call(CallKind::Sync, input);
        let id = call.id;
        let (calls, deployed) = (self.calls.clone(), deployed.clone());
        let task = tokio::spawn(async move {
            match super::super::submit(&calls, deployed, call).await {
                Ok(Answer::Ended(end)) => end,
                Ok(Answer::Accepted) => panic!("a sync call was accepted"),
                Err(e) => panic!("a sync call was refused: {e}"),
            }
        });
        (id, task)
    }

    /// Stops the gateway as a signal does, lets the held call (`gate`)
    /// end, and drains: calls still queued stay PENDING, to resume.
    pub async fn stop(&self, gate: CancellationToken) {
        self.calls.stopping.cancel();
        gate.cancel();
        self.drain().await;
    }

    /// Waits for every async call's task, then for the store.
    pub async fn drain(&self) {
        self.calls.tasks.close();
        self.calls.tasks.wait().await;
        self.store.flush().await.expect("flush");
    }
}

pub fn call(kind: CallKind, input: &str) -> Call {
    Call {
        id: CallId::new(),
        caller_id: false,
        kind,
        request: Request::default(),
        input: Bytes::copy_from_slice(input.as_bytes()),
        callback: None,
    }
}
