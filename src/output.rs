//! vipctl's standard output, safe on a closed pipe.
//!
//! `println!` panics when stdout is a pipe whose reader went away
//! (`vipctl status | true`: "failed printing to stdout: Broken pipe"). Here
//! a closed pipe is not an error: the command goes on and completes (a
//! reload is still applied, a migration still written whole, a probe still
//! measures), its output is dropped, and the exit status is the command's
//! own. Streams stop by themselves (`vipctl watch` checks its writes). Any
//! other write error (a full disk under `> file`) is reported once on
//! stderr and makes the exit status 1, so output is never lost silently.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static FAILED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout; see the module for what errors do.
pub fn print(args: fmt::Arguments) {
    let result = io::stdout().lock().write_fmt(args);
    if let Err(e) = result
        && e.kind() != io::ErrorKind::BrokenPipe
        && !FAILED.swap(true, Ordering::Relaxed)
    {
        eprintln!("vipctl: cannot write to standard output: {e}");
    }
}

/// Some output could not be written (other than to a closed pipe).
pub fn failed() -> bool {
    FAILED.load(Ordering::Relaxed)
}

/// `println!` without the panic on a closed pipe (see [`print`]).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` without the panic on a closed pipe (see [`print`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::print(format_args!($($arg)*))
    };
}
