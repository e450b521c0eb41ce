//! Man pages and shell completions, generated from the binaries' own clap
//! definitions (`vipd --generate-assets DIR`, `vipctl generate-assets --out
//! DIR`, both hidden) so they cannot drift from `--help`. The Debian package
//! build (.ci/build-deb) runs both into target/assets/.
//!
//! Layout under DIR:
//! - `man/NAME.8` and one `man/NAME-SUBCOMMAND.8` per visible subcommand
//!   (section 8: system administration);
//! - `completions/bash/NAME`, `completions/zsh/_NAME`,
//!   `completions/fish/NAME.fish` (the file names each shell looks up).

use std::io;
use std::path::{Path, PathBuf};

use clap::Command;
use clap_complete::Shell;

/// [`generate`] for a binary's hidden packaging option: errors are
/// reported on stderr and become the exit code.
pub fn generate_or_report(cmd: Command, out: &Path) -> std::process::ExitCode {
    let name = cmd.get_name().to_string();
    match generate(cmd, out) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: cannot write man pages and completions: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Writes the man pages and completions of `cmd` under `out`; returns the
/// files written. Each file is written whole or not at all.
pub fn generate(cmd: Command, out: &Path) -> io::Result<Vec<PathBuf>> {
    let name = cmd.get_name().to_string();
    let mut cmd = without_hidden(&cmd).disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();

    let man_dir = out.join("man");
    create_dir(&man_dir)?;
    man_pages(&cmd, &man_dir, &mut written)?;

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
fn man_pages(cmd: &Command, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("System Manager's Manual")
        .source(concat!("vipd ", env!("CARGO_PKG_VERSION")));
    let mut buf = Vec::new();
    man.render(&mut buf)
        .map_err(|e| with_path(e, &dir.join(man.get_filename())))?;
    let path = dir.join(man.get_filename());
    write_whole(&path, &buf)?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, dir, written)?;
    }
    Ok(())
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
