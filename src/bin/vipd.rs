//! vipd: the VRRP daemon. Runs in the foreground; systemd supervises it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use vipd::config::DEFAULT_CONFIG_PATH;
use vipd::control::DEFAULT_SOCKET_PATH;
use vipd::daemon::{Options, run};

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = match &args.log_level {
        Some(l) => EnvFilter::try_new(l),
        None => EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info")),
    };
    let filter = match filter {
        Ok(f) => f,
        Err(e) => {
            eprintln!("vipd: invalid --log-level: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vipd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(Options {
        config_path: args.config,
        socket_path: args.control_socket,
    })) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("vipd: {e}");
            ExitCode::FAILURE
        }
    }
}
