//! `exec` trackers: the command at every interval (never two at once: a
//! run that outlasts the interval delays the next tick), as the script user.
//! Exit 0 is good; any other exit, a signal, a command that cannot be
//! started, and a timeout (unless `on_timeout: success`) are bad.

use tracing::debug;

use super::{Reporter, interval};
use crate::config::{Command, OnTimeout, TrackerConfig};
use crate::health::Outcome;
use crate::io::script::{self, Exit, ScriptUser};

pub async fn run(cmd: &Command, cfg: &TrackerConfig, user: Option<&ScriptUser>, out: Reporter) {
    let mut tick = interval(cfg.interval);
    loop {
        tick.tick().await;
        let ran = script::run(cmd, user, &[], cfg.timeout).await;
        if !ran.output.is_empty() {
            debug!(tracker = %out.name(), exit = %ran.exit, "output: {}", ran.output);
        }
        if !out.send(outcome(&ran.exit, cfg.on_timeout)) {
            return;
        }
    }
}

fn outcome(exit: &Exit, on_timeout: OnTimeout) -> Outcome {
    match (exit, on_timeout) {
        (Exit::Code(0), _) | (Exit::TimedOut, OnTimeout::Success) => Outcome::Good,
        (e, _) => Outcome::Bad(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_good() {
        assert_eq!(outcome(&Exit::Code(0), OnTimeout::Failure), Outcome::Good);
        assert_eq!(
            outcome(&Exit::Code(1), OnTimeout::Failure),
            Outcome::Bad("exit 1".into())
        );
        assert_eq!(
            outcome(&Exit::TimedOut, OnTimeout::Failure),
            Outcome::Bad("timed out".into())
        );
        assert_eq!(outcome(&Exit::TimedOut, OnTimeout::Success), Outcome::Good);
        assert!(
            matches!(
                outcome(&Exit::NotStarted("no such file".into()), OnTimeout::Success),
                Outcome::Bad(_)
            ),
            "a command that cannot run is never a success"
        );
        assert!(matches!(
            outcome(&Exit::Signal(9), OnTimeout::Failure),
            Outcome::Bad(_)
        ));
    }
}
