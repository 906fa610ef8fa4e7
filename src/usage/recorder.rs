//! The in-memory counters of `usage` (see there), flushed in batches.
//!
//! Recording runs on every call made with a key, so it shares nothing
//! between threads in the common case: each server thread counts into its
//! own buffer (one uncontended lock, no cache line written by two cores), a
//! call that finds its counter cell allocates nothing, and text is made only
//! when a flush merges the buffers and writes the rows. Only the bounds are
//! shared, and they are touched when a cell or a listed request is new.
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::domain::usage::KeyRef;
use crate::store::usage::{CountRow, RequestRow};

/// Flushes are at most this far apart.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Requests each key keeps (the Usage tab's list).
pub const RECENT_PER_KEY: usize = 100;
/// Bounds between two flushes, over all threads.
const MAX_CELLS: usize = 200_000;
const MAX_RECENT: usize = 100_000;

/// What a handler notes about a call for the usage counters: whose it is
/// and where it went. Put in the request's extensions by whatever verified
/// (or refused) the key; the frame middleware adds the outcome, status and
/// time when the answer is ready, and records it.
#[derive(Clone, Debug)]
pub struct Mark {
    pub workspace_id: i64,
    /// `None`: a refusal no key is known for (an unknown or malformed key).
    pub key: Option<KeyRef>,
    /// A portal token the call was admitted through, counted as well.
    pub also: Option<KeyRef>,
    /// The endpoint's path; `None` takes the API route pattern.
    pub endpoint: Option<Arc<str>>,
    /// The key has a monthly quota and its limits admitted the call: how
    /// the call ends is settled with them (`limits::Limiter::settle`).
    pub quota: bool,
}

/// The refusal code of an answer, set by the API's error mapping.
#[derive(Clone, Copy, Debug)]
pub struct Outcome(pub &'static str);

/// One answered call, as the middleware saw it.
pub struct Call<'a> {
    pub mark: &'a Mark,
    /// The endpoint's path, or the API route pattern.
    pub endpoint: &'a str,
    pub outcome: &'static str,
    pub method: &'static str,
    pub status: u16,
    pub client: Option<IpAddr>,
    pub took: Duration,
    /// Unix milliseconds (the injected clock).
    pub at_ms: i64,
}

/// A counter: whose calls, where to, with what outcome, in which minute.
#[derive(PartialEq, Eq)]
struct Cell {
    workspace_id: i64,
    key: Option<KeyRef>,
    /// This thread's own copy, so that listing a request shares no count with another core.
    endpoint: Arc<str>,
    outcome: &'static str,
    minute: i64,
}

/// A `Cell` as a call names it, borrowed: the lookup allocates nothing.
struct CellRef<'a> {
    workspace_id: i64,
    key: Option<KeyRef>,
    endpoint: &'a str,
    outcome: &'static str,
    minute: i64,
}

fn hash_cell<H: Hasher>(h: &mut H, workspace_id: i64, key: Option<KeyRef>, endpoint: &str, outcome: &str, minute: i64) {
    (workspace_id, key, endpoint, outcome, minute).hash(h);
}

impl Hash for Cell {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_cell(h, self.workspace_id, self.key, &self.endpoint, self.outcome, self.minute);
    }
}

impl Hash for CellRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_cell(h, self.workspace_id, self.key, self.endpoint, self.outcome, self.minute);
    }
}

impl hashbrown::Equivalent<Cell> for CellRef<'_> {
    fn equivalent(&self, c: &Cell) -> bool {
        self.minute == c.minute
            && self.key == c.key
            && self.workspace_id == c.workspace_id
            && self.outcome == c.outcome
            && self.endpoint == &*c.endpoint
    }
}

/// A request as kept until the flush.
struct Recent {
    workspace_id: i64,
    key: KeyRef,
    at_ms: i64,
    client: Option<IpAddr>,
    method: &'static str,
    endpoint: Arc<str>,
    status: u16,
    outcome: &'static str,
    took: Duration,
}

impl Recent {
    fn row(&self) -> RequestRow {
        RequestRow {
            workspace_id: self.workspace_id,
            key_kind: self.key.kind().to_owned(),
            key_id: self.key.id(),
            at: self.at_ms,
            client: self.client.map(|ip| ip.to_string()).unwrap_or_default(),
            method: self.method.to_owned(),
            endpoint: self.endpoint.to_string(),
            status: i32::from(self.status),
            outcome: self.outcome.to_owned(),
            duration_us: i64::try_from(self.took.as_micros()).unwrap_or(i64::MAX),
        }
    }
}

/// What one thread counted since the last flush.
#[derive(Default)]
struct Pending {
    cells: hashbrown::HashMap<Cell, u64>,
    recent: hashbrown::HashMap<KeyRef, VecDeque<Recent>>,
}

thread_local! {
    /// This thread's buffer in each recorder it recorded into (tests run
    /// many servers, each with its own recorder, in one process).
    static BUFFERS: RefCell<Vec<(usize, Arc<Mutex<Pending>>)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_RECORDER: AtomicUsize = AtomicUsize::new(0);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Recorder {
    id: usize,
    /// Every thread's buffer, for the flush to take.
    buffers: Mutex<Vec<Arc<Mutex<Pending>>>>,
    /// What a failed flush could not write, for the next one.
    spill: Mutex<Pending>,
    /// Cells and listed requests held over all buffers (the bounds).
    cells: AtomicUsize,
    recent: AtomicUsize,
    /// Calls not counted since the last flush because memory was full.
    dropped: AtomicU64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            id: NEXT_RECORDER.fetch_add(1, Ordering::Relaxed),
            buffers: Mutex::default(),
            spill: Mutex::default(),
            cells: AtomicUsize::new(0),
            recent: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Counts one answered call into this thread's buffer.
    pub fn record(&self, call: &Call<'_>) {
        let recorded = BUFFERS.try_with(|list| {
            let mut list = list.borrow_mut();
            let i = match list.iter().position(|(id, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    // Buffers of recorders that are gone are dropped here.
                    list.retain(|(_, b)| Arc::strong_count(b) > 1);
                    let buffer = Arc::new(Mutex::default());
                    lock(&self.buffers).push(Arc::clone(&buffer));
                    list.push((self.id, buffer));
                    list.len() - 1
                }
            };
            self.add(&mut lock(&list[i].1), call);
        });
        if recorded.is_err() {
            // The thread is ending: nothing of it can be kept.
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Claims room under a bound shared by all threads; `false` when full.
    fn room(counter: &AtomicUsize, max: usize) -> bool {
        if counter.fetch_add(1, Ordering::Relaxed) < max {
            return true;
        }
        counter.fetch_sub(1, Ordering::Relaxed);
        false
    }

    fn add(&self, p: &mut Pending, call: &Call<'_>) {
        let minute = call.at_ms.div_euclid(60_000) * 60;
        let Pending { cells, recent } = p;
        // The caller's key (or none), and a portal token it came in through.
        for key in std::iter::once(call.mark.key).chain(call.mark.also.map(Some)) {
            let found = CellRef {
                workspace_id: call.mark.workspace_id,
                key,
                endpoint: call.endpoint,
                outcome: call.outcome,
                minute,
            };
            let endpoint = match cells.get_key_value_mut(&found) {
                Some((cell, n)) => {
                    *n += 1;
                    Arc::clone(&cell.endpoint)
                }
                None if Self::room(&self.cells, MAX_CELLS) => {
                    let endpoint: Arc<str> = Arc::from(call.endpoint);
                    let cell = Cell {
                        workspace_id: found.workspace_id,
                        key,
                        endpoint: Arc::clone(&endpoint),
                        outcome: call.outcome,
                        minute,
                    };
                    cells.insert(cell, 1);
                    endpoint
                }
                None => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            let Some(key) = key else { continue };
            let list = recent.entry(key).or_default();
            if list.len() < RECENT_PER_KEY && !Self::room(&self.recent, MAX_RECENT) {
                continue;
            }
            if list.len() >= RECENT_PER_KEY {
                list.pop_front();
            }
            list.push_back(Recent {
                workspace_id: call.mark.workspace_id,
                key,
                at_ms: call.at_ms,
                client: call.client,
                method: call.method,
                endpoint,
                status: call.status,
                outcome: call.outcome,
                took: call.took,
            });
        }
    }

    /// Every buffer's counts, leaving them empty.
    fn take(&self) -> Vec<Pending> {
        let mut taken = vec![std::mem::take(&mut *lock(&self.spill))];
        let mut buffers = lock(&self.buffers);
        // Reset first: a call counted meanwhile is then over-counted, never lost.
        self.cells.store(0, Ordering::Relaxed);
        self.recent.store(0, Ordering::Relaxed);
        taken.extend(buffers.iter().map(|b| std::mem::take(&mut *lock(b))));
        // A thread that ended left its (now empty) buffer here alone.
        buffers.retain(|b| Arc::strong_count(b) > 1);
        taken
    }

    /// Writes what was counted since the last flush. On a database error the
    /// counts go back into memory (bounded as ever) for the next flush.
    /// Returns the accepted calls per key that were written (for quotas).
    pub async fn flush(&self, db: &DatabaseConnection) -> Result<HashMap<KeyRef, u64>, sea_orm::DbErr> {
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(dropped, "usage counters were full between two flushes; these calls were not counted");
        }
        let taken = self.take();
        // Threads count the same cells apart; one statement must not upsert a
        // row twice (PostgreSQL refuses), so they are added up first.
        let mut merged: HashMap<(i64, Option<KeyRef>, &str, &'static str, i64), u64> = HashMap::new();
        for (c, n) in taken.iter().flat_map(|p| p.cells.iter()) {
            *merged.entry((c.workspace_id, c.key, &*c.endpoint, c.outcome, c.minute)).or_default() += n;
        }
        let mut ok: HashMap<KeyRef, u64> = HashMap::new();
        let rows: Vec<CountRow> = merged
            .into_iter()
            .map(|((workspace_id, key, endpoint, outcome, start), count)| {
                if let (Some(k), crate::domain::usage::OK) = (key, outcome) {
                    *ok.entry(k).or_default() += count;
                }
                CountRow { workspace_id, key, endpoint: endpoint.to_owned(), outcome, start, count }
            })
            .collect();
        // Each key's newest requests, over all threads.
        let mut by_key: HashMap<KeyRef, Vec<&Recent>> = HashMap::new();
        for (key, list) in taken.iter().flat_map(|p| p.recent.iter()) {
            by_key.entry(*key).or_default().extend(list.iter());
        }
        let requests: Vec<RequestRow> = by_key
            .into_values()
            .flat_map(|mut list| {
                list.sort_by_key(|r| r.at_ms);
                let newest = list.len().saturating_sub(RECENT_PER_KEY);
                list.into_iter().skip(newest).map(Recent::row).collect::<Vec<_>>()
            })
            .collect();
        let written = async {
            crate::store::usage::add_counts(db, &rows).await?;
            crate::store::usage::add_requests(db, &requests, RECENT_PER_KEY as i64).await
        }
        .await;
        if let Err(e) = written {
            self.put_back(taken);
            return Err(e);
        }
        Ok(ok)
    }

    fn put_back(&self, taken: Vec<Pending>) {
        let mut spill = lock(&self.spill);
        for (cell, n) in taken.into_iter().flat_map(|p| p.cells) {
            if let Some(count) = spill.cells.get_mut(&cell) {
                *count += n;
            } else if Self::room(&self.cells, MAX_CELLS) {
                spill.cells.insert(cell, n);
            } else {
                self.dropped.fetch_add(n, Ordering::Relaxed);
            }
        }
        // The requests of a failed flush are the least telling: newer ones replace them.
    }
}
