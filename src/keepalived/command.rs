//! keepalived's commands (`vrrp_script`'s `script`, the `notify` scripts):
//! split into words as keepalived splits them, and the shell idioms vipd
//! has a built-in tracker for.
//!
//! keepalived 2 executes a command's words directly (after a PATH search
//! for a bare name), except a line starting with `</`, which it gives to
//! `/bin/sh`; keepalived 1 gave every line to `/bin/sh`. vipd executes an
//! argv of an absolute program, or a shell line when asked to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config::{Command, unit_name};

/// Characters that mean something to a shell outside quotes.
const SHELL_SYNTAX: &[char] = &[
    '|', '&', ';', '<', '>', '(', ')', '$', '`', '*', '?', '[', ']', '{', '}', '~', '\n',
];

/// A command line split into words (quotes group, a backslash escapes),
/// and whether it uses shell syntax outside quotes (or `$`/`` ` `` inside
/// double quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Words {
    pub words: Vec<String>,
    pub shell: bool,
}

pub(super) fn split(line: &str) -> Words {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut started = false;
    let mut shell = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                started = true;
                shell |= !quoted_until(&mut chars, '\'', &mut cur, &mut shell);
            }
            '"' => {
                started = true;
                shell |= !quoted_until(&mut chars, '"', &mut cur, &mut shell);
            }
            '\\' => {
                started = true;
                cur.extend(chars.next());
            }
            c if c.is_whitespace() && c != '\n' => {
                if started {
                    words.push(std::mem::take(&mut cur));
                    started = false;
                }
            }
            c => {
                shell |= SHELL_SYNTAX.contains(&c);
                started = true;
                cur.push(c);
            }
        }
    }
    if started {
        words.push(cur);
    }
    Words { words, shell }
}

/// The rest of a quoted part into `cur`; false when the quote is never
/// closed. Inside double quotes a backslash escapes and `$`/`` ` `` expand.
fn quoted_until(
    chars: &mut std::str::Chars<'_>,
    end: char,
    cur: &mut String,
    shell: &mut bool,
) -> bool {
    while let Some(d) = chars.next() {
        match d {
            d if d == end => return true,
            '\\' if end == '"' => cur.extend(chars.next()),
            '$' | '`' if end == '"' => {
                *shell = true;
                cur.push(d);
            }
            d => cur.push(d),
        }
    }
    false
}

/// What a `vrrp_script` line becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Check {
    /// `killall -0 NAME`, `pidof NAME`, `pgrep [-x] NAME`. `pattern`:
    /// pgrep without -x, which matched NAME anywhere in the name.
    Process {
        name: String,
        pattern: bool,
    },
    /// `</dev/tcp/HOST/PORT` (bare, or in `bash -c`/`sh -c`, or `exec
    /// N<>/dev/tcp/...`). `by_sh`: run by /bin/sh, which is not bash
    /// everywhere; `localhost`: the host was written `localhost`.
    Tcp {
        addr: SocketAddr,
        by_sh: bool,
        localhost: bool,
    },
    /// `systemctl is-active [--quiet] UNIT`.
    Unit(String),
    Exec(Command, How),
}

/// How an exec tracker or a notify command runs the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum How {
    /// An argv: an absolute program and its arguments.
    Argv,
    /// A shell line: it uses shell syntax.
    Shell,
    /// A shell line: its program is a bare name, which keepalived looked up
    /// in PATH (vipd does not).
    Path,
}

/// The tracker a `script` line becomes: a built-in one for the idioms, an
/// exec tracker otherwise. `None` for an empty line.
pub(super) fn check(line: &str) -> Option<Check> {
    let w = split(line);
    if w.words.is_empty() {
        return None;
    }
    // keepalived gives a line starting with `</` to /bin/sh (keepalived 1
    // gave it every line).
    let start = line.trim_start();
    if (start.starts_with('<') || start.starts_with("exec "))
        && let Some((addr, localhost)) = dev_tcp(line)
    {
        return Some(Check::Tcp {
            addr,
            by_sh: true,
            localhost,
        });
    }
    if !w.shell
        && let Some(c) = idiom(&w.words)
    {
        return Some(c);
    }
    let (command, how) = command(line, w);
    Some(Check::Exec(command, how))
}

/// A command vipd runs as keepalived ran it: the argv of an absolute
/// program, else the line for the shell.
fn command(line: &str, w: Words) -> (Command, How) {
    if w.shell {
        (Command::shell(line.trim()), How::Shell)
    } else if !w.words[0].starts_with('/') {
        (Command::shell(line.trim()), How::Path)
    } else {
        (Command::argv(w.words), How::Argv)
    }
}

/// A notify command: always an argv in vipd, `/bin/sh -c LINE` for a shell
/// line. `None` for an empty line.
pub(super) fn notify(line: &str) -> Option<(Command, How)> {
    let w = split(line);
    if w.words.is_empty() {
        return None;
    }
    let (c, how) = command(line, w);
    Some((Command::argv(c.argv), how))
}

/// `PROGRAM`, `/bin/PROGRAM`, `/usr/bin/PROGRAM`, `/sbin/...`, `/usr/sbin/...`.
fn is_program(word: &str, program: &str) -> bool {
    let dir = word.strip_suffix(program);
    matches!(
        dir,
        Some("" | "/bin/" | "/usr/bin/" | "/sbin/" | "/usr/sbin/")
    )
}

/// A process name as pidof and killall take it.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-+@:".contains(c))
}

fn idiom(words: &[String]) -> Option<Check> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let process = |name: &str, pattern: bool| {
        plain_name(name).then(|| Check::Process {
            name: name.to_string(),
            pattern,
        })
    };
    match w.as_slice() {
        [k, "-0", name] if is_program(k, "killall") => process(name, false),
        [p, name] if is_program(p, "pidof") => process(name, false),
        [g, "-x", name] if is_program(g, "pgrep") => process(name, false),
        [g, name] if is_program(g, "pgrep") => process(name, true),
        [s, "is-active", unit] | [s, "is-active", "--quiet" | "-q", unit]
            if is_program(s, "systemctl") =>
        {
            unit_of(unit).map(Check::Unit)
        }
        [sh, "-c", inner] if is_program(sh, "bash") || is_program(sh, "sh") => {
            let (addr, localhost) = dev_tcp(inner)?;
            Some(Check::Tcp {
                addr,
                by_sh: is_program(sh, "sh"),
                localhost,
            })
        }
        _ => None,
    }
}

/// systemctl adds `.service` to a name without a type.
fn unit_of(u: &str) -> Option<String> {
    if u.starts_with('-') {
        return None;
    }
    unit_name(u)
        .or_else(|_| {
            if u.contains('.') {
                Err(String::new())
            } else {
                unit_name(&format!("{u}.service"))
            }
        })
        .ok()
}

/// `</dev/tcp/HOST/PORT` or `exec N<>/dev/tcp/HOST/PORT` (`exec N<...`),
/// optionally followed by closing the descriptor (`; exec N>&-`): the
/// address, and whether the host was `localhost`.
fn dev_tcp(line: &str) -> Option<(SocketAddr, bool)> {
    let s = line.trim();
    let rest = if let Some(r) = s.strip_prefix('<') {
        r.trim_start()
    } else {
        let r = s.strip_prefix("exec")?.trim_start();
        let r = r.trim_start_matches(|c: char| c.is_ascii_digit());
        r.strip_prefix("<>").or_else(|| r.strip_prefix('<'))?
    };
    let target = rest.strip_prefix("/dev/tcp/")?;
    let end = target
        .find(|c: char| c.is_whitespace() || c == ';' || c == '&')
        .unwrap_or(target.len());
    let (hp, tail) = target.split_at(end);
    if !closes_only(tail) {
        return None;
    }
    let (host, port) = hp.rsplit_once('/')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let (ip, localhost) = match host {
        "localhost" => (IpAddr::V4(Ipv4Addr::LOCALHOST), true),
        h => (h.parse().ok()?, false),
    };
    Some((SocketAddr::new(ip, port), localhost))
}

/// What may follow the redirection: nothing, or `; exec N>&-` / `&& exec
/// N<&-` (closing the descriptor again), any number of times.
fn closes_only(tail: &str) -> bool {
    let mut t = tail.trim();
    while !t.is_empty() {
        let Some(r) = t.strip_prefix(';').or_else(|| t.strip_prefix("&&")) else {
            return false;
        };
        let r = r.trim_start();
        if r.is_empty() {
            return true;
        }
        let Some(r) = r.strip_prefix("exec") else {
            return false;
        };
        let r = r
            .trim_start()
            .trim_start_matches(|c: char| c.is_ascii_digit());
        let Some(r) = r.strip_prefix(">&-").or_else(|| r.strip_prefix("<&-")) else {
            return false;
        };
        t = r.trim();
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_as(line: &str, words: &[&str], shell: bool) {
        let w = split(line);
        assert_eq!(
            (w.words, w.shell),
            (words.iter().map(|s| s.to_string()).collect(), shell),
            "{line}"
        );
    }

    fn shell(line: &str) -> bool {
        split(line).shell
    }

    #[test]
    fn splits_as_keepalived_does() {
        split_as("/bin/check  a\tb", &["/bin/check", "a", "b"], false);
        split_as(
            "bash -c '</dev/tcp/127.0.0.1/80'",
            &["bash", "-c", "</dev/tcp/127.0.0.1/80"],
            false,
        );
        split_as("/bin/x \"a b\" c\\ d", &["/bin/x", "a b", "c d"], false);
        split_as("   ", &[], false);
        assert!(shell("/bin/x \"$HOME\""));
        assert!(!shell("/bin/x '$HOME'"));
        assert!(shell("/bin/a && /bin/b"));
        assert!(shell("pidof haproxy || exit 1"));
        assert!(shell("/bin/x 'unclosed"));
    }

    #[test]
    fn idioms_become_built_in_trackers() {
        let process = |name: &str, pattern| Check::Process {
            name: name.into(),
            pattern,
        };
        let tcp = |a: &str, by_sh, localhost| Check::Tcp {
            addr: a.parse().unwrap(),
            by_sh,
            localhost,
        };
        let unit = |u: &str| Check::Unit(u.into());
        for (line, want) in [
            ("killall -0 haproxy", process("haproxy", false)),
            ("/usr/bin/killall -0 haproxy", process("haproxy", false)),
            ("pidof nginx", process("nginx", false)),
            ("/bin/pidof nginx", process("nginx", false)),
            ("pgrep -x keepalived", process("keepalived", false)),
            ("pgrep haproxy", process("haproxy", true)),
            (
                "systemctl is-active --quiet haproxy",
                unit("haproxy.service"),
            ),
            (
                "/bin/systemctl is-active nginx.service",
                unit("nginx.service"),
            ),
            ("</dev/tcp/127.0.0.1/80", tcp("127.0.0.1:80", true, false)),
            ("< /dev/tcp/10.0.0.1/443", tcp("10.0.0.1:443", true, false)),
            (
                "bash -c '</dev/tcp/127.0.0.1/6443'",
                tcp("127.0.0.1:6443", false, false),
            ),
            (
                "/bin/sh -c \"</dev/tcp/localhost/80\"",
                tcp("127.0.0.1:80", true, true),
            ),
            (
                "bash -c 'exec 3<>/dev/tcp/::1/8080; exec 3>&-'",
                tcp("[::1]:8080", false, false),
            ),
            (
                "exec 3<>/dev/tcp/127.0.0.1/80",
                tcp("127.0.0.1:80", true, false),
            ),
        ] {
            assert_eq!(check(line), Some(want), "{line}");
        }
    }

    #[test]
    fn everything_else_is_an_exec_tracker() {
        let exec = |line: &str| match check(line) {
            Some(Check::Exec(c, how)) => (c, how),
            other => panic!("{line}: {other:?}"),
        };
        let (c, how) = exec("/etc/keepalived/check.sh --fast");
        assert_eq!(how, How::Argv);
        assert_eq!(
            c,
            Command::argv(vec!["/etc/keepalived/check.sh".into(), "--fast".into()])
        );
        let (c, how) = exec("/usr/bin/curl -sf http://127.0.0.1/ || exit 1");
        assert_eq!(how, How::Shell);
        assert_eq!(
            c,
            Command::shell("/usr/bin/curl -sf http://127.0.0.1/ || exit 1")
        );
        let (_, how) = exec("check_web.sh");
        assert_eq!(how, How::Path);
        // Not quite an idiom: kept as written.
        for line in [
            "killall -0 haproxy nginx",
            "pidof -x myscript",
            "pgrep -f 'haproxy -f'",
            "systemctl is-active a b",
            "bash -c '</dev/tcp/db.example/5432'",
            "bash -c '</dev/tcp/127.0.0.1/80 && echo ok'",
            "</dev/udp/127.0.0.1/53",
        ] {
            exec(line);
        }
        assert_eq!(check(" "), None);
    }

    #[test]
    fn notify_commands_are_argvs() {
        assert_eq!(
            notify("/etc/keepalived/master-backup.sh MASTER"),
            Some((
                Command::argv(vec![
                    "/etc/keepalived/master-backup.sh".into(),
                    "MASTER".into()
                ]),
                How::Argv
            ))
        );
        let (c, how) = notify("/bin/logger -t ka $STATE").unwrap();
        assert_eq!(how, How::Shell);
        assert_eq!(c.argv, ["/bin/sh", "-c", "/bin/logger -t ka $STATE"]);
        assert_eq!(c.shell_line, None, "an argv that reads back the same");
        let (c, how) = notify("notify.sh").unwrap();
        assert_eq!((c.argv.len(), how), (3, How::Path));
    }
}
