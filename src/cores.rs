//! Independent pieces of work spread over the machine's cores (snapshot pages, package entries),
//! with the results kept in order, so what is written does not depend on the scheduling.

use std::sync::atomic::{AtomicUsize, Ordering};

/// How many cores this process may use (1 when that cannot be told).
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |c| c.get())
}

/// Runs `f(0..n)` on every core, each index once; the results in index order.
pub fn on_cores<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = available().min(n);
    if workers <= 1 {
        return (0..n).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            break done;
                        }
                        done.push((i, f(i)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker panicked"))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, t)| t).collect()
}

/// Runs `work` on each of `items` on every core, a window of a few items a core at a time, and
/// hands the results to `take` in the items' order: a long list is worked in parallel without
/// holding every result at once. Stops at the first error `take` returns.
pub fn in_windows<T: Sync, R: Send, E>(
    items: &[T],
    work: impl Fn(&T) -> R + Sync,
    mut take: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    for window in items.chunks(available() * 4) {
        for done in on_cores(window.len(), |i| work(&window[i])) {
            take(done)?;
        }
    }
    Ok(())
}
