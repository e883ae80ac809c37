//! Threads that do nothing but hash passwords, below the request workers' priority, so
//! that a flood of logins never makes token checks wait for a core.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use ::metrics::{gauge, histogram};
use application::metrics;

use domain::ports::HashError;

/// The default nice value of the hashing threads (`passwords.hashing_nice`; request
/// workers run at the process's, 0 by default). Linux's scheduler then gives a
/// runnable worker about nine times the CPU of a hashing thread: token paths keep
/// their latency under a login flood, and logins still get a tenth of the contended
/// cores, and all of the idle ones. 0 shares the cores evenly instead.
pub const HASHING_NICE: i32 = 10;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of hashing threads fed from one queue. The threads end when the last
/// clone of the pool is dropped.
#[derive(Clone)]
pub struct HashingPool {
    jobs: Sender<Job>,
}

impl HashingPool {
    /// Starts `threads` threads named `gatehouse-hash-N`, each at the nice value
    /// `nice` (0 to 19; where the platform allows it, otherwise at the process's).
    pub fn start(threads: usize, nice: i32) -> std::io::Result<Self> {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("gatehouse-hash-{n}"))
                .spawn(move || work(&receiver, nice))?;
        }
        Ok(Self { jobs: sender })
    }

    /// Runs `job` on a hashing thread and waits for its result without blocking the
    /// caller's thread. Jobs queue in arrival order while every thread is busy.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let queued = Instant::now();
        let job: Job = Box::new(move || {
            gauge!(metrics::HASH_QUEUE).decrement(1.0);
            histogram!(metrics::HASH_WAIT).record(queued.elapsed());
            let _ = done.send(job());
        });
        gauge!(metrics::HASH_QUEUE).increment(1.0);
        self.jobs.send(job).map_err(|_| {
            gauge!(metrics::HASH_QUEUE).decrement(1.0);
            HashError(anyhow::anyhow!("the hashing threads are gone").into())
        })?;
        result.await.map_err(|_| {
            HashError(anyhow::anyhow!("a hashing job failed without an answer").into())
        })
    }
}

fn work(jobs: &Mutex<Receiver<Job>>, nice: i32) {
    lower_priority(nice);
    loop {
        // The lock is released at the end of this statement, before the job runs.
        let job = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return; // the pool was dropped
        };
        // A panicking job drops its answer (its caller gets an error); the thread lives.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

/// On Linux the nice value belongs to a thread: `setpriority(PRIO_PROCESS, tid)`
/// lowers this one only.
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    let tid = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::warn!(%error, "could not lower the priority of a hashing thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name and the nice value of the thread a job of `pool` runs on.
    async fn thread_of(pool: &HashingPool) -> (String, i32) {
        pool.run(|| {
            let name = std::thread::current().name().map(str::to_owned);
            let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
            (name.unwrap(), nice.unwrap())
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn jobs_run_on_named_threads_below_normal_priority() {
        let own = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert!(own < HASHING_NICE, "{own}");
        let (name, nice) = thread_of(&HashingPool::start(2, HASHING_NICE).unwrap()).await;
        assert!(name.starts_with("gatehouse-hash-"), "{name}");
        assert_eq!(nice, HASHING_NICE);
        // The test's own thread is untouched.
        let after = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        assert_eq!(after, own);
    }

    #[tokio::test]
    async fn the_nice_value_is_a_setting() {
        let own = rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap();
        let (_, nice) = thread_of(&HashingPool::start(1, 0).unwrap()).await;
        assert_eq!(nice, own, "0: the process's own priority");
        let (_, nice) = thread_of(&HashingPool::start(1, 19).unwrap()).await;
        assert_eq!(nice, 19);
    }

    #[tokio::test]
    async fn a_panicking_job_fails_alone_and_the_threads_go_on() {
        let pool = HashingPool::start(1, HASHING_NICE).unwrap();
        let failed = pool.run(|| -> u32 { panic!("a job that panics") }).await;
        assert!(failed.is_err());
        assert_eq!(pool.run(|| 42).await.unwrap(), 42);
    }

    #[tokio::test]
    async fn many_jobs_on_few_threads_all_answer() {
        let pool = HashingPool::start(2, HASHING_NICE).unwrap();
        let jobs = (0..50u64).map(|n| pool.run(move || n * n));
        let squares: Vec<u64> = futures_util::future::try_join_all(jobs).await.unwrap();
        assert_eq!(squares, (0..50).map(|n| n * n).collect::<Vec<_>>());
    }
}
