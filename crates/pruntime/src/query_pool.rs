//! The threads that answer queries.
//!
//! A query is short CPU work (a VM call and two AEADs, about 15 µs) that may still run to its
//! fuel limit (tens of milliseconds), so it runs off the API's event loop. tokio's blocking
//! pool handed every query to a parked thread: under `veil bench queries` a quarter of
//! pRuntime's CPU went to futex waits and wakes. These threads take queries from one queue
//! and, under load, the next without parking. Their number is fixed, as an enclave's thread
//! budget needs, and a full queue refuses a query instead of growing.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Why a query did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// Every thread is busy and the queue is full.
    #[error("pRuntime is answering too many queries: try again")]
    Busy,
    /// The query panicked, or the pool is shutting down.
    #[error("the query stopped without an answer")]
    Lost,
}

/// A fixed set of threads fed by a bounded queue; cloning shares it. The threads exit once
/// every clone is dropped.
#[derive(Clone)]
pub struct QueryPool {
    queue: mpsc::SyncSender<Job>,
}

impl QueryPool {
    /// Starts `threads` threads (at least one) behind a queue of `depth` queries.
    pub fn new(threads: usize, depth: usize) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(depth);
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("query-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next query.
                        let next = match jobs.lock() {
                            Ok(jobs) => jobs.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = next else { return };
                        // A panicking query loses its answer (its caller sees `Lost`), not the
                        // thread.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                })?;
        }
        Ok(Self { queue })
    }

    /// One thread per available core, up to 8, behind a queue as deep as the public API has
    /// connections (each has at most one request in flight over HTTP/1.1).
    pub fn for_this_machine(depth: usize) -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores.min(8), depth)
    }

    /// Queues `query` for a pool thread; the receiver gets its result (or is dropped if it
    /// panicked or the pool stopped).
    pub fn submit<T: Send + 'static>(
        &self,
        query: impl FnOnce() -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, PoolError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .try_send(Box::new(move || {
                let _ = answer.send(query());
            }))
            .map_err(|e| match e {
                mpsc::TrySendError::Full(_) => PoolError::Busy,
                mpsc::TrySendError::Disconnected(_) => PoolError::Lost,
            })?;
        Ok(answered)
    }

    /// Runs `query` on a pool thread and waits for its result.
    pub async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PoolError> {
        self.submit(query)?.await.map_err(|_| PoolError::Lost)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;

    #[tokio::test]
    async fn queries_run_and_a_full_queue_refuses_instead_of_growing() {
        let pool = QueryPool::new(1, 1).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await, Ok(4));

        // Hold the only thread, then fill the queue's one slot: the next query is refused.
        let (started, thread_took_it) = std::sync::mpsc::channel();
        let gate = Arc::new(Barrier::new(2));
        let held = gate.clone();
        let holding = pool
            .submit(move || {
                started.send(()).unwrap();
                held.wait();
                1
            })
            .unwrap();
        thread_took_it
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the thread takes the first query");
        let queued = pool.submit(|| 7).unwrap();
        assert_eq!(pool.submit(|| 0).err(), Some(PoolError::Busy));
        gate.wait();
        assert_eq!(holding.await, Ok(1));
        assert_eq!(queued.await, Ok(7));
        assert_eq!(pool.run(|| 8).await, Ok(8));
    }

    #[tokio::test]
    async fn a_panicking_query_loses_its_answer_not_the_thread() {
        let pool = QueryPool::new(1, 4).unwrap();
        assert_eq!(
            pool.run(|| panic!("boom")).await,
            Err::<(), _>(PoolError::Lost)
        );
        assert_eq!(pool.run(|| "still here").await, Ok("still here"));
    }
}
