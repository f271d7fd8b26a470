//! Lower CPU priority for work that runs beside the store's writer (validating the next
//! Bundle while one is written): on a machine with few cores the writer, which every write
//! waits for, then keeps its core.

/// Nice value for such threads (0 is the default, 19 the lowest priority).
const NICE: i32 = 5;

/// Lowers the calling thread's priority. Call it only on a thread of one's own (a pooled
/// thread would keep it for later work; raising it back needs privileges).
#[cfg(target_os = "linux")]
pub fn lower_this_thread() {
    extern "C" {
        fn setpriority(which: i32, who: u32, prio: i32) -> i32;
    }
    const PRIO_PROCESS: i32 = 0;
    // SAFETY: plain integers. On Linux the nice value belongs to each thread and `who = 0`
    // names the calling thread. Failure (not allowed) leaves the priority as it was.
    unsafe {
        setpriority(PRIO_PROCESS, 0, NICE);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_this_thread() {}
