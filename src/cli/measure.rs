//! Timing: the median of repeated calls within a time budget, and a progress line on
//! stderr.

use std::io::{IsTerminal, Write};
use std::time::Instant;

/// How long to measure each row.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Stop taking samples after this many seconds (after the minimum count).
    pub seconds: f64,
    /// Take at least this many samples.
    pub min_samples: usize,
    /// Take at most this many samples.
    pub max_samples: usize,
}

impl Budget {
    /// About 0.2 s a row: the whole `--quick` run stays under half a minute.
    pub const QUICK: Budget = Budget {
        seconds: 0.2,
        min_samples: 2,
        max_samples: 25,
    };
    /// About 1.5 s a row.
    pub const FULL: Budget = Budget {
        seconds: 1.5,
        min_samples: 5,
        max_samples: 101,
    };
}

/// The timing of one row.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Median seconds per call.
    pub median_s: f64,
    /// Fastest call.
    pub min_s: f64,
    /// Calls timed (after one warm-up call).
    pub samples: usize,
}

/// Calls `f` once to warm up, then times single calls until the budget is spent (at
/// least `min_samples`, at most `max_samples`). One call per sample: every workload
/// here takes far longer than the clock's resolution.
pub fn time<F: FnMut()>(budget: Budget, mut f: F) -> Timing {
    f();
    let start = Instant::now();
    let mut samples = Vec::with_capacity(budget.max_samples);
    while samples.len() < budget.max_samples
        && (samples.len() < budget.min_samples || start.elapsed().as_secs_f64() < budget.seconds)
    {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(f64::total_cmp);
    Timing {
        median_s: samples[samples.len() / 2],
        min_s: samples[0],
        samples: samples.len(),
    }
}

/// Times `f` and `g` alternately, one call of each per sample (their order swapped every
/// sample), so that both see the same machine: a ratio of the two medians is not
/// skewed by the machine getting faster or slower between two separate measurements.
/// Warms both up once; the budget counts the pairs.
pub fn time_pair<F: FnMut(), G: FnMut()>(budget: Budget, mut f: F, mut g: G) -> (Timing, Timing) {
    f();
    g();
    let start = Instant::now();
    let (mut sf, mut sg) = (Vec::new(), Vec::new());
    while sf.len() < budget.max_samples
        && (sf.len() < budget.min_samples || start.elapsed().as_secs_f64() < 2.0 * budget.seconds)
    {
        let one = |h: &mut dyn FnMut(), into: &mut Vec<f64>| {
            let t = Instant::now();
            h();
            into.push(t.elapsed().as_secs_f64());
        };
        if sf.len() % 2 == 0 {
            one(&mut f, &mut sf);
            one(&mut g, &mut sg);
        } else {
            one(&mut g, &mut sg);
            one(&mut f, &mut sf);
        }
    }
    let timing = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        Timing {
            median_s: v[v.len() / 2],
            min_s: v[0],
            samples: v.len(),
        }
    };
    (timing(sf), timing(sg))
}

/// A progress indicator on stderr: one rewritten line on a terminal, plain lines
/// otherwise (so logs stay readable).
pub struct Progress {
    total: usize,
    done: usize,
    tty: bool,
    started: Instant,
}

impl Progress {
    /// A progress indicator for `total` steps.
    pub fn new(total: usize) -> Self {
        Progress {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    /// Announces the next step.
    pub fn step(&mut self, what: &str) {
        self.done += 1;
        let line = format!(
            "[{:>3}/{}] {:>5.1}s  {what}",
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    /// A message that must stay visible (a skip), printed on its own line.
    pub fn note(&mut self, msg: &str) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{msg}");
    }

    /// Clears the progress line.
    pub fn finish(&mut self) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(
            err,
            "measured {} steps in {:.1} s",
            self.done,
            self.started.elapsed().as_secs_f64()
        );
    }
}
