//! Read connections. Point reads (read, vread) take microseconds: they run on the calling
//! thread with a connection kept per thread, with no hop to another thread. Searches and
//! history pages may take longer: they run on the blocking pool, at most `POOL` at a time
//! (others wait their turn), each on a pooled connection.
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::error::{FhirError, Result};

/// Concurrent long reads, and pooled connections.
const POOL: usize = 8;
/// Connections one thread keeps (one per open store, for the stores used most recently).
const PER_THREAD: usize = 8;

pub struct Readers {
    path: PathBuf,
    synchronous: &'static str,
    /// Identifies this store in the per-thread caches; dead once the store is dropped.
    alive: Arc<()>,
    pool: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

thread_local! {
    static LOCAL: RefCell<Vec<(Weak<()>, Connection)>> = const { RefCell::new(Vec::new()) };
}

fn internal<E: std::fmt::Display>(e: E) -> FhirError {
    FhirError::Internal(format!("storage error: {e}"))
}

impl Readers {
    pub fn new(path: PathBuf, synchronous: &'static str) -> Readers {
        Readers { path, synchronous, alive: Arc::new(()), pool: Arc::default(), permits: Arc::new(Semaphore::new(POOL)) }
    }

    /// Runs a short read on this thread.
    pub fn inline<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = LOCAL.with(|cell| {
            let mut local = cell.borrow_mut();
            local.retain(|(w, _)| w.strong_count() > 0);
            let at = local.iter().position(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&self.alive)));
            at.map(|i| local.swap_remove(i).1)
        });
        let conn = match conn {
            Some(c) => c,
            None => super::open_conn(&self.path, self.synchronous)?,
        };
        let out = f(&conn);
        LOCAL.with(|cell| {
            let mut local = cell.borrow_mut();
            if local.len() >= PER_THREAD {
                local.remove(0);
            }
            local.push((Arc::downgrade(&self.alive), conn));
        });
        out
    }

    /// Runs a read that may take long on the blocking pool.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self.permits.clone().acquire_owned().await.map_err(internal)?;
        let (pool, path, sync) = (self.pool.clone(), self.path.clone(), self.synchronous);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = pool.lock().map_err(internal)?.pop();
            let conn = match pooled {
                Some(c) => c,
                None => super::open_conn(&path, sync)?,
            };
            let out = f(&conn);
            if let Ok(mut pool) = pool.lock() {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(internal)?
    }
}
