//! A team of spinning threads for the many short parallel layers of one inference pass
//! (pthreadpool's model, as XNNPACK uses it).
//!
//! A rayon worker that finds no work yields a few dozen times and then sleeps on a futex, so
//! at batch 1 (the CIFAR network's layers take 2–50 µs) every layer after a short serial one
//! paid a wake-up of the other core. A team's workers instead spin on a job counter for
//! [`SPIN`] after their last task, then park; the thread that calls [`run`] takes tasks too.
//!
//! [`with_team`] makes the team of the current rayon pool's size the current one for a
//! closure; [`run`] then hands a job's tasks to it, and to rayon when no team is current (the
//! training code) or the team is busy with another caller's job. Which thread runs a task
//! never changes what it computes, so results do not depend on the executor.

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock, TryLockError};
use std::thread;
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// How long an idle worker spins before it parks.
const SPIN: Duration = Duration::from_micros(500);

/// A job: task `i` of `tasks`, with its lifetime erased (see [`Team::run`]).
type Job = *const (dyn Fn(usize) + Sync);

struct Shared {
    /// `epoch << 32 | next task index`: claiming a task and checking that it belongs to the
    /// job in force are one compare-and-swap.
    claim: AtomicU64,
    tasks: AtomicUsize,
    job: Mutex<Option<SendJob>>,
    done: AtomicUsize,
    panicked: AtomicBool,
    parked: Mutex<u64>,
    wake: Condvar,
    quit: AtomicBool,
}

#[derive(Clone, Copy)]
struct SendJob(Job);
// SAFETY: the pointee is `Sync` and outlives every use (`Team::run` waits for all tasks).
unsafe impl Send for SendJob {}

/// A fixed set of worker threads plus the caller.
pub struct Team {
    shared: Arc<Shared>,
    size: usize,
    /// Held by the caller whose job is in force.
    busy: Mutex<()>,
}

impl Team {
    /// A team of `size` threads in all: `size − 1` workers and the caller.
    fn new(size: usize) -> Team {
        let shared = Arc::new(Shared {
            claim: AtomicU64::new(0),
            tasks: AtomicUsize::new(0),
            job: Mutex::new(None),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            parked: Mutex::new(0),
            wake: Condvar::new(),
            quit: AtomicBool::new(false),
        });
        for _ in 1..size {
            let s = Arc::clone(&shared);
            // A worker that cannot start leaves its share to the caller.
            let _ = thread::Builder::new()
                .name("mobilenet-team".into())
                .spawn(move || worker(&s));
        }
        Team {
            shared,
            size,
            busy: Mutex::new(()),
        }
    }

    /// Runs `f(0..tasks)` on the team and returns when every task has run; `false` (nothing
    /// run) if another caller's job is in force.
    fn run(&self, tasks: usize, f: &(dyn Fn(usize) + Sync)) -> bool {
        let _guard = match self.busy.try_lock() {
            Ok(g) => g,
            // A task's panic passed through here before: the team itself is sound.
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let s = &*self.shared;
        // SAFETY (lifetime erasure): the pointer is published below and withdrawn before this
        // function returns, after every claimed task has finished (`done == tasks`); a worker
        // dereferences it only after claiming a task of this job.
        let job: Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), Job>(f) };
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = Some(SendJob(job));
        s.done.store(0, SeqCst);
        s.tasks.store(tasks, SeqCst);
        let epoch = (s.claim.load(SeqCst) >> 32) + 1;
        s.claim.store(epoch << 32, SeqCst);
        if *s.parked.lock().unwrap_or_else(|e| e.into_inner()) > 0 {
            s.wake.notify_all();
        }
        while let Some(i) = claim(s, epoch) {
            execute(s, f, i);
        }
        while s.done.load(SeqCst) < tasks {
            std::hint::spin_loop();
        }
        *s.job.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if s.panicked.swap(false, SeqCst) {
            panic!("a parallel task panicked");
        }
        true
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.quit.store(true, SeqCst);
        let _g = self.shared.parked.lock();
        self.shared.wake.notify_all();
    }
}

/// The next task of job `epoch`, if any is left.
fn claim(s: &Shared, epoch: u64) -> Option<usize> {
    loop {
        let v = s.claim.load(SeqCst);
        let i = (v & 0xffff_ffff) as usize;
        if v >> 32 != epoch || i >= s.tasks.load(SeqCst) {
            return None;
        }
        if s.claim.compare_exchange(v, v + 1, SeqCst, SeqCst).is_ok() {
            return Some(i);
        }
    }
}

fn execute(s: &Shared, f: &(dyn Fn(usize) + Sync), i: usize) {
    if panic::catch_unwind(AssertUnwindSafe(|| f(i))).is_err() {
        s.panicked.store(true, SeqCst);
    }
    s.done.fetch_add(1, SeqCst);
}

fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        let spin_start = Instant::now();
        let mut epoch;
        loop {
            epoch = s.claim.load(SeqCst) >> 32;
            if epoch != seen || s.quit.load(SeqCst) {
                break;
            }
            if spin_start.elapsed() > SPIN {
                let mut parked = s.parked.lock().unwrap_or_else(|e| e.into_inner());
                *parked += 1;
                while s.claim.load(SeqCst) >> 32 == seen && !s.quit.load(SeqCst) {
                    parked = s.wake.wait(parked).unwrap_or_else(|e| e.into_inner());
                }
                *parked -= 1;
                continue;
            }
            std::hint::spin_loop();
        }
        if s.quit.load(SeqCst) {
            return;
        }
        seen = epoch;
        while let Some(i) = claim(s, epoch) {
            let job = *s.job.lock().unwrap_or_else(|e| e.into_inner());
            match job {
                // SAFETY: a claimed task keeps its job alive (see `Team::run`).
                Some(SendJob(f)) => execute(s, unsafe { &*f }, i),
                None => {
                    s.done.fetch_add(1, SeqCst);
                }
            }
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Team>>> = const { RefCell::new(None) };
}

/// Runs `f` with the team of the current rayon pool's size as the current one (made on first
/// use and kept for the process).
pub fn with_team<R>(f: impl FnOnce() -> R) -> R {
    static TEAMS: OnceLock<Mutex<Vec<Arc<Team>>>> = OnceLock::new();
    let size = rayon::current_num_threads().max(1);
    if size == 1 {
        return f();
    }
    let team = {
        let mut teams = TEAMS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match teams.iter().find(|t| t.size == size) {
            Some(t) => Arc::clone(t),
            None => {
                let t = Arc::new(Team::new(size));
                teams.push(Arc::clone(&t));
                t
            }
        }
    };
    let previous = CURRENT.with(|c| c.replace(Some(team)));
    struct Restore(Option<Arc<Team>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Threads that [`run`] spreads tasks over: the current team's, else the rayon pool's.
pub fn threads() -> usize {
    CURRENT
        .with(|c| c.borrow().as_ref().map(|t| t.size))
        .unwrap_or_else(rayon::current_num_threads)
        .max(1)
}

/// Calls `f` once on each of `parts`, on the current team, else on rayon.
pub fn run<P: Send>(parts: Vec<P>, f: impl Fn(P) + Sync) {
    if parts.len() <= 1 {
        parts.into_iter().for_each(f);
        return;
    }
    let team = CURRENT.with(|c| c.borrow().clone());
    if let Some(team) = team {
        let slots: Vec<Mutex<Option<P>>> = parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
        let task = |i: usize| {
            let part = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(p) = part {
                f(p);
            }
        };
        if team.run(slots.len(), &task) {
            return;
        }
        let rest: Vec<P> = slots
            .into_iter()
            .filter_map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect();
        rest.into_par_iter().for_each(&f);
        return;
    }
    parts.into_par_iter().for_each(&f);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    }

    #[test]
    fn every_part_runs_once_on_the_team_and_nested_runs_fall_back() {
        pool(2).install(|| {
            with_team(|| {
                assert_eq!(threads(), 2);
                for len in [0, 1, 2, 3, 17, 1000] {
                    let mut hits = vec![0u32; len];
                    let parts: Vec<_> = hits.iter_mut().enumerate().collect();
                    run(parts, |(i, h)| {
                        // A nested job runs (on rayon), never deadlocks.
                        let mut inner = [0u32; 3];
                        run(inner.iter_mut().collect(), |v| *v += 1);
                        assert_eq!(inner, [1, 1, 1]);
                        *h += 1 + i as u32;
                    });
                    assert!(hits.iter().enumerate().all(|(i, &h)| h == 1 + i as u32));
                }
            })
        });
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_team_goes_on() {
        pool(2).install(|| {
            with_team(|| {
                let r = panic::catch_unwind(|| run((0..8).collect(), |i: i32| assert_ne!(i, 5)));
                assert!(r.is_err());
                let mut v = vec![0; 8];
                run(v.iter_mut().collect(), |x| *x = 7);
                assert_eq!(v, [7; 8]);
            })
        });
    }
}
