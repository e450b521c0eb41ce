//! Man pages and shell completions, generated from the binaries' own clap
//! definitions (`vipd --generate-assets DIR`, `vipctl generate-assets --out
//! DIR`, both hidden) so they cannot drift from `--help`. The Debian package
//! build (.ci/build-deb) runs both into target/assets/.
//!
//! Layout under DIR:
//! - `man/NAME.8` and one `man/NAME-SUBCOMMAND.8` per visible subcommand
//!   (section 8: system administration), with the sections `--help` has no
//!   room for ([`Pages`]: signals, files, exit status, what the program
//!   changes on the host), kept as constants beside the code they describe;
//! - the other pages a binary owns, such as `man/vipd.yaml.5` (section 5:
//!   file formats), rendered from the configuration's reference table
//!   ([`crate::config::reference`]);
//! - `completions/bash/NAME`, `completions/zsh/_NAME`,
//!   `completions/fish/NAME.fish` (the file names each shell looks up).

use std::io;
use std::path::{Path, PathBuf};

use clap::Command;
use clap_complete::Shell;

use crate::config::DEFAULT_CONFIG_PATH;
use crate::control::DEFAULT_SOCKET_PATH;
use crate::exit::Exit;

/// [`generate`] for a binary's hidden packaging option: errors are
/// reported on stderr and become the exit code.
pub fn generate_or_report(cmd: Command, pages: &Pages, out: &Path) -> std::process::ExitCode {
    let name = cmd.get_name().to_string();
    match generate(cmd, pages, out) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: cannot write man pages and completions: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Writes the man pages and completions of `cmd` under `out`; returns the
/// files written. Each file is written whole or not at all.
pub fn generate(cmd: Command, pages: &Pages, out: &Path) -> io::Result<Vec<PathBuf>> {
    let name = cmd.get_name().to_string();
    let mut cmd = without_hidden(&cmd).disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();

    let man_dir = out.join("man");
    create_dir(&man_dir)?;
    man_pages(&cmd, pages, &man_dir, &mut written)?;
    for (file, text) in (pages.others)() {
        let path = man_dir.join(file);
        write_whole(&path, text.as_bytes())?;
        written.push(path);
    }

    for (shell, file) in [
        (Shell::Bash, name.clone()),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let dir = out.join("completions").join(shell.to_string());
        create_dir(&dir)?;
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), &name, &mut buf);
        let path = dir.join(file);
        write_whole(&path, &buf)?;
        written.push(path);
    }
    Ok(written)
}

/// A copy of `cmd` without hidden arguments and subcommands: clap_mangen
/// leaves them out, but clap_complete would offer them. Takes the command
/// before `build()`, so help, version and global arguments are added to the
/// copy as they are to the original.
fn without_hidden(cmd: &Command) -> Command {
    let mut copy = Command::new(cmd.get_name().to_string())
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(without_hidden),
        );
    if let Some(v) = cmd.get_version() {
        copy = copy.version(v.to_string());
    }
    if let Some(a) = cmd.get_about() {
        copy = copy.about(a.clone());
    }
    if let Some(a) = cmd.get_long_about() {
        copy = copy.long_about(a.clone());
    }
    copy
}

/// The page of `cmd`, then one per visible subcommand, recursively (hidden
/// ones, such as generate-assets itself, get none).
fn man_pages(
    cmd: &Command,
    pages: &Pages,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Manager's Manual")
        .source(concat!("vipd ", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    man.render(&mut buf)
        .map_err(|e| with_path(e, &dir.join(man.get_filename())))?;
    let page = with_sections(
        &String::from_utf8_lossy(&buf),
        &(pages.sections)(page_name(&man.get_filename())),
    );
    let path = dir.join(man.get_filename());
    write_whole(&path, page.as_bytes())?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, pages, dir, written)?;
    }
    Ok(())
}

/// The page's name, as its file is named without the section
/// (`vipctl-networkd-install`): a subcommand's own name is not unique.
fn page_name(file: &str) -> &str {
    file.rsplit_once('.').map_or(file, |(name, _)| name)
}

/// What a binary's pages say beyond its clap definition.
pub struct Pages {
    /// The sections added to the page of a command, by the command's name
    /// as clap_mangen names its page (`vipd`, `vipctl`, `vipctl-check`).
    pub sections: fn(&str) -> Vec<ManSection>,
    /// Further pages: file name and roff text.
    pub others: fn() -> Vec<(String, String)>,
}

/// vipd's pages: vipd(8) and vipd.yaml(5).
pub const VIPD_PAGES: Pages = Pages {
    sections: vipd_sections,
    others: || vec![("vipd.yaml.5".to_string(), config_page())],
};

/// vipctl's pages: vipctl(8) and one per subcommand.
pub const VIPCTL_PAGES: Pages = Pages {
    sections: vipctl_sections,
    others: Vec::new,
};

/// EXIT STATUS from [`Exit`], with what each status means for `meaning`'s
/// program, and any details of a subcommand.
fn exit_status(meaning: fn(Exit) -> &'static str, details: &[(Exit, &str)]) -> ManSection {
    let items: Vec<(String, String)> = Exit::ALL
        .iter()
        .map(|&e| {
            let mut text = meaning(e).to_string();
            for (_, d) in details.iter().filter(|(x, _)| *x == e) {
                text.push(' ');
                text.push_str(d);
            }
            (e.code().to_string(), text)
        })
        .collect();
    let items: Vec<(&str, &str)> = items
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    ManSection::list("EXIT STATUS", "", &items)
}

/// The files of vipd's host, from the constants the code uses.
fn files_section(extra: &[(String, String)]) -> ManSection {
    use crate::networkd::{DROPIN_NAME, ETC_NETWORK_DIR, HEADER_PREFIX};
    let mut items: Vec<(String, String)> = vec![
        (
            DEFAULT_CONFIG_PATH.to_string(),
            "The configuration (vipd.yaml(5)), unless --config names another.".to_string(),
        ),
        (
            DEFAULT_SOCKET_PATH.to_string(),
            "The control socket vipctl talks to (mode 0600), unless --control-socket names another; removed at exit.".to_string(),
        ),
        (
            format!("{ETC_NETWORK_DIR}/60-vipd-DEVICE.netdev, {ETC_NETWORK_DIR}/60-vipd-DEVICE.network"),
            "A VIP device for systemd-networkd, written by vipctl networkd install or with networkd.manage_files.".to_string(),
        ),
        (
            format!("{ETC_NETWORK_DIR}/NAME.network.d/{DROPIN_NAME}"),
            "A drop-in for an interface's .network (KeepConfiguration=, the VIP devices it carries), written likewise. Every file vipd writes starts with the line \"".to_string() + HEADER_PREFIX + "\"; vipctl networkd remove removes exactly those.",
        ),
        (
            "/etc/networkd-dispatcher/STATE.d/50-vipd, /etc/network/if-up.d/vipd, /etc/network/if-down.d/vipd".to_string(),
            format!(
                "The hooks vipctl hooks install puts in place (STATE: {}), from /usr/share/vipd/hooks.",
                crate::hooks::DISPATCHER_STATES.join(", ")
            ),
        ),
        (
            "/lib/systemd/system/vipd.service, /lib/systemd/system/vipd-cleanup.service".to_string(),
            "The units (packaged; a source install puts them in /etc/systemd/system).".to_string(),
        ),
    ];
    items.extend(extra.iter().cloned());
    let items: Vec<(&str, &str)> = items
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    ManSection::list("FILES", "", &items)
}

/// The sections of vipd(8).
fn vipd_sections(name: &str) -> Vec<ManSection> {
    use crate::io::vip_device::{
        IPVLAN_PARENT_SYSCTLS, MACVLAN_PARENT_SYSCTLS, MACVLAN_SYSCTL, VIP_DEVICE_IPV6_SYSCTL,
    };
    if name != "vipd" {
        return Vec::new();
    }
    let mut changes: Vec<(String, String)> = crate::daemon::HOST_CHANGES
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let parent: Vec<String> = MACVLAN_PARENT_SYSCTLS
        .iter()
        .map(|(k, v)| format!("net.ipv4.conf.PARENT.{k}={v}"))
        .collect();
    let ipvlan_parent: Vec<String> = IPVLAN_PARENT_SYSCTLS
        .iter()
        .map(|(k, v)| format!("net.ipv4.conf.PARENT.{k}={v}"))
        .collect();
    changes.push((
        "Kernel parameters".to_string(),
        format!(
            "For a MACVLAN VIP device: {} on its parent (the parent never answers for a VIP with its own MAC) and net.ipv4.conf.DEVICE.{}={} on the device; for an IPVLAN VIP device: {} on its parent (its ARP requests carry its own address, so the replies reach it and not the IPVLAN device); for every VIP device it creates, net.ipv6.conf.DEVICE.{}={} (no link-local address from a shared MAC). They are not reset afterwards. No other parameter is written.",
            parent.join(" and "),
            MACVLAN_SYSCTL.0,
            MACVLAN_SYSCTL.1,
            ipvlan_parent.join(" and "),
            VIP_DEVICE_IPV6_SYSCTL.0,
            VIP_DEVICE_IPV6_SYSCTL.1
        ),
    ));
    let changes: Vec<(&str, &str)> = changes
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    vec![
        ManSection::text(
            "OVERVIEW",
            "vipd runs in the foreground under systemd (Type=notify, with a watchdog) and keeps the virtual addresses of each VRRP instance of its configuration on the master of the group: RFC 5798 (VRRPv3, IPv4 and IPv6) and RFC 3768 (VRRPv2), interoperable with keepalived and FRR. It follows the kernel's links and addresses over rtnetlink and systemd-networkd over D-Bus, so a VIP that networkd removes is put back at once. vipctl(8) shows its state, reloads it and checks configurations.",
        ),
        ManSection::list("SIGNALS", "", crate::daemon::SIGNALS),
        exit_status(Exit::vipd_meaning, &[]),
        ManSection::list(
            "WHAT IT CHANGES ON THE HOST",
            "vipd needs CAP_NET_ADMIN and CAP_NET_RAW (the unit grants them, and CAP_SETUID, CAP_SETGID and CAP_KILL for the scripts it runs). It changes only:",
            &changes,
        ),
        files_section(&[]),
        ManSection::list(
            "ENVIRONMENT",
            "",
            &[
                (
                    "RUST_LOG",
                    "The log filter when --log-level is not given (default info).",
                ),
                (
                    "NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID",
                    "Set by systemd: vipd reports READY=1, RELOADING=1, STOPPING=1, its status and watchdog pings there.",
                ),
                (
                    "JOURNAL_STREAM",
                    "Set by systemd: when stderr is the journal, log lines carry their priority and no timestamp.",
                ),
                (
                    "VIPD_*",
                    "Set by vipd for notify hooks: VIPD_KIND, VIPD_NAME, VIPD_STATE, VIPD_PREVIOUS, VIPD_REASON, VIPD_PRIORITY, VIPD_EFFECTIVE_PRIORITY, VIPD_VIPS, VIPD_MASTER, VIPD_SEQ.",
                ),
            ],
        ),
        ManSection::text(
            "SEE ALSO",
            "vipd.yaml(5), vipctl(8), systemd.service(5), systemd-networkd(8), keepalived(8); RFC 5798, RFC 3768.",
        ),
    ]
}

/// The vipctl subcommands that talk to vipd over its control socket.
const SOCKET_COMMANDS: &[&str] = &["status", "watch", "reload", "cleanup", "resync", "hold"];

/// The sections of vipctl(8) and of each vipctl-SUBCOMMAND(8).
fn vipctl_sections(name: &str) -> Vec<ManSection> {
    let sub = name.strip_prefix("vipctl-").unwrap_or("");
    let mut out = Vec::new();
    if SOCKET_COMMANDS.contains(&sub) {
        out.push(ManSection::text(
            "CONTROL SOCKET",
            &format!(
                "This command talks to vipd over its control socket, {DEFAULT_SOCKET_PATH} unless given before the subcommand: vipctl --socket PATH {sub} ... (vipd's --control-socket)."
            ),
        ));
    }
    let details: &[(Exit, &str)] = match sub {
        "check" => &[
            (
                Exit::Success,
                "The file is valid; warnings (an interface absent from this host) may have been printed.",
            ),
            (
                Exit::Failure,
                "The file has errors: each was printed as FILE:LINE:COLUMN: message, then their count.",
            ),
        ],
        "probe" => &[
            (Exit::Success, "At least one reply came back."),
            (Exit::Failure, "No reply came back."),
            (
                Exit::Usage,
                "Also a socket error (the probe could not send).",
            ),
        ],
        "hold" => &[(
            Exit::Success,
            "Also when vipd is not running, or (with --config) no instance runs on the interface.",
        )],
        "resync" => &[(
            Exit::Success,
            "With --create-devices, also when vipd is not running or the interface is not vipd's.",
        )],
        "cleanup" => &[(
            Exit::Failure,
            "Also when vipd still answers on the control socket (nothing is removed then).",
        )],
        _ => &[],
    };
    out.push(exit_status(Exit::vipctl_meaning, details));
    match sub {
        "" => {
            out.push(files_section(&[]));
            out.push(ManSection::text(
                "SEE ALSO",
                "vipd(8), vipd.yaml(5), and the page of each subcommand, e.g. vipctl-check(8).",
            ));
        }
        "check" | "import-keepalived" => out.push(ManSection::text(
            "SEE ALSO",
            "vipd.yaml(5), vipd(8), vipctl(8).",
        )),
        _ => out.push(ManSection::text(
            "SEE ALSO",
            "vipctl(8), vipd(8), vipd.yaml(5).",
        )),
    }
    out
}

/// A section of a man page: its title (`SIGNALS`) and roff body.
#[derive(Debug, Clone)]
pub struct ManSection {
    pub title: &'static str,
    pub body: String,
}

impl ManSection {
    /// A section of plain paragraphs (blank-line separated), escaped.
    pub fn text(title: &'static str, text: &str) -> ManSection {
        ManSection {
            title,
            body: paragraphs(text),
        }
    }

    /// A section of tagged paragraphs: (tag, text) each.
    pub fn list(title: &'static str, intro: &str, items: &[(&str, &str)]) -> ManSection {
        let mut body = paragraphs(intro);
        for (tag, text) in items {
            body.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", escape(tag), escape(text)));
        }
        ManSection { title, body }
    }
}

/// The page with `sections` inserted before VERSION (clap_mangen's last
/// section but AUTHORS), or at the end.
fn with_sections(page: &str, sections: &[ManSection]) -> String {
    if sections.is_empty() {
        return page.to_string();
    }
    let mut extra = String::new();
    for s in sections {
        extra.push_str(&format!(".SH {}\n{}", s.title, s.body));
        if !extra.ends_with('\n') {
            extra.push('\n');
        }
    }
    match page.find("\n.SH VERSION") {
        Some(i) => format!("{}\n{}{}", &page[..i], extra, &page[i + 1..]),
        None => format!("{page}{extra}"),
    }
}

/// Text for roff: a backslash is written `\e`, a hyphen `\-` (so it is
/// neither hyphenated nor turned into a dash, and searches find options),
/// and a line starting with `.` or `'` is protected with `\&` (it would be
/// read as a request).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.starts_with('.') || line.starts_with('\'') {
            out.push_str("\\&");
        }
        for c in line.chars() {
            match c {
                '\\' => out.push_str("\\e"),
                '-' => out.push_str("\\-"),
                c => out.push(c),
            }
        }
    }
    out
}

/// Paragraphs separated by blank lines, as `.PP` paragraphs; each line
/// joined to the next (roff fills them).
fn paragraphs(text: &str) -> String {
    let mut out = String::new();
    for p in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        out.push_str(".PP\n");
        out.push_str(&escape(&p.split_whitespace().collect::<Vec<_>>().join(" ")));
        out.push('\n');
    }
    out
}

/// Text shown as is (`.nf`, no filling), escaped.
fn verbatim(text: &str) -> String {
    format!(".PP\n.nf\n{}\n.fi\n", escape(text.trim_end()))
}

/// vipd.yaml(5): the reference table of the configuration
/// ([`crate::config::reference`]), rendered.
pub fn config_page() -> String {
    use crate::config::reference::{DURATIONS, EXAMPLE, KeyDefault, SECTIONS};
    use crate::config::{MAX_CONFIG_BYTES, MAX_NESTING};
    let mut out = format!(
        ".TH VIPD.YAML 5 \"\" \"vipd {}\" \"File Formats Manual\"\n",
        env!("CARGO_PKG_VERSION")
    );
    out.push_str(".SH NAME\nvipd.yaml \\- configuration file of vipd, the VRRP daemon\n");
    out.push_str(&format!(".SH SYNOPSIS\n{}\n", escape(DEFAULT_CONFIG_PATH)));
    out.push_str(".SH DESCRIPTION\n");
    out.push_str(&paragraphs(&format!(
        "vipd(8) reads this YAML file at start and again on reload (SIGHUP, vipctl reload); \
         a file that does not load is not applied: a reload keeps the running configuration. \
         vipctl check reports every error of a file at once, each as FILE:LINE:COLUMN: what is \
         wrong and what to do, at the value concerned.\n\n\
         Unknown keys are errors everywhere (with the nearest valid key suggested). The file is \
         a regular file of at most {MAX_CONFIG_BYTES} bytes, nested at most {MAX_NESTING} levels.\n\n\
         {DURATIONS}\n\n\
         Each key below gives the value it takes, its default when left out (or that it is \
         required), what it does and the rules it must follow."
    )));
    out.push_str(".SH KEYS\n");
    for section in SECTIONS {
        out.push_str(&format!(".SS {}\n", escape(section.path)));
        out.push_str(&paragraphs(section.about));
        for key in section.keys {
            let default = match key.default {
                KeyDefault::Required => "Required.".to_string(),
                KeyDefault::Value(v) => format!("Default: {v}."),
                KeyDefault::Unset(what) => format!("Default: unset ({what})."),
            };
            out.push_str(&format!(
                ".TP\n\\fB{}\\fR (\\fI{}\\fR)\n{}\n.br\n{}\n",
                escape(key.name),
                escape(key.value),
                escape(key.rules),
                escape(&default)
            ));
        }
    }
    out.push_str(".SH EXAMPLE\n");
    out.push_str(&verbatim(EXAMPLE));
    out.push_str(".SH FILES\n");
    out.push_str(&format!(
        ".TP\n{}\nThe configuration vipd reads unless given \\-\\-config.\n",
        escape(DEFAULT_CONFIG_PATH)
    ));
    out.push_str(
        ".TP\n/usr/share/doc/vipd/examples/vipd.yaml\nAn annotated example (Debian package).\n",
    );
    out.push_str(".SH SEE ALSO\nvipd(8), vipctl(8), vipctl\\-check(8), vipctl\\-import\\-keepalived(8), keepalived.conf(5)\n");
    out
}

/// Temp file beside the target, then rename: a reader (or a packaging run
/// that failed half-way) never sees a truncated page.
fn write_whole(path: &Path, content: &[u8]) -> io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, content).map_err(|e| with_path(e, &tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        with_path(e, path)
    })
}

fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| with_path(e, dir))
}

/// io::Error does not name the file; the operator needs it.
fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}
