//! CPU- and memory-heavy work (decoding uploaded images) off the async threads: on the
//! blocking pool, a bounded number at a time, so a burst of uploads queues here instead of
//! stalling every request or multiplying the memory a decode takes.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Runs heavy closures on blocking threads, `parallel` at a time.
#[derive(Clone)]
pub struct Heavy {
    slots: Arc<Semaphore>,
}

/// The work could not run to its end (the blocking task panicked or the pool shut down).
#[derive(Debug, thiserror::Error)]
#[error("heavy work failed: {0}")]
pub struct HeavyError(String);

impl Heavy {
    /// A pool allowing `parallel` jobs at once.
    pub fn new(parallel: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(parallel.max(1))),
        }
    }

    /// Runs `work` on a blocking thread once a slot is free.
    pub async fn run<T, F>(&self, work: F) -> Result<T, HeavyError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| HeavyError(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HeavyError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_allowed_number_run_at_once() {
        let heavy = Heavy::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (heavy, running, peak) = (heavy.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    heavy
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
    }

    #[tokio::test]
    async fn a_panic_in_the_work_is_an_error_not_a_crash() {
        #[allow(clippy::panic, reason = "the panic is what is tested")]
        let r = Heavy::new(1).run(|| panic!("boom")).await;
        assert!(r.is_err());
    }
}
