//! vipd: the VRRP daemon. Runs in the foreground; systemd supervises it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use tracing_subscriber::EnvFilter;
use vipd::config::DEFAULT_CONFIG_PATH;
use vipd::control::DEFAULT_SOCKET_PATH;
use vipd::daemon::{Options, run};
use vipd::exit::Exit;
use vipd::io::journal;

/// VRRP daemon (RFC 5798 v3, RFC 3768 v2) that keeps virtual IPs in place on
/// netplan / systemd-networkd hosts.
#[derive(Parser)]
#[command(name = "vipd", version)]
struct Args {
    /// Configuration file (YAML; see `vipctl check`).
    #[arg(long, short = 'c', default_value = DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Control socket for vipctl (created 0600).
    #[arg(long, default_value = DEFAULT_SOCKET_PATH)]
    control_socket: PathBuf,
    /// Log filter, e.g. `info`, `debug`, `vipd=debug` (overrides RUST_LOG).
    #[arg(long)]
    log_level: Option<String>,
    /// Write man pages and shell completions to DIR and exit (packaging).
    #[arg(long, value_name = "DIR", hide = true)]
    generate_assets: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(dir) = &args.generate_assets {
        return vipd::assets::generate_or_report(Args::command(), &vipd::assets::VIPD_PAGES, dir);
    }
    let filter = match &args.log_level {
        Some(l) => EnvFilter::try_new(l),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info")),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("vipd: invalid --log-level: {e}");
            return Exit::Usage.into();
        }
    };
    // Under systemd, stderr is the journal: it has its own timestamps, and
    // a `<N>` prefix gives each line its priority (see vipd::io::journal).
    let journal = journal::stderr_is_journal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if journal {
        let format = tracing_subscriber::fmt::format()
            .without_time()
            .with_target(false)
            .with_ansi(false);
        builder
            .with_ansi(false)
            .event_format(journal::SyslogPrefix(format))
            .init();
    } else {
        builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vipd: cannot start the runtime: {e}");
            return Exit::Failure.into();
        }
    };
    match rt.block_on(run(Options {
        config_path: args.config,
        socket_path: args.control_socket,
    })) {
        Ok(()) => Exit::Success.into(),
        Err(e) => {
            tracing::error!("{e}");
            // In the journal the line above is the message; a terminal or
            // log file gets the error plainly too, as before.
            if !journal {
                eprintln!("vipd: {e}");
            }
            Exit::Failure.into()
        }
    }
}
