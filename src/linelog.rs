//! Line logs (the request log on stderr, the audit log): a request only appends its line to
//! a shared buffer; a background thread writes what has gathered every few milliseconds, so
//! under load a request makes no system call (only the first line after a write wakes the
//! thread). Lines are never dropped: when the buffer is full, writers wait for it to be
//! written. Dropping the sink writes the rest.
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a line may wait in the buffer.
const INTERVAL: Duration = Duration::from_millis(20);
/// Bytes gathered before writers wait.
const FULL: usize = 1 << 20;

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread early (buffer full, or closing).
    wake: Condvar,
    /// Wakes writers waiting for room.
    drained: Condvar,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct LineSink {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// A handle that appends whole lines to the sink's buffer.
#[derive(Clone)]
pub struct LineWriter(Arc<Shared>);

impl LineSink {
    pub fn new(name: &str, mut out: impl Write + Send + 'static) -> LineSink {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut spare = Vec::new();
                loop {
                    let closed = {
                        let mut st = lock(&s.state);
                        while st.buf.is_empty() && !st.closed {
                            st = s.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                        }
                        // Gather more lines for a while (woken early when full or closing).
                        if !st.closed && st.buf.len() < FULL {
                            st = s.wake.wait_timeout(st, INTERVAL).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
                        }
                        std::mem::swap(&mut st.buf, &mut spare);
                        st.closed
                    };
                    s.drained.notify_all();
                    if !spare.is_empty() {
                        if let Err(e) = out.write_all(&spare).and_then(|_| out.flush()) {
                            eprintln!("hearth: cannot write a log: {e}");
                        }
                        spare.clear();
                    }
                    if closed && lock(&s.state).buf.is_empty() {
                        return;
                    }
                }
            })
            .ok();
        LineSink { shared, thread }
    }

    pub fn writer(&self) -> LineWriter {
        LineWriter(self.shared.clone())
    }
}

impl Drop for LineSink {
    fn drop(&mut self) {
        lock(&self.shared.state).closed = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Write for LineWriter {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut st = lock(&self.0.state);
        while st.buf.len() >= FULL && !st.closed {
            self.0.wake.notify_all();
            st = self.0.drained.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let was_empty = st.buf.is_empty();
        st.buf.extend_from_slice(line);
        let full = st.buf.len() >= FULL;
        drop(st);
        // The writer thread sleeps while there is nothing to write.
        if was_empty || full {
            self.0.wake.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LineWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<u8>>>);

    impl Write for Seen {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_soon_and_at_drop() {
        let seen = Seen::default();
        let sink = LineSink::new("test-log", seen.clone());
        let mut w = sink.writer();
        w.write_all(b"one\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while seen.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "a line was not written within 5 s");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Many writers, more than the buffer holds at once: nothing lost, lines whole.
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = sink.writer();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        w.write_all(format!("{t} {i:05} {}\n", "x".repeat(40)).as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        w.write_all(b"last\n").unwrap();
        drop(sink);
        let text = String::from_utf8(seen.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 80_002);
        assert_eq!((lines[0], lines[80_001]), ("one", "last"));
        for t in 0..4 {
            let mine: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with(&format!("{t} "))).collect();
            assert_eq!(mine.len(), 20_000);
            assert!(mine.windows(2).all(|p| p[0] < p[1]), "thread {t}'s lines out of order");
        }
    }
}
