//! Work spread over the cores with its results consumed in order: the store's writer thread
//! inserts one prepared resource while helper threads prepare the next ones (stamp, search
//! values, serialisation). When nothing is ready the writer prepares the next item itself.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Fewer items than this are prepared on the calling thread alone.
const MIN_PARALLEL: usize = 8;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Helper threads besides the caller: one per further core, at most 7.
fn helpers() -> usize {
    std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1).saturating_sub(1).min(7)
}

/// Runs `prep` on every input (on helper threads and the caller) and passes each result,
/// in input order, to `consume` on the calling thread. An error from `consume` stops the
/// work and is returned. A panic in `prep` reaches `consume` as `Err(message)`.
pub fn run<I, P, E>(inputs: Vec<I>, prep: impl Fn(I) -> P + Sync, mut consume: impl FnMut(Result<P, String>) -> Result<(), E>) -> Result<(), E>
where
    I: Send,
    P: Send,
{
    let n = inputs.len();
    let guarded = |x: I| catch_unwind(AssertUnwindSafe(|| prep(x))).map_err(|_| "preparing a write failed unexpectedly".to_string());
    let helpers = if n < MIN_PARALLEL { 0 } else { helpers().min(n / MIN_PARALLEL) };
    if helpers == 0 {
        for x in inputs {
            consume(guarded(x))?;
        }
        return Ok(());
    }
    let inputs: Vec<Mutex<Option<I>>> = inputs.into_iter().map(|x| Mutex::new(Some(x))).collect();
    let outputs: Vec<Mutex<Option<Result<P, String>>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let ready = (Mutex::new(()), Condvar::new());
    let work = |i: usize| -> Result<P, String> {
        match lock(&inputs[i]).take() {
            Some(x) => guarded(x),
            None => Err("a write was prepared twice".into()),
        }
    };
    std::thread::scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|| {
                while !stop.load(Relaxed) {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= n {
                        break;
                    }
                    let p = work(i);
                    *lock(&outputs[i]) = Some(p);
                    drop(lock(&ready.0));
                    ready.1.notify_all();
                }
            });
        }
        let mut result = Ok(());
        for i in 0..n {
            let p = loop {
                if let Some(p) = lock(&outputs[i]).take() {
                    break p;
                }
                // Not ready: prepare the next unclaimed item here rather than wait.
                let j = next.fetch_add(1, Relaxed);
                if j < n {
                    let p = work(j);
                    if j == i {
                        break p;
                    }
                    *lock(&outputs[j]) = Some(p);
                    continue;
                }
                // Everything is claimed; a helper is preparing item i.
                let mut g = lock(&ready.0);
                while lock(&outputs[i]).is_none() {
                    g = ready.1.wait_timeout(g, Duration::from_millis(50)).map(|(g, _)| g).unwrap_or_else(|p| p.into_inner().0);
                }
            };
            if let Err(e) = consume(p) {
                result = Err(e);
                break;
            }
        }
        stop.store(true, Relaxed);
        result
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_arrive_in_order_and_errors_stop_the_work() {
        let inputs: Vec<u64> = (0..1000).collect();
        let mut seen = Vec::new();
        let r: Result<(), String> = super::run(inputs, |x| x * 2, |p| {
            seen.push(p?);
            Ok(())
        });
        assert!(r.is_ok());
        assert_eq!(seen, (0..1000).map(|x| x * 2).collect::<Vec<u64>>());
        let mut count = 0;
        let r: Result<(), String> = super::run((0..1000).collect::<Vec<u64>>(), |x| x, |p| {
            count += 1;
            if p? == 10 {
                return Err("stop".into());
            }
            Ok(())
        });
        assert_eq!(r, Err("stop".to_string()));
        assert_eq!(count, 11);
    }

    #[test]
    fn a_panic_becomes_an_error_of_that_item() {
        let r: Vec<Result<u64, String>> = {
            let mut out = Vec::new();
            let _: Result<(), ()> = super::run((0..64).collect::<Vec<u64>>(), |x| if x == 5 { panic!("boom") } else { x }, |p| {
                out.push(p);
                Ok(())
            });
            out
        };
        assert_eq!(r.len(), 64);
        assert!(r[5].is_err());
        assert_eq!(r[6], Ok(6));
    }
}
