//! vipctl: talk to a running vipd, and work with configuration files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{CommandFactory, Parser, Subcommand};
use vipd::config::{Config, DEFAULT_CONFIG_PATH};
use vipd::control::{DEFAULT_SOCKET_PATH, InstanceStatus, Request, Response, request};

#[derive(Parser)]
#[command(
    name = "vipctl",
    version,
    about = "Control and inspect vipd, check and import configurations"
)]
struct Args {
    /// vipd's control socket [default: /run/vipd/vipd.sock], for the
    /// subcommands that talk to vipd: status, watch, reload, cleanup,
    /// resync, hold. Given before the subcommand.
    // Not `global`: that would offer it to check, import-keepalived and the
    // other file commands too, where it does nothing (issue 13).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Show every instance: state, priorities, master, VIPs, last transition.
    Status {
        /// Print JSON instead of a table (`state` is INIT, BACKUP, MASTER or FAULT).
        #[arg(long)]
        json: bool,
    },
    /// Follow vipd's events as they happen: state changes, trackers, priorities, notify hooks.
    ///
    /// A snapshot of the status comes first, then one line per event, each
    /// numbered (one counter for all kinds, no gaps; notify hooks get the
    /// number as VIPD_SEQ): instance and group state changes, trackers up
    /// and down, priority and health changes, VIPs restored, notify hook
    /// and unit results. Runs until vipd stops (exit 0) or Ctrl-C; exits
    /// quietly when its output is closed.
    Watch {
        /// Print the JSON lines as vipd sends them (`{"seq":12,"time":...,"event":"transition",...}`).
        #[arg(long)]
        json: bool,
    },
    /// Reload the configuration file (same as SIGHUP): unchanged instances are untouched; changed ones
    /// are updated in place (a master stays master) unless their vrid, interface, address families,
    /// version or vip_device changed, which restarts them.
    Reload,
    /// Remove what a vipd that died without cleaning up left behind: its VIPs and the
    /// VIP devices it makes, as the configuration names them (nothing else). The unit runs it
    /// as ExecStopPost=; run by systemd ($SERVICE_RESULT set), it leaves everything in place
    /// when systemd restarts vipd (the unit's Restart= and no stop job queued), so the
    /// restarted vipd keeps its VIPs (warm restart). Refuses while vipd answers on --socket.
    Cleanup {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// The unit whose Restart= policy and jobs decide (ExecStopPost= passes %n).
        #[arg(long, default_value = "vipd.service")]
        unit: String,
    },
    /// Re-check every master's VIPs (of one interface, or all) and restore what is missing.
    Resync {
        /// Only instances on this interface or with VIPs on this device.
        #[arg(long)]
        interface: Option<String>,
        /// For hooks: read --config, exit 0 quietly when the interface is not
        /// vipd's, recreate missing MACVLAN/IPVLAN devices on it, and treat
        /// "vipd not running" as success.
        #[arg(long, requires = "interface")]
        create_devices: bool,
        /// The configuration --create-devices reads.
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// How long to wait for vipd's answer.
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
    /// Tell vipd that an interface is about to bounce (ifdown; ifup): a
    /// link-down on it within --for-ms keeps each instance's state (0 cancels).
    Hold {
        /// The interface about to go down and up again (an instance's `interface:`).
        #[arg(long)]
        interface: String,
        /// How long a link-down is tolerated, at most 60000 ms.
        #[arg(long, default_value_t = vipd::control::DEFAULT_HOLD_MS,
              value_parser = clap::value_parser!(u64).range(0..=vipd::control::MAX_HOLD_MS))]
        for_ms: u64,
        /// Exit 0 quietly when no instance of this configuration runs on the interface.
        #[arg(long)]
        config: Option<PathBuf>,
        /// How long to wait for vipd's answer; vipd not running is success.
        #[arg(long, default_value_t = 2_000)]
        timeout_ms: u64,
    },
    /// Install or remove the networkd-dispatcher / ifupdown hooks.
    #[command(subcommand)]
    Hooks(HooksCmd),
    /// Validate a configuration file; exits non-zero with FILE:LINE:COLUMN: message.
    ///
    /// Every error is listed, sorted by position, then their count. Warnings
    /// (exit status 0): an instance's interface that does not exist on this
    /// host.
    Check {
        #[arg(default_value = DEFAULT_CONFIG_PATH)]
        file: PathBuf,
        /// Check the file only, not this host (its interfaces, the scripts
        /// and their user): for a file written for another host.
        #[arg(long)]
        offline: bool,
    },
    /// Persist vipd's devices and VIPs through systemd-networkd's own files.
    #[command(subcommand)]
    Networkd(NetworkdCmd),
    /// Translate a keepalived.conf to vipd YAML on stdout; what cannot be carried over is listed on stderr.
    ///
    /// A VIP on a device of its own (`dev keepalived0`) gets a hint towards
    /// `vip_device: {kind: ipvlan}` when the device is an IPVLAN on this host,
    /// or when this host cannot tell (no such device, or --root). Every
    /// `include` that matches no file is reported, also when the import fails.
    ImportKeepalived {
        /// The keepalived.conf (looked up under DIR if absolute and --root DIR is given).
        file: PathBuf,
        /// A copy of another host's files: the main file's path (if absolute)
        /// and the absolute `include` patterns are looked up under DIR, as if
        /// DIR were /. The devices are then not looked up on this host.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Write /etc/network/interfaces (ifupdown) equivalent to the host's netplan
    /// files, with vipd's VIP devices; print the commands that switch the host over.
    MigrateIfupdown {
        /// vipd configuration (default: /etc/vipd/vipd.yaml under --root, if present).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Operate on a copy of a system instead of /.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Print the files that would be written and the commands; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write man pages and shell completions to DIR (packaging; hidden).
    #[command(hide = true)]
    GenerateAssets {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Send ICMP/ICMPv6 echo requests on a fixed schedule and report every
    /// reply, every loss and the longest gap between replies (kernel timestamps).
    Probe(vipd::probe::ProbeArgs),
}

#[derive(Subcommand)]
enum HooksCmd {
    /// Install the hooks for what is present (networkd-dispatcher, ifupdown,
    /// or both): 0755 root:root, idempotent, foreign files refused.
    Install {
        /// Operate on a copy of a system instead of /.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Install for this system whatever is detected (repeatable).
        #[arg(long, value_parser = ["networkd-dispatcher", "ifupdown"])]
        only: Vec<String>,
        /// Print what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove the hooks vipd installed (only files with vipd's marker line).
    Remove {
        #[arg(long, default_value = "/")]
        root: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum NetworkdCmd {
    /// Write the .netdev/.network files and drop-ins the configuration needs
    /// (atomically, only when content changes), remove stale ones, and ask
    /// networkd to reload.
    Install {
        #[arg(long, default_value = DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Operate on a copy of a system instead of / (no reload then).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// systemd version to write for (default: `networkctl --version`).
        #[arg(long)]
        systemd_version: Option<u32>,
        /// Print what would be written, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove every file vipd wrote (they carry a "Written by vipd" header) and ask networkd to reload.
    Remove {
        #[arg(long, default_value = "/")]
        root: PathBuf,
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    let code = run(Args::parse());
    // Output lost to anything but a closed pipe fails the command
    // (`vipd::output`: a closed pipe is not an error).
    if vipd::output::failed() {
        ExitCode::FAILURE
    } else {
        code
    }
}

/// Whether a subcommand talks to vipd over its control socket.
fn uses_socket(cmd: &Cmd) -> bool {
    match cmd {
        Cmd::Status { .. }
        | Cmd::Watch { .. }
        | Cmd::Reload
        | Cmd::Cleanup { .. }
        | Cmd::Resync { .. }
        | Cmd::Hold { .. } => true,
        Cmd::Hooks(_)
        | Cmd::Check { .. }
        | Cmd::Networkd(_)
        | Cmd::ImportKeepalived { .. }
        | Cmd::MigrateIfupdown { .. }
        | Cmd::GenerateAssets { .. }
        | Cmd::Probe(_) => false,
    }
}

fn run(args: Args) -> ExitCode {
    if args.socket.is_some() && !uses_socket(&args.cmd) {
        // A usage error, as clap reports its own (exit status 2).
        Args::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--socket applies to status, watch, reload, cleanup, resync and hold only; \
                 this subcommand does not talk to vipd: remove --socket",
            )
            .exit();
    }
    let socket = args
        .socket
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_PATH));
    match args.cmd {
        Cmd::Status { json } => status(&socket, json),
        Cmd::Watch { json } => watch(&socket, json),
        Cmd::Reload => reload(&socket),
        Cmd::Cleanup { config, unit } => vipd::cleanup::cli::run(&socket, &config, &unit),
        Cmd::Resync {
            interface: Some(iface),
            create_devices: true,
            config,
            timeout_ms,
        } => vipd::hooks::cli::resync_creating_devices(
            &socket,
            &iface,
            &config,
            Duration::from_millis(timeout_ms),
        ),
        Cmd::Resync {
            interface,
            timeout_ms,
            ..
        } => resync(&socket, interface, Duration::from_millis(timeout_ms)),
        Cmd::Hold {
            interface,
            for_ms,
            config,
            timeout_ms,
        } => vipd::hooks::cli::hold(
            &socket,
            &interface,
            for_ms,
            config.as_deref(),
            Duration::from_millis(timeout_ms),
        ),
        Cmd::Hooks(cmd) => hooks(cmd),
        Cmd::Check { file, offline } => check(
            &file,
            if offline {
                HostChecks::Skip
            } else {
                HostChecks::Run
            },
        ),
        Cmd::ImportKeepalived { file, root } => import(&file, root.as_deref()),
        Cmd::Networkd(cmd) => networkd(cmd),
        Cmd::MigrateIfupdown {
            config,
            root,
            dry_run,
        } => vipd::migrate::run_cli(&root, config.as_deref(), dry_run),
        Cmd::GenerateAssets { out } => {
            vipd::assets::generate_or_report(Args::command(), &vipd::assets::VIPCTL_PAGES, &out)
        }
        Cmd::Probe(a) => vipd::probe::main(a),
    }
}

/// Sends `req`; a failed request or an error answer is reported here and
/// becomes the exit code.
fn ask(socket: &Path, req: Request) -> Result<Response, ExitCode> {
    ask_within(socket, req, Duration::from_secs(10))
}

fn ask_within(socket: &Path, req: Request, timeout: Duration) -> Result<Response, ExitCode> {
    match request(socket, &req, timeout) {
        Ok(Response::Error { message }) => {
            eprintln!("vipctl: {message}");
            Err(ExitCode::FAILURE)
        }
        Ok(r) => Ok(r),
        Err(e) => {
            eprintln!("vipctl: {e}");
            Err(ExitCode::FAILURE)
        }
    }
}

fn unexpected(answer: Response) -> ExitCode {
    eprintln!("vipctl: unexpected answer: {answer:?}");
    ExitCode::FAILURE
}

fn status(socket: &Path, json: bool) -> ExitCode {
    let st = match ask(socket, Request::Status) {
        Ok(Response::Status(s)) => s,
        Ok(other) => return unexpected(other),
        Err(code) => return code,
    };
    if json {
        vipd::outln!("{}", serde_json::to_string_pretty(&st).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    vipd::out!("{}", render_table(&st.instances, unix_now()));
    vipd::out!("{}", render_health(&st, unix_now()));
    if let Some(line) = render_networkd(&st, unix_now()) {
        vipd::outln!("{line}");
    }
    for i in &st.instances {
        if let Some(p) = &i.problem {
            vipd::outln!("{}: {p}", i.name);
        }
    }
    // Why packets were dropped, by reason (the JSON has them all, always).
    for i in &st.instances {
        if let Some(line) = render_drops(&i.name, &i.drops) {
            vipd::outln!("{line}");
        }
    }
    vipd::out!("{}", render_split_brain(&st.instances));
    ExitCode::SUCCESS
}

/// `NAME: dropped reason=count, ...`, or nothing when nothing was dropped.
fn render_drops(name: &str, drops: &std::collections::BTreeMap<String, u64>) -> Option<String> {
    let counted: Vec<String> = drops
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    (!counted.is_empty()).then(|| format!("{name}: dropped {}", counted.join(", ")))
}

/// One line per instance that met another master it outranks (the
/// `dual_master` counter): nothing when none did.
fn render_split_brain(instances: &[vipd::control::InstanceStatus]) -> String {
    instances
        .iter()
        .filter(|i| i.dual_master > 0)
        .map(|i| {
            format!(
                "{}: split brain: {} time(s) a lower-priority master was heard (dual_master)\n",
                i.name, i.dual_master
            )
        })
        .collect()
}

/// Prints the event stream, a line per event; stops quietly when stdout
/// closes (`vipctl watch | head`).
fn watch(socket: &Path, json: bool) -> ExitCode {
    use std::io::{BufRead, Write};
    let reader = match vipd::control::open_watch(socket) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vipctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    for (n, line) in reader.lines().enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("vipctl: control socket {}: {e}", socket.display());
                return ExitCode::FAILURE;
            }
        };
        // A vipd without watch answers with an error instead of a snapshot.
        if n == 0
            && let Ok(Response::Error { message }) = serde_json::from_str::<Response>(&line)
        {
            eprintln!("vipctl: {message}");
            return ExitCode::FAILURE;
        }
        let text = match json {
            true => line,
            false => vipd::watch::Line::parse(&line)
                .map(|l| l.render())
                .unwrap_or(line),
        };
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            return ExitCode::SUCCESS;
        }
    }
    ExitCode::SUCCESS
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn ago(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        7200..=172_799 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

/// Below the table: each instance's priority arithmetic and group, then
/// the trackers (nothing when the configuration has neither).
/// The systemd-networkd line: its state on the bus, version, features and
/// resyncs; an older daemon's answer has only the summary text.
fn render_networkd(st: &vipd::control::Status, now: f64) -> Option<String> {
    use vipd::control::NetworkdBusState;
    let b = &st.networkd_bus;
    if b.state == NetworkdBusState::Starting && b.since_unix_time == 0.0 {
        return (st.networkd != "connected").then(|| format!("systemd-networkd: {}", st.networkd));
    }
    let mut line = format!(
        "systemd-networkd: {} (changed {})",
        b.state.name(),
        ago(now - b.since_unix_time)
    );
    if b.state == NetworkdBusState::Running {
        match b.version {
            Some(v) => line.push_str(&format!(", systemd {v}")),
            None => line.push_str(", version unknown"),
        }
        if b.features.is_empty() {
            line.push_str(", no methods");
        } else {
            line.push_str(&format!(", methods {}", b.features.join(" ")));
        }
    }
    line.push_str(&format!(", {} resyncs", b.resyncs));
    if !b.detail.is_empty() {
        line.push_str(&format!(": {}", b.detail));
    }
    Some(line)
}

fn render_health(st: &vipd::control::Status, now: f64) -> String {
    let mut out = String::new();
    for i in &st.instances {
        if i.trackers.is_empty() && i.group.is_none() {
            continue;
        }
        let group = i
            .group
            .as_ref()
            .map(|g| format!(" [group {g}]"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}: priority {}{group}\n",
            i.name, i.priority_arithmetic
        ));
    }
    if !st.trackers.is_empty() {
        let rows: Vec<Vec<String>> = st
            .trackers
            .iter()
            .map(|t| {
                let state = match t.status {
                    vipd::health::Status::Up => "up",
                    vipd::health::Status::Down => "down",
                };
                vec![
                    t.name.clone(),
                    t.kind.clone(),
                    state.to_string(),
                    ago(now - t.since_unix_time),
                    t.last_result.clone().unwrap_or_else(|| "ok".into()),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&columns(
            &["TRACKER", "KIND", "STATE", "SINCE", "LAST RESULT"],
            &rows,
        ));
    }
    out
}

fn render_table(instances: &[InstanceStatus], now: f64) -> String {
    let header = [
        "INSTANCE",
        "INTERFACE",
        "VRID",
        "VER",
        "STATE",
        "PRIO",
        "EFF",
        "MASTER",
        "VIPS",
        "NETWORKD",
        "LAST TRANSITION",
    ];
    let rows: Vec<[String; 11]> = instances
        .iter()
        .map(|i| {
            let mut vips = i.vips.join(",");
            if !i.excluded_vips.is_empty() {
                vips.push_str(&format!(" (+{} excluded)", i.excluded_vips.len()));
            }
            [
                i.name.clone(),
                i.interface.clone(),
                i.vrid.to_string(),
                format!("v{}", i.version),
                i.state.to_string(),
                i.priority.to_string(),
                i.effective_priority.to_string(),
                i.master_address
                    .map(|a| a.to_string())
                    .unwrap_or_else(|| "-".into()),
                vips,
                // networkd's administrative/operational state of the interface.
                i.networkd
                    .as_ref()
                    .map(|n| {
                        format!(
                            "{}/{}",
                            n.administrative_state.as_deref().unwrap_or("?"),
                            n.operational_state.as_deref().unwrap_or("?")
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
                i.last_transition
                    .as_ref()
                    .map(|t| {
                        format!(
                            "{} -> {} {} ({})",
                            t.from,
                            t.to,
                            ago(now - t.unix_time),
                            t.reason
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    columns(&header, &rows)
}

/// A header and rows, each column as wide as its widest cell, two blanks
/// apart.
fn columns<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r.as_ref()) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(r.as_ref().iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn reload(socket: &Path) -> ExitCode {
    match ask(socket, Request::Reload) {
        Ok(Response::Reloaded {
            added,
            removed,
            updated,
            restarted,
            unchanged,
        }) => {
            vipd::outln!(
                "reloaded: {} added, {} removed, {} updated in place, {} restarted, {} unchanged",
                added.len(),
                removed.len(),
                updated.len(),
                restarted.len(),
                unchanged.len()
            );
            for n in &added {
                vipd::outln!("  added: {n}");
            }
            for n in &removed {
                vipd::outln!("  removed: {n}");
            }
            for u in &updated {
                vipd::outln!("  updated: {} ({})", u.name, u.changed.join(", "));
            }
            for n in &restarted {
                vipd::outln!("  restarted: {n}");
            }
            ExitCode::SUCCESS
        }
        Ok(other) => unexpected(other),
        Err(code) => code,
    }
}

fn resync(socket: &Path, interface: Option<String>, timeout: Duration) -> ExitCode {
    match ask_within(socket, Request::Resync { interface }, timeout) {
        Ok(Response::Resynced {
            instances,
            restored,
        }) => {
            vipd::outln!(
                "resynced {} instance(s), restored {}",
                instances.len(),
                restored.len()
            );
            for r in restored {
                vipd::outln!("  restored: {r}");
            }
            ExitCode::SUCCESS
        }
        Ok(other) => unexpected(other),
        Err(code) => code,
    }
}

fn hooks(cmd: HooksCmd) -> ExitCode {
    use vipd::hooks::{HookKind, cli};
    match cmd {
        HooksCmd::Install {
            root,
            only,
            dry_run,
        } => {
            let kinds: Vec<HookKind> = HookKind::ALL
                .into_iter()
                .filter(|k| only.iter().any(|o| o == k.name()))
                .collect();
            cli::install(&root, &kinds, dry_run)
        }
        HooksCmd::Remove { root, dry_run } => cli::remove(&root, dry_run),
    }
}

fn networkd(cmd: NetworkdCmd) -> ExitCode {
    use vipd::networkd::FileAction;
    use vipd::networkd::install::{install, live_systemd_version, remove};
    let (result, root, dry_run) = match cmd {
        NetworkdCmd::Install {
            config,
            root,
            systemd_version,
            dry_run,
        } => {
            let cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
            };
            let config = std::path::absolute(&config).unwrap_or(config);
            let version = systemd_version.or_else(|| {
                if root == Path::new("/") {
                    live_systemd_version()
                } else {
                    None
                }
            });
            (
                install(&cfg, &config, &root, version, dry_run),
                root,
                dry_run,
            )
        }
        NetworkdCmd::Remove { root, dry_run } => (remove(&root, dry_run), root, dry_run),
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vipctl: {e}");
            return ExitCode::FAILURE;
        }
    };
    for n in &outcome.plan.notes {
        eprintln!("note: {n}");
    }
    if dry_run {
        for a in &outcome.plan.actions {
            match a {
                FileAction::Write { path, content } => {
                    vipd::outln!("would write {}:\n{content}", path.display())
                }
                FileAction::Remove { path } => vipd::outln!("would remove {}", path.display()),
            }
        }
        return ExitCode::SUCCESS;
    }
    if let Some(s) = &outcome.summary {
        for p in &s.written {
            vipd::outln!("wrote {}", p.display());
        }
        for p in &s.unchanged {
            vipd::outln!("unchanged {}", p.display());
        }
        for p in &s.removed {
            vipd::outln!("removed {}", p.display());
        }
    }
    if !outcome.changed() {
        vipd::outln!("nothing changed; networkd not reloaded");
    } else if root != Path::new("/") {
        vipd::outln!(
            "files changed under {}; reload systemd-networkd on that system to apply them",
            root.display()
        );
    } else {
        match reload_networkd() {
            Ok(()) => vipd::outln!("systemd-networkd reloaded"),
            Err(e) => eprintln!("vipctl: files written, but networkd was not reloaded: {e}"),
        }
    }
    ExitCode::SUCCESS
}

/// Asks networkd to reload over D-Bus (systemd >= 244).
fn reload_networkd() -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let bus = vipd::io::networkd_dbus::NetworkdBus::connect()
            .await
            .map_err(|e| e.to_string())?;
        bus.reload().await.map_err(|e| e.to_string())
    })
}

/// Whether `vipctl check` also asks this host what only it can tell.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HostChecks {
    Run,
    Skip,
}

fn check(file: &Path, host: HostChecks) -> ExitCode {
    let parsed = Config::read_text(file)
        .map_err(|e| vec![e])
        .and_then(|text| Config::parse_all(&text, file).map(|c| (c, text)));
    let (c, text) = match parsed {
        Ok(ok) => ok,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            let n = errors.len();
            eprintln!(
                "{}: {n} error{}",
                file.display(),
                if n == 1 { "" } else { "s" }
            );
            return ExitCode::FAILURE;
        }
    };
    if host == HostChecks::Run {
        // What only this host can tell: the scripts and their user.
        if let Err(problems) = vipd::io::track::security::script_user_for(&c) {
            for p in problems {
                eprintln!("{}: {p}", file.display());
            }
            return ExitCode::FAILURE;
        }
        for w in absent_interfaces(&c, &text, file, Path::new("/sys/class/net")) {
            eprintln!("{w}");
        }
    }
    vipd::outln!(
        "{}: OK ({} instance{})",
        file.display(),
        c.instances.len(),
        if c.instances.len() == 1 { "" } else { "s" }
    );
    if let Some(m) = &c.metrics {
        vipd::outln!("metrics: served on http://{}/metrics", m.listen);
    }
    ExitCode::SUCCESS
}

/// A warning for each instance whose interface `sys_class_net` (normally
/// `/sys/class/net`) does not list: a typo, or a file for another host.
/// Not an error: vipd waits for an absent interface to appear.
fn absent_interfaces(
    c: &Config,
    text: &str,
    file: &Path,
    sys_class_net: &Path,
) -> Vec<vipd::diagnostic::Diagnostic> {
    let Ok(dir) = std::fs::read_dir(sys_class_net) else {
        return Vec::new(); // no sysfs here: nothing to compare with
    };
    let present: Vec<String> = dir
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let names: Vec<&str> = present.iter().map(String::as_str).collect();
    c.instances
        .iter()
        .enumerate()
        .filter(|(_, i)| !names.contains(&i.interface.as_str()))
        .map(|(n, i)| {
            let at = vipd::config::instance_field_location(text, n, "interface");
            let guess = vipd::config::nearest(&i.interface, &names)
                .map(|g| format!(" (did you mean {g:?}?)"))
                .unwrap_or_default();
            vipd::diagnostic::Diagnostic {
                file: file.to_path_buf(),
                line: at.map(|a| a.0),
                column: at.map(|a| a.1),
                message: format!(
                    "warning: interface {:?} of instance {:?} does not exist on this host{guess}: vipd would wait for it to appear (--offline skips this check)",
                    i.interface, i.name
                ),
            }
        })
        .collect()
}

fn import(file: &Path, root: Option<&Path>) -> ExitCode {
    use vipd::keepalived::{HostLink, ImportOptions, Root};
    if let Some(dir) = root
        && !dir.is_dir()
    {
        eprintln!(
            "vipctl: --root {}: not a directory (give the directory that stands for the other host's /)",
            dir.display()
        );
        return ExitCode::FAILURE;
    }
    // The devices of this host, for the hints about VIPs on a device of
    // their own; a copy of another host's files says nothing about this one.
    let kinds = match root {
        Some(_) => None,
        None => host_link_kinds(),
    };
    let host_links = |name: &str| match &kinds {
        None => HostLink::NotLookedUp,
        Some(kinds) => match kinds.iter().find(|(n, _)| n == name) {
            None => HostLink::Missing,
            Some((_, k)) if k == "ipvlan" => HostLink::Ipvlan,
            Some((_, k)) => HostLink::Other(k.clone()),
        },
    };
    let options = ImportOptions {
        root: root.map_or(Root::Host, Root::Copy),
        host_links: &host_links,
    };
    match vipd::keepalived::import_path(file, &options) {
        Ok(imp) => {
            for w in &imp.warnings {
                eprintln!("warning: {w}");
            }
            vipd::out!("{}", imp.config.to_yaml());
            ExitCode::SUCCESS
        }
        Err(rejected) => {
            for w in &rejected.unmatched_includes {
                eprintln!("warning: {w}");
            }
            eprintln!("{}", rejected.error);
            ExitCode::FAILURE
        }
    }
}

/// Every link of this host with its kind (netlink); `None` when netlink
/// cannot be asked (the import then goes on as offline).
fn host_link_kinds() -> Option<Vec<(String, String)>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let (nl, _events) = vipd::io::netlink::Netlink::open().ok()?;
        nl.link_kinds().await.ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vipd::control::Transition;
    use vipd::vrrp::{Reason, State};

    #[test]
    fn networkd_line_says_state_version_and_resyncs() {
        use vipd::control::{NetworkdBusState, NetworkdBusStatus, Status};
        let mut st = Status {
            schema_version: vipd::control::STATUS_SCHEMA_VERSION,
            router_id: None,
            config_path: "/etc/vipd/vipd.yaml".into(),
            pid: 1,
            instances: vec![],
            unmatched_drops: Default::default(),
            networkd: "connected".into(),
            networkd_bus: NetworkdBusStatus::default(),
            trackers: vec![],
            groups: vec![],
        };
        // An older daemon: no networkd_bus, only the summary when not connected.
        assert_eq!(render_networkd(&st, 100.0), None);
        st.networkd = "cannot reach the system D-Bus: x".into();
        assert_eq!(
            render_networkd(&st, 100.0).as_deref(),
            Some("systemd-networkd: cannot reach the system D-Bus: x")
        );
        st.networkd_bus = NetworkdBusStatus {
            state: NetworkdBusState::Running,
            since_unix_time: 88.0,
            version: Some(252),
            features: vec!["Reload".into(), "ReconfigureLink".into()],
            owner: Some(":1.4".into()),
            pid: Some(7),
            resyncs: 3,
            detail: String::new(),
        };
        assert_eq!(
            render_networkd(&st, 100.0).as_deref(),
            Some(
                "systemd-networkd: running (changed 12s ago), systemd 252, methods Reload ReconfigureLink, 3 resyncs"
            )
        );
        st.networkd_bus.state = NetworkdBusState::Absent;
        st.networkd_bus.detail = "nobody owns it".into();
        assert_eq!(
            render_networkd(&st, 100.0).as_deref(),
            Some("systemd-networkd: absent (changed 12s ago), 3 resyncs: nobody owns it")
        );
    }

    #[test]
    fn table_has_every_column() {
        let i = InstanceStatus {
            name: "web".into(),
            interface: "eth0".into(),
            vrid: 51,
            version: 3,
            state: State::Master,
            priority: 150,
            effective_priority: 150,
            master_address: Some("192.0.2.1".parse().unwrap()),
            master_priority: Some(150),
            advert_interval_ms: 1000,
            vips: vec!["192.0.2.10/24".into()],
            excluded_vips: vec![],
            vips_present: 1,
            last_transition: Some(Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDown,
                unix_time: 100.0,
            }),
            adverts_sent: 0,
            adverts_received: 0,
            became_master: 1,
            vips_restored: 0,
            dual_master: 0,
            drops: Default::default(),
            problem: None,
            networkd: Some(vipd::io::networkd_dbus::LinkView {
                administrative_state: Some("configured".into()),
                operational_state: Some("routable".into()),
                address_state: None,
            }),
            group: None,
            priority_arithmetic: "150".into(),
            health_fault: false,
            trackers: vec![],
            notify_ok: 0,
            notify_failed: 0,
        };
        assert_eq!(render_drops("web", &i.drops), None);
        let drops = std::collections::BTreeMap::from([
            ("ah_icv_mismatch".to_string(), 3),
            ("ah_replay".to_string(), 10),
        ]);
        assert_eq!(
            render_drops("web", &drops).as_deref(),
            Some("web: dropped ah_icv_mismatch=3, ah_replay=10")
        );
        assert_eq!(render_split_brain(std::slice::from_ref(&i)), "");
        let mut split = i.clone();
        split.dual_master = 2;
        assert_eq!(
            render_split_brain(&[split]),
            "web: split brain: 2 time(s) a lower-priority master was heard (dual_master)\n"
        );
        let t = render_table(&[i], 112.0);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("INSTANCE  INTERFACE  VRID  VER  STATE"),
            "{t}"
        );
        assert!(
            lines[1].contains("web")
                && lines[1].contains("MASTER")
                && lines[1].contains("192.0.2.10/24"),
            "{t}"
        );
        assert!(
            lines[1].contains("BACKUP -> MASTER 12s ago (master_down)"),
            "{t}"
        );
        assert!(
            lines[0].contains("NETWORKD") && lines[1].contains("configured/routable"),
            "{t}"
        );
    }
}
