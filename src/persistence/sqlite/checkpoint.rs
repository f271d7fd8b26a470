//! WAL checkpoints off the write path. SQLite's automatic checkpoint runs inside the commit
//! that crosses its threshold, so that writer (and every request waiting for it) pays for
//! copying the WAL into the database file. Here a thread of its own, with its own
//! connection, runs a PASSIVE checkpoint (it never blocks the writer or readers) once the
//! writes pause, or every [`BUSY_INTERVAL`] while they go on; a page changed by the commits
//! of that time is copied once. The writer keeps the WAL bounded: when the WAL has grown
//! past a limit it checkpoints what is left before its next transaction, so the WAL starts
//! over.
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// A pause in the commits this long starts a checkpoint.
const DELAY: Duration = Duration::from_millis(200);
/// Under a steady stream of commits, the time between checkpoints.
const BUSY_INTERVAL: Duration = Duration::from_millis(1000);
/// WAL size beyond which the writer checkpoints before its next transaction.
const WRITER_LIMIT_BYTES: i64 = 256 << 20;
/// SQLite's own automatic checkpoint in the writer, a last resort, in pages (512 MB with
/// SQLite's default 4 KiB pages).
pub const AUTOCHECKPOINT: i64 = 131_072;

pub struct Checkpointer {
    wake: SyncSender<()>,
    /// WAL size in pages at the last checkpoint.
    frames: Arc<AtomicI64>,
    /// [`WRITER_LIMIT_BYTES`] in pages of this database (0 until the writer's first check).
    limit: AtomicI64,
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: the WAL's size in pages (`-1` if unknown).
fn passive(conn: &Connection) -> i64 {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)).unwrap_or(-1)
}

impl Checkpointer {
    /// Starts the thread; it ends when the `Checkpointer` is dropped.
    pub fn start(open: impl FnOnce() -> rusqlite::Result<Connection> + Send + 'static, path: PathBuf) -> Checkpointer {
        let (wake, rx) = sync_channel(1);
        let frames = Arc::new(AtomicI64::new(0));
        let seen = frames.clone();
        let spawned = std::thread::Builder::new().name("hearth-checkpoint".into()).spawn(move || match open() {
            Ok(conn) => run(&conn, &rx, &seen),
            Err(e) => tracing::warn!(error = %e, db = %path.display(), "no checkpoint connection; the writer checkpoints"),
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no checkpoint thread; the writer checkpoints");
        }
        Checkpointer { wake, frames, limit: AtomicI64::new(0) }
    }

    /// After a commit: a checkpoint is wanted soon.
    pub fn wake(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }

    /// Before a write transaction: when the WAL is large, copy what is left of it (the
    /// thread has done most) so that this transaction starts the WAL over.
    pub fn bound(&self, writer: &Connection) {
        let mut limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 {
            let page: i64 = writer.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap_or(4096).max(512);
            limit = WRITER_LIMIT_BYTES / page;
            self.limit.store(limit, Ordering::Relaxed);
        }
        if self.frames.load(Ordering::Relaxed) > limit {
            let n = passive(writer);
            // The WAL restarts with the next transaction when everything was copied.
            self.frames.store(if n > limit { n } else { 0 }, Ordering::Relaxed);
        }
    }
}

fn run(conn: &Connection, rx: &Receiver<()>, frames: &AtomicI64) {
    while rx.recv().is_ok() {
        // Let the commits of the next moments join this checkpoint.
        let first = Instant::now();
        loop {
            match rx.recv_timeout(DELAY) {
                Ok(()) if first.elapsed() < BUSY_INTERVAL => {}
                Ok(()) | Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let n = passive(conn);
        frames.store(n, Ordering::Relaxed);
    }
}
