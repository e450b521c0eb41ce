//! The exit statuses of vipd and vipctl and what each means: the binaries
//! return these, and their man pages list them from here (EXIT STATUS; a
//! test checks every one is in every page), so a status cannot be added
//! without being documented.

use std::process::ExitCode;

/// An exit status of vipd or vipctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// What went wrong was said on stderr (or in the journal).
    Failure,
    /// The command line is wrong (clap's own usage errors are 2 too).
    Usage,
}

impl Exit {
    /// Every status, in the order of the pages.
    pub const ALL: [Exit; 3] = [Exit::Success, Exit::Failure, Exit::Usage];

    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
        }
    }

    /// What the status means when vipd returns it.
    pub fn vipd_meaning(self) -> &'static str {
        match self {
            Exit::Success => {
                "vipd stopped on SIGTERM or SIGINT, after stopping its instances (see SIGNALS)."
            }
            Exit::Failure => {
                "vipd could not start or stopped on an error, logged with what to do: the configuration does not load (FILE:LINE:COLUMN), a script it would run is unsafe or its user is missing, the control socket, netlink or a packet socket cannot be opened. Nothing is left half-applied."
            }
            Exit::Usage => "A command-line error: an unknown option, or an invalid --log-level.",
        }
    }

    /// What the status means when vipctl returns it (subcommands add their
    /// own details in their pages).
    pub fn vipctl_meaning(self) -> &'static str {
        match self {
            Exit::Success => "The command did what it was asked.",
            Exit::Failure => {
                "The command failed and said why on stderr: vipd did not answer or refused, the file has errors, a file could not be written, or output was lost (a closed pipe is not an error)."
            }
            Exit::Usage => {
                "A command-line error: an unknown option or subcommand, or --socket given to a subcommand that does not talk to vipd."
            }
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}
