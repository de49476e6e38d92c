//! Each step of deploy, update, remove and the redeploy at start failing
//! in turn, on a fake engine and a real SQLite store (wrapped to fail a
//! chosen write): afterwards the registry, the store and the engine agree.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::call_id::CallId;
use crate::store::contract::{function, ROOMY};
use crate::store::{Sqlite, StoreError};

/// What the fake engine or the store can be told to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Deploy,
    Update,
    Remove,
    Put,
    Forget,
}

/// A backend that keeps the functions it was given, failing the step it is
/// told to (for one function only, when named).
#[derive(Default)]
struct Engine {
    functions: Mutex<BTreeMap<String, Function>>,
    failing: Mutex<Option<(Step, Option<String>)>>,
}

impl Engine {
    fn fails(&self, step: Step, name: &str) -> Result<(), BackendError> {
        match &*self.failing.lock().expect("engine") {
            Some((failing, only))
                if *failing == step && only.as_deref().is_none_or(|n| n == name) =>
            {
                Err(BackendError::Unreachable(format!(
                    "{step:?} of {name} fails"
                )))
            }
            _ => Ok(()),
        }
    }

    fn functions(&self) -> Vec<Function> {
        self.functions
            .lock()
            .expect("engine")
            .values()
            .cloned()
            .collect()
    }
}

#[async_trait]
impl Deployer for Engine {
    fn name(&self) -> &'static str {
        "fake"
    }

    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        self.fails(Step::Deploy, &function.name)?;
        let mut functions = self.functions.lock().expect("engine");
        functions.insert(function.name.clone(), function.clone());
        Ok(())
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        self.fails(Step::Update, &function.name)?;
        let mut functions = self.functions.lock().expect("engine");
        match functions.get_mut(&function.name) {
            Some(old) => *old = function.clone(),
            None => return Err(BackendError::NotFound(function.name.clone())),
        }
        Ok(())
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        self.fails(Step::Remove, name)?;
        self.functions.lock().expect("engine").remove(name);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        Ok(self
            .functions
            .lock()
            .expect("engine")
            .keys()
            .cloned()
            .collect())
    }
}

/// A real store whose `put_function` or `remove_function` can be told to
/// fail.
struct Failing {
    inner: Sqlite,
    failing: Mutex<Option<Step>>,
}

impl Failing {
    fn fails(&self, step: Step) -> Result<(), StoreError> {
        match *self.failing.lock().expect("store") {
            Some(failing) if failing == step => Err(StoreError::Sqlite(format!("{step:?} fails"))),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl FunctionStore for Failing {
    fn writable(&self) -> Result<(), StoreError> {
        self.inner.writable()
    }
    async fn functions(&self) -> Result<Vec<Function>, StoreError> {
        self.inner.functions().await
    }
    async fn put_function(&self, function: &Function) -> Result<(), StoreError> {
        self.fails(Step::Put)?;
        self.inner.put_function(function).await
    }
    async fn remove_function(&self, name: &str) -> Result<(), StoreError> {
        self.fails(Step::Forget)?;
        self.inner.remove_function(name).await
    }
}

/// The registry, a fake engine and a store in a directory of its own,
/// removed afterwards.
struct Places {
    dir: PathBuf,
    registry: Registry,
    engine: Engine,
    store: Failing,
    metrics: Metrics,
    floors: AlertFloors,
}

impl Places {
    fn new() -> Places {
        let dir = std::env::temp_dir().join(format!("faas-lifecycle-{}", CallId::new()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Places {
            store: Places::open(&dir),
            dir,
            registry: Registry::default(),
            engine: Engine::default(),
            metrics: Metrics::new().expect("metrics"),
            floors: AlertFloors::default(),
        }
    }

    fn open(dir: &std::path::Path) -> Failing {
        let (inner, _) = Sqlite::open(dir, ROOMY).expect("the store opens");
        Failing {
            inner,
            failing: Mutex::new(None),
        }
    }

    fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle {
            registry: &self.registry,
            backend: &self.engine,
            store: &self.store,
            metrics: &self.metrics,
            floors: &self.floors,
            max_replicas: 5,
        }
    }

    fn fail_engine(&self, step: Step, only: Option<&str>) {
        *self.engine.failing.lock().expect("engine") = Some((step, only.map(String::from)));
    }

    fn fail_store(&self, step: Step) {
        *self.store.failing.lock().expect("store") = Some(step);
    }

    fn heal(&self) {
        *self.engine.failing.lock().expect("engine") = None;
        *self.store.failing.lock().expect("store") = None;
    }

    /// The functions the registry, the store and the engine hold, once
    /// checked to be the same.
    async fn agreed(&self) -> Vec<Function> {
        let registry: Vec<Function> = self
            .registry
            .all()
            .iter()
            .map(|d| d.function.clone())
            .collect();
        let stored = self.store.functions().await.expect("the functions");
        assert_eq!(registry, stored, "the registry and the store");
        assert_eq!(stored, self.engine.functions(), "the store and the engine");
        stored
    }

    /// Places holding one function, `name` of `image`.
    async fn with(name: &str, image: &str) -> Places {
        let places = Places::new();
        places.deploy(name, image).await.expect("deployed");
        places
    }

    async fn deploy(&self, name: &str, image: &str) -> Result<(), Error> {
        self.lifecycle().deploy(function(name, image)).await
    }
}

impl Drop for Places {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn image(image: &str) -> Deployment {
    Deployment {
        image: Some(image.into()),
        ..Deployment::default()
    }
}

fn names(functions: &[Function]) -> Vec<(&str, &str)> {
    functions
        .iter()
        .map(|f| (f.name.as_str(), f.image.as_str()))
        .collect()
}

#[tokio::test]
async fn deploy_update_and_remove_reach_all_three() {
    let places = Places::with("a", "one").await;
    places.deploy("b", "two").await.expect("deployed");
    assert_eq!(names(&places.agreed().await), [("a", "one"), ("b", "two")]);
    let again = places.deploy("a", "three").await;
    assert!(matches!(again, Err(Error::Exists(_))), "{again:?}");
    let updated = places.lifecycle().update("a", image("three")).await;
    assert_eq!(updated.expect("updated").image, "three");
    assert_eq!(
        names(&places.agreed().await),
        [("a", "three"), ("b", "two")]
    );
    places.floors.set("b", 3);
    places
        .lifecycle()
        .remove("b", false)
        .await
        .expect("removed");
    assert_eq!(names(&places.agreed().await), [("a", "three")]);
    assert_eq!(places.floors.of("b"), 0, "its floor is forgotten");
    let gone = places.lifecycle().remove("b", false).await;
    assert!(matches!(gone, Err(Error::NoSuchFunction(_))), "{gone:?}");
}

#[tokio::test]
async fn a_min_over_max_replicas_is_refused_before_any_step() {
    let places = Places::new();
    let mut f = function("a", "one");
    f.labels.insert("com.openfaas.scale.min".into(), "6".into());
    let refused = places.lifecycle().deploy(f).await;
    assert!(matches!(refused, Err(Error::BadRequest(_))), "{refused:?}");
    assert!(places.agreed().await.is_empty());
}

#[tokio::test]
async fn a_failed_backend_deploy_leaves_nothing_and_frees_the_name() {
    let places = Places::new();
    places.fail_engine(Step::Deploy, None);
    let failed = places.deploy("a", "one").await;
    assert!(matches!(failed, Err(Error::Backend(_))), "{failed:?}");
    assert!(places.agreed().await.is_empty());
    places.heal();
    places.deploy("a", "one").await.expect("the name is free");
    assert_eq!(names(&places.agreed().await), [("a", "one")]);
}

#[tokio::test]
async fn a_failed_store_put_takes_the_new_function_off_the_backend() {
    let places = Places::new();
    places.fail_store(Step::Put);
    let failed = places.deploy("a", "one").await;
    assert!(matches!(failed, Err(Error::Store(_))), "{failed:?}");
    assert!(places.agreed().await.is_empty());
    places.heal();
    places.deploy("a", "one").await.expect("the name is free");
}

/// What updating `a`, deployed as `one`, to `two` answers with `fail`
/// set, once checked that all three still hold `one`.
async fn failed_update(fail: impl FnOnce(&Places)) -> Result<Function, Error> {
    let places = Places::with("a", "one").await;
    fail(&places);
    let failed = places.lifecycle().update("a", image("two")).await;
    assert_eq!(names(&places.agreed().await), [("a", "one")]);
    failed
}

#[tokio::test]
async fn a_failed_backend_update_keeps_the_old_spec() {
    let failed = failed_update(|places| places.fail_engine(Step::Update, None)).await;
    assert!(matches!(failed, Err(Error::Backend(_))), "{failed:?}");
}

#[tokio::test]
async fn a_failed_store_update_restores_the_old_spec_on_the_backend() {
    let failed = failed_update(|places| places.fail_store(Step::Put)).await;
    assert!(matches!(failed, Err(Error::Store(_))), "{failed:?}");
}

#[tokio::test]
async fn a_failed_backend_remove_puts_the_function_back() {
    let places = Places::with("a", "one").await;
    let before = places.registry.get("a").expect("deployed");
    places.fail_engine(Step::Remove, None);
    let failed = places.lifecycle().remove("a", false).await;
    assert!(matches!(failed, Err(Error::Backend(_))), "{failed:?}");
    assert_eq!(names(&places.agreed().await), [("a", "one")]);
    assert!(
        before.life.removed.is_cancelled(),
        "its calls then were failed"
    );
    let after = places.registry.get("a").expect("back");
    assert!(!after.life.removed.is_cancelled(), "new calls run");
    places.heal();
    places
        .lifecycle()
        .remove("a", false)
        .await
        .expect("removed");
    assert!(places.agreed().await.is_empty());
}

#[tokio::test]
async fn a_failed_store_remove_redeploys_the_function() {
    let places = Places::with("a", "one").await;
    places.fail_store(Step::Forget);
    let failed = places.lifecycle().remove("a", false).await;
    assert!(matches!(failed, Err(Error::Store(_))), "{failed:?}");
    assert_eq!(names(&places.agreed().await), [("a", "one")]);
    assert!(places
        .registry
        .get("a")
        .is_some_and(|d| !d.life.removed.is_cancelled()));
}

#[tokio::test]
async fn a_removal_waits_for_running_calls_and_holds_the_name() {
    let places = Places::with("a", "one").await;
    let deployed = places.registry.get("a").expect("deployed");
    let running = deployed.life.running();
    let lifecycle = places.lifecycle();
    let removal = lifecycle.remove("a", false);
    tokio::pin!(removal);
    let waited = tokio::time::timeout(Duration::from_millis(100), &mut removal).await;
    assert!(waited.is_err(), "the running call is waited for");
    assert!(places.registry.get("a").is_none(), "no new calls meanwhile");
    let taken = places.deploy("a", "two").await;
    assert!(matches!(taken, Err(Error::Exists(_))), "{taken:?}");
    drop(running);
    removal.await.expect("removed");
    assert!(places.agreed().await.is_empty());
}

#[tokio::test]
async fn a_forced_removal_kills_running_calls() {
    let places = Places::with("a", "one").await;
    let deployed = places.registry.get("a").expect("deployed");
    let running = deployed.life.running();
    let killed = deployed.life.killed.clone();
    // The call ends once it is killed, as a running call does.
    tokio::spawn(async move {
        killed.cancelled().await;
        drop(running);
    });
    places.lifecycle().remove("a", true).await.expect("removed");
    assert!(places.agreed().await.is_empty());
}

#[tokio::test]
async fn a_function_that_cannot_redeploy_at_start_stays_deployed() {
    let places = Places::new();
    // What an earlier run stored; at this start the registry and the
    // engine are empty, and b cannot run.
    for name in ["a", "b", "c"] {
        let f = function(name, "one");
        places.store.put_function(&f).await.expect("stored");
    }
    places.fail_engine(Step::Deploy, Some("b"));
    redeploy_at_start(&places.registry, &places.engine, &places.store)
        .await
        .expect("redeployed");
    let registry: Vec<String> = places
        .registry
        .all()
        .iter()
        .map(|d| d.function.name.clone())
        .collect();
    let stored = places.store.functions().await.expect("the functions");
    assert_eq!(names(&stored), [("a", "one"), ("b", "one"), ("c", "one")]);
    assert_eq!(registry, ["a", "b", "c"], "the registry is the store");
    assert_eq!(
        names(&places.engine.functions()),
        [("a", "one"), ("c", "one")],
        "the engine runs the others"
    );
    // Removed, it is gone from all three.
    places.heal();
    places
        .lifecycle()
        .remove("b", false)
        .await
        .expect("removed");
    assert_eq!(names(&places.agreed().await), [("a", "one"), ("c", "one")]);
}
