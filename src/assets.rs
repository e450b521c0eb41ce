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
        &(pages.sections)(cmd.get_name()),
    );
    let path = dir.join(man.get_filename());
    write_whole(&path, page.as_bytes())?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, pages, dir, written)?;
    }
    Ok(())
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
    sections: |_| Vec::new(),
    others: || vec![("vipd.yaml.5".to_string(), config_page())],
};

/// vipctl's pages: vipctl(8) and one per subcommand.
pub const VIPCTL_PAGES: Pages = Pages {
    sections: |_| Vec::new(),
    others: Vec::new,
};

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
    use crate::config::{DEFAULT_CONFIG_PATH, MAX_CONFIG_BYTES, MAX_NESTING};
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
