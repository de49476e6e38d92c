//! Start-up and shutdown. [`run`] makes the data directory private, kills
//! the function processes a previous run left, opens the store and
//! recovers the previous run's calls, opens the backend and
//! redeploys the functions, serves the routes on the listener it is given
//! (through [`crate::connection`]) until `shutdown` completes, then drains:
//! no new connections, queued calls stop waiting, running calls (each
//! bounded by its own timeout) and their callbacks finish, and the store is
//! flushed.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use axum::http::header::AUTHORIZATION;
use axum::response::IntoResponse;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::autoscale::Autoscaler;
use crate::backend::open::Found;
use crate::callback::{HttpNotifier, Notifier};
use crate::config::Config;
use crate::connection::{Admission, Admit};
use crate::error::Error;
use crate::invoke::{Bounds, Calls, Recorder};
use crate::logins::{Client, Logins};
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::samples::{Figures, Samples};
use crate::scheduler::Scheduler;
use crate::store::{Sqlite, Store};

/// Serves the gateway of `config` on `listener` until `shutdown`.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let found = Found::probe(config.backend.asked()).await?;
    run_on(listener, config, found, shutdown).await
}

/// Serves the gateway of `config` on `listener`, its functions on the
/// engine `found`, until `shutdown`.
pub async fn run_on(
    listener: TcpListener,
    config: Config,
    found: Found,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = open(config, found).await?;
    let address = listener.local_addr()?;
    // The one line on STDOUT, not through `tracing`: it is how whatever
    // started the gateway learns its address (the tests, `scripts/` and
    // `bench/` read it from the start of a line, on STDOUT), so it keeps
    // this text and shows whatever `RUST_LOG` says.
    println!(
        "gateway listening on http://{address} (backend {})",
        app.backend.name()
    );
    app.tasks.spawn(autoscaler(&app).run(app.stopping.clone()));
    app.tasks.spawn({
        let app = app.clone();
        async move {
            let stopping = app.stopping.clone();
            crate::samples::run(&app.samples, stopping, || figures(&app)).await;
        }
    });
    let stopping = app.stopping.clone();
    let router = crate::routes::router(app.clone());
    let limits = app.config.connections;
    let admit = admit(app.clone());
    crate::connection::serve(listener, router, limits, admit, async move {
        shutdown.await;
        tracing::info!("shutting down");
        stopping.cancel();
    })
    .await;
    app.tasks.close();
    app.tasks.wait().await;
    // Everything written so far is committed once this write is.
    let _ = app.store.flush().await;
    Ok(())
}

/// What a connection in the reserved room may ask: `/healthz`, once, or
/// anything with the admin credentials (checked, and counted when wrong,
/// as every login is); without credentials, 503.
fn admit(app: Arc<App>) -> Admit {
    Arc::new(move |request, peer| {
        if request.uri().path() == "/healthz" {
            return Admission::Once;
        }
        if !request.headers().contains_key(AUTHORIZATION) {
            let max = app.config.connections.max_connections;
            return Admission::Refused(Error::ConnectionsFull(max).into_response());
        }
        match crate::auth::check(&app, request.headers(), Some(Client::of(peer.ip()))) {
            Ok(()) => Admission::Trusted,
            Err(e) => Admission::Refused(e.into_response()),
        }
    })
}

/// The autoscaler over the gateway's functions.
fn autoscaler(app: &App) -> Autoscaler {
    Autoscaler {
        registry: app.registry.clone(),
        scheduler: app.scheduler.clone(),
        backend: app.backend.clone(),
        floors: app.alert_floors.clone(),
        metrics: app.metrics.clone(),
        limits: app.config.scaling,
    }
}

/// What the portal's plots sample of every deployed function: its queue,
/// its running calls and its replicas.
async fn figures(app: &App) -> Vec<Figures> {
    let mut figures = Vec::new();
    for deployed in app.registry.all() {
        let name = &deployed.function.name;
        let (queued, running) = app.scheduler.depth(name);
        let replicas = app.backend.replicas(name).await.unwrap_or_default();
        figures.push(Figures {
            function: name.clone(),
            queued,
            running,
            replicas,
        });
    }
    figures
}

/// The gateway's state for `config`, with the functions deployed and the
/// previous run's queued async calls resumed.
async fn open(config: Config, found: Found) -> anyhow::Result<Arc<App>> {
    let dir = &config.data_dir;
    crate::files::create_dir(dir)
        .and_then(|()| crate::files::tighten(dir))
        .with_context(|| format!("cannot make the data directory {} private", dir.display()))?;
    let password = crate::auth::load(&config)?;
    // Before the store marks their calls FAILED: they must not run on.
    let killed = crate::backend::percall::process::leftovers::sweep(dir);
    if killed > 0 {
        tracing::warn!("calls an earlier run left running: {killed}, their process groups killed");
    }
    let (store, recovered) = Sqlite::open(dir, config.caps)
        .with_context(|| format!("cannot open the database in {}", dir.display()))?;
    if recovered.failed > 0 {
        tracing::warn!(
            "{} calls were running or waiting synchronously when the gateway stopped: marked FAILED",
            recovered.failed
        );
    }
    let notifier = HttpNotifier::open(&config.callbacks)?;
    let backend = crate::backend::open::open(found, &config.backend(), &password).await?;
    let registry = Arc::new(Registry::default());
    let store: Arc<dyn Store> = Arc::new(store);
    crate::lifecycle::redeploy_at_start(&registry, &backend, &*store).await?;
    let metrics = Metrics::new()?;
    let samples = Arc::new(Samples::new(config.sample_interval));
    for collector in backend.collectors() {
        metrics.register(collector)?;
    }
    let scheduler = Scheduler::new(config.quota, config.max_queue, metrics.clone());
    let backend = Arc::new(backend);
    let notifier: Arc<dyn Notifier> = Arc::new(notifier);
    let (tasks, stopping) = (TaskTracker::new(), CancellationToken::new());
    let calls = Calls {
        recorder: Recorder {
            store: store.clone(),
            metrics: metrics.clone(),
            samples: samples.clone(),
        },
        scheduler: scheduler.clone(),
        runner: backend.clone(),
        notifier: notifier.clone(),
        tasks: tasks.clone(),
        stopping: stopping.clone(),
        cancels: Default::default(),
        bounds: Bounds {
            max_queue: config.max_queue,
            max_payload_bytes: config.max_payload_bytes,
            max_call_age: config.max_call_age,
        },
    };
    let app = Arc::new(App {
        scheduler,
        alert_floors: Default::default(),
        logins: Logins::new(config.auth.logins),
        config,
        store,
        backend,
        registry,
        metrics,
        samples,
        notifier,
        password,
        tasks,
        stopping,
        calls,
    });
    if !recovered.queued.is_empty() {
        tracing::info!("resuming {} queued async calls", recovered.queued.len());
    }
    crate::invoke::resume(&app.calls, &app.registry, recovered.queued);
    Ok(app)
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn signals() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(term) => drop(term.recv().await),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = terminated => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
