//! Waking a service function scaled to zero, and a call waiting for one of
//! its replicas to be ready within the call's time.

use std::time::Duration;

use tokio::time::Instant;

use super::replicas::Replicas;
use crate::backend::BackendError;
use crate::function::Function;

/// How often a call waiting for a replica looks again.
const WAIT_STEP: Duration = Duration::from_millis(100);

/// Makes sure at least one replica is wanted (scale from zero). A function
/// not deployed here is `NotFound` (from `scale`).
pub async fn wake(replicas: &dyn Replicas, function: &Function) -> Result<(), BackendError> {
    if replicas.desired(&function.name).await? == 0 {
        replicas
            .scale(&function.name, function.scaling().wake())
            .await?;
    }
    Ok(())
}

/// A call waiting for a ready replica until its deadline; the function is
/// woken the first time it finds none.
pub struct Waiting {
    deadline: Instant,
    woken: bool,
}

impl Waiting {
    pub fn new(deadline: impl Into<Instant>) -> Waiting {
        Waiting {
            deadline: deadline.into(),
            woken: false,
        }
    }

    /// Waits one step for a replica of `function`, waking it first if this
    /// is the first wait; `NotReady` once its time is up (nothing ran).
    pub async fn wait(
        &mut self,
        replicas: &dyn Replicas,
        function: &Function,
    ) -> Result<(), BackendError> {
        if !self.woken {
            wake(replicas, function).await?;
            self.woken = true;
        }
        if Instant::now() + WAIT_STEP >= self.deadline {
            return Err(BackendError::NotReady(format!(
                "timed out waiting for a replica of {} to be ready (the function's timeout); the function did not run",
                function.name
            )));
        }
        tokio::time::sleep(WAIT_STEP).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{function, Counts};
    use super::*;

    #[tokio::test]
    async fn only_a_function_at_zero_is_woken() {
        let replicas = Counts::with_desired(&[("idle", 0), ("busy", 2)]);
        wake(&replicas, &function("idle")).await.expect("woken");
        wake(&replicas, &function("busy")).await.expect("left");
        assert!(matches!(
            wake(&replicas, &function("ghost")).await,
            Err(BackendError::NotFound(_))
        ));
        assert_eq!(replicas.scales(), [("idle".to_string(), 1)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_waits_once_woken_until_its_deadline() {
        let replicas = Counts::with_desired(&[("idle", 0)]);
        let mut waiting = Waiting::new(Instant::now() + Duration::from_millis(250));
        waiting
            .wait(&replicas, &function("idle"))
            .await
            .expect("a step");
        waiting
            .wait(&replicas, &function("idle"))
            .await
            .expect("a step");
        assert!(matches!(
            waiting.wait(&replicas, &function("idle")).await,
            Err(BackendError::NotReady(_))
        ));
        assert_eq!(replicas.scales(), [("idle".to_string(), 1)], "woken once");
    }
}
