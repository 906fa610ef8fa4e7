//! argon2id with OWASP parameters, on a small pool of its own so that logins
//! cannot starve the API: at most one hash per core at a time (one core fewer
//! than the machine has, when it has more than one, so a request always finds a
//! core), a bounded queue behind them, and everything beyond refused at once
//! with `HashError::Busy` (a 429). The pool's threads run at a lower
//! scheduling priority: under load a data request wins the CPU and a sign-in
//! waits a little longer, which is the trade a key-guarded API wants.
//!
//! Each application has its own pool (`AppState::passwords`): a flood of
//! sign-ins on one instance — or one test — never refuses another's.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the queue is full.
    #[error("too many passwords are being checked right now")]
    Busy,
    #[error("hashing a password failed: {0}")]
    Failed(String),
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing pool: `workers` threads fed through a channel; `admitted`
/// counts jobs running or queued, so the bound is checked before queueing.
/// The threads end when the pool is dropped.
pub struct PasswordPool {
    tx: SyncSender<Job>,
    admitted: Arc<AtomicUsize>,
    limit: usize,
}

/// Hashes waiting behind each busy thread before new ones are refused. At
/// ~50 ms a hash, the last in the queue waits well under a second.
const QUEUE_PER_WORKER: usize = 8;

fn workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).max(1)
}

/// Hashes running or queued at most in a pool; one more is refused (`HashError::Busy`).
pub fn capacity() -> usize {
    workers() * (1 + QUEUE_PER_WORKER)
}

fn worker(rx: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(p) => p.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

/// Nice 10 for this thread only (Linux threads are scheduled one by one).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

impl PasswordPool {
    pub fn new() -> Arc<PasswordPool> {
        let n = workers();
        let limit = capacity();
        let (tx, rx) = sync_channel::<Job>(limit);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new().name(format!("keyhub-argon2-{i}")).spawn(move || worker(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "starting a password-hashing thread failed");
            }
        }
        Arc::new(PasswordPool { tx, admitted: Arc::new(AtomicUsize::new(0)), limit })
    }

    /// Runs `f` on the pool, or refuses at once when the pool is full.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        if self.admitted.fetch_add(1, Ordering::SeqCst) >= self.limit {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            return Err(HashError::Busy);
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let admitted = Arc::clone(&self.admitted);
        let job: Job = Box::new(move || {
            let _ = done.send(f());
            admitted.fetch_sub(1, Ordering::SeqCst);
        });
        if self.tx.try_send(job).is_err() {
            self.admitted.fetch_sub(1, Ordering::SeqCst);
            return Err(HashError::Busy);
        }
        result.await.map_err(|_| HashError::Failed("the hashing thread stopped".into()))
    }

    /// Whether the pool is full right now: a sign-in can be refused before any
    /// other work (the account lookup) is done for it.
    pub fn saturated(&self) -> bool {
        self.admitted.load(Ordering::Relaxed) >= self.limit
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let pw = password.expose().to_owned();
        self.run(move || hash_blocking(&pw)).await?.map_err(|e| HashError::Failed(e.to_string()))
    }

    /// Checks `password` against `hash`, or against a dummy hash when there is no
    /// account, so both failures take the same time.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let pw = password.to_owned();
        let known = hash.is_some();
        let hash = hash.map(str::to_owned);
        let ok = self
            .run(move || {
                let target = hash.unwrap_or_else(|| DUMMY_HASH.clone());
                verify_blocking(&pw, &target)
            })
            .await?;
        Ok(ok && known)
    }
}

/// Verifying against this when the account does not exist keeps an unknown email
/// and a wrong password indistinguishable in time.
static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("keyhub-dummy-password-for-timing").unwrap_or_default());

fn argon2() -> Argon2<'static> {
    // OWASP: m = 19 MiB, t = 2, p = 1.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2().hash_password(password.as_bytes(), &salt)?.to_string())
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_and_uses_owasp_parameters() {
        let h = hash_blocking("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_blocking("correct horse battery staple", &h));
        assert!(!verify_blocking("correct horse battery stapler", &h));
        assert!(!verify_blocking("anything", "not a hash"));
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once_instead_of_queueing_forever() {
        let pool = PasswordPool::new();
        // Fill every thread and the queue with jobs that wait for a signal.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = Arc::new(Mutex::new(wait));
        let mut held = Vec::new();
        for _ in 0..pool.limit {
            let wait = Arc::clone(&wait);
            let pool = Arc::clone(&pool);
            held.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = wait.lock().map(|w| w.recv());
                })
                .await
            }));
        }
        while pool.admitted.load(Ordering::SeqCst) < pool.limit {
            tokio::task::yield_now().await;
        }
        assert!(
            matches!(pool.verify("x", None).await, Err(HashError::Busy)),
            "one more than the pool holds is refused"
        );
        assert!(!PasswordPool::new().saturated(), "another instance's pool is not touched");
        for _ in 0..pool.limit {
            release.send(()).unwrap();
        }
        for h in held {
            h.await.unwrap().unwrap();
        }
        assert!(!pool.verify("x", None).await.unwrap(), "after the burst the pool takes work again");
    }
}
