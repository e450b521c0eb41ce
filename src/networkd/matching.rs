//! Which .network file networkd uses for an interface.
//!
//! On a running system networkd says it itself: its per-link state file
//! `/run/systemd/netif/links/<ifindex>` has `NETWORK_FILE=<path>` (the file
//! is marked "private data", so it is read only as a first choice, with a
//! fallback). Elsewhere (networkd not running, a `--root` copy, tests) the
//! matching is emulated the way systemd.network(5) describes it: all
//! `*.network` files of the search path, a name in an earlier directory
//! masking the same name in later ones, sorted by file name, first match
//! wins. Only `Name=`, `MACAddress=` and `PermanentMACAddress=` are
//! evaluated; a file whose outcome depends on any other `[Match]` key
//! (`Driver=`, `Type=`, `OriginalName=`, `Host=`...) is skipped with a note
//! rather than guessed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::apply::reroot;
use super::{ETC_NETWORK_DIR, NETWORK_DIRS, is_vipd_content};

/// What is known about a link on the live system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkInfo {
    pub ifindex: Option<u32>,
    pub mac: Option<[u8; 6]>,
}

/// The outcome of [`find_network_file`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkMatch {
    /// The .network file networkd uses, absolute on the target system;
    /// `None` when no file matches (networkd does not manage the link).
    pub path: Option<PathBuf>,
    /// True when networkd's own state file said so (exact); false when the
    /// matching was emulated from the files.
    pub from_state_file: bool,
    /// What the operator should know (files that could not be judged).
    pub notes: Vec<String>,
}

/// The .network file networkd matched for `ifname`: see [`find_network_file`].
pub fn matched_network_file(
    root: &Path,
    ifname: &str,
    ifindex: Option<u32>,
    mac: Option<[u8; 6]>,
) -> Option<PathBuf> {
    find_network_file(root, ifname, ifindex, mac).path
}

/// Finds the .network file for `ifname` under `root`: networkd's state file
/// `root/run/systemd/netif/links/<ifindex>` when `ifindex` is given and the
/// file names one, else emulated matching. `mac` is the link's MAC address,
/// compared with both `MACAddress=` and `PermanentMACAddress=` (sysfs does
/// not give the permanent one; they differ only when the MAC was changed).
pub fn find_network_file(
    root: &Path,
    ifname: &str,
    ifindex: Option<u32>,
    mac: Option<[u8; 6]>,
) -> NetworkMatch {
    let mut notes = Vec::new();
    if let Some(idx) = ifindex {
        let state = reroot(root, Path::new("/run/systemd/netif/links"))
            .expect("constant path")
            .join(idx.to_string());
        if let Ok(text) = std::fs::read_to_string(&state) {
            let mut admin = None;
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("NETWORK_FILE=") {
                    if !v.is_empty() {
                        return NetworkMatch {
                            path: Some(PathBuf::from(v)),
                            from_state_file: true,
                            notes,
                        };
                    }
                } else if let Some(v) = line.strip_prefix("ADMIN_STATE=") {
                    admin = Some(v.to_string());
                }
            }
            if admin.as_deref() == Some("unmanaged") {
                return NetworkMatch {
                    path: None,
                    from_state_file: true,
                    notes,
                };
            }
            notes.push(format!(
                "{ifname}: networkd has not picked a .network file for it yet (ADMIN_STATE={}): its files were matched the way networkd does",
                admin.as_deref().unwrap_or("?")
            ));
        }
    }
    let files = load_network_files(root);
    let facts = Facts {
        name: ifname,
        mac,
        perm_mac: mac.map(Some),
    };
    let e = emulate(&files, &facts);
    for (path, keys) in &e.undecided {
        notes.push(format!(
            "{}: its [Match] {} cannot be evaluated offline; assumed it does not match {ifname} (on the live system, with networkd running, vipctl reads networkd's own choice instead)",
            path.display(),
            keys.join(", ")
        ));
    }
    NetworkMatch {
        path: e.winner,
        from_state_file: false,
        notes,
    }
}

/// Reads `sys/class/net/<ifname>/{ifindex,address}` (`sys` is normally `/sys`).
pub fn link_info_from_sysfs(sys: &Path, ifname: &str) -> LinkInfo {
    let dir = sys.join("class/net").join(ifname);
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
    LinkInfo {
        ifindex: read("ifindex").and_then(|s| s.trim().parse().ok()),
        mac: read("address").and_then(|s| parse_mac(s.trim())),
    }
}

/// Parses a 6-byte MAC in colon, hyphen or dot (`1234.5678.9abc`) notation.
pub(super) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let parts: Vec<&str> = if s.contains(':') {
        s.split(':').collect()
    } else if s.contains('-') {
        s.split('-').collect()
    } else if s.contains('.') {
        let groups: Vec<&str> = s.split('.').collect();
        if groups.len() != 3 || groups.iter().any(|g| g.len() != 4) {
            return None;
        }
        let mut v = Vec::new();
        for g in groups {
            v.push(&g[..2]);
            v.push(&g[2..]);
        }
        v
    } else {
        return None;
    };
    if parts.len() != 6 {
        return None;
    }
    for (o, p) in out.iter_mut().zip(parts) {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

/// `(section, key, value)` of an ini-style systemd file, in order. Comments
/// (`#`, `;`) and blank lines are skipped; a trailing backslash continues
/// the line (replaced by a space, as systemd does).
pub(super) fn entries(text: &str) -> Vec<(String, String, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending: Option<String> = None;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(mut acc) = pending.take() {
            if line.starts_with('#') || line.starts_with(';') {
                pending = Some(acc);
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                acc.push(' ');
                acc.push_str(cont);
                pending = Some(acc);
                continue;
            }
            acc.push(' ');
            acc.push_str(line);
            push_entry(&mut out, &section, &acc);
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].trim().to_string();
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending = Some(cont.to_string());
            continue;
        }
        push_entry(&mut out, &section, line);
    }
    if let Some(acc) = pending {
        push_entry(&mut out, &section, &acc);
    }
    out
}

fn push_entry(out: &mut Vec<(String, String, String)>, section: &str, line: &str) {
    if let Some((k, v)) = line.split_once('=') {
        out.push((
            section.to_string(),
            k.trim().to_string(),
            v.trim().to_string(),
        ));
    }
}

/// One .network file as networkd would load it.
#[derive(Debug, Clone)]
pub(super) struct NetFile {
    pub name: String,
    /// Absolute path on the target system.
    pub path: PathBuf,
    pub text: String,
    /// Its drop-ins, in the order networkd parses them.
    pub dropins: Vec<(PathBuf, String)>,
}

/// Reads a config file under `root`: `Some(None)` when it masks its name
/// (empty, or a symlink to /dev/null), `None` when it is not a readable file.
fn read_config(root: &Path, real: &Path) -> Option<Option<String>> {
    let meta = std::fs::symlink_metadata(real).ok()?;
    let target = if meta.file_type().is_symlink() {
        let link = std::fs::read_link(real).ok()?;
        if link == Path::new("/dev/null") {
            return Some(None);
        }
        if link.is_absolute() {
            reroot(root, &link).ok()?
        } else {
            real.parent()?.join(link)
        }
    } else {
        real.to_path_buf()
    };
    let meta = std::fs::metadata(&target).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.len() == 0 {
        return Some(None);
    }
    let bytes = std::fs::read(&target).ok()?;
    Some(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Names of the files in `dir` with `suffix`, skipping hidden ones (as
/// systemd's conf-files does).
fn names_with_suffix(dir: &Path, suffix: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix) && n.len() > suffix.len() && !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The drop-ins of the file named `name` (`<name>.d/*.conf` in every search
/// directory; the same drop-in name in an earlier directory masks later ones).
pub(super) fn collect_dropins(root: &Path, name: &str) -> Vec<(PathBuf, String)> {
    let mut seen: BTreeMap<String, Option<(PathBuf, String)>> = BTreeMap::new();
    for dir in NETWORK_DIRS {
        let target_dir = Path::new(dir).join(format!("{name}.d"));
        let Ok(real_dir) = reroot(root, &target_dir) else {
            continue;
        };
        for n in names_with_suffix(&real_dir, ".conf") {
            if seen.contains_key(&n) {
                continue;
            }
            match read_config(root, &real_dir.join(&n)) {
                Some(Some(text)) => {
                    seen.insert(n.clone(), Some((target_dir.join(&n), text)));
                }
                Some(None) => {
                    seen.insert(n, None);
                }
                None => {}
            }
        }
    }
    seen.into_values().flatten().collect()
}

/// Every .network file networkd would consider, sorted by name, masked names
/// left out.
pub(super) fn load_network_files(root: &Path) -> Vec<NetFile> {
    let mut seen: BTreeMap<String, Option<NetFile>> = BTreeMap::new();
    for dir in NETWORK_DIRS {
        let Ok(real_dir) = reroot(root, Path::new(dir)) else {
            continue;
        };
        for n in names_with_suffix(&real_dir, ".network") {
            if seen.contains_key(&n) {
                continue;
            }
            match read_config(root, &real_dir.join(&n)) {
                Some(Some(text)) => {
                    let f = NetFile {
                        name: n.clone(),
                        path: Path::new(dir).join(&n),
                        text,
                        dropins: collect_dropins(root, &n),
                    };
                    seen.insert(n, Some(f));
                }
                Some(None) => {
                    seen.insert(n, None);
                }
                None => {}
            }
        }
    }
    seen.into_values().flatten().collect()
}

/// What matching can use about a link.
pub(super) struct Facts<'a> {
    pub name: &'a str,
    /// Current MAC; `None` = unknown.
    pub mac: Option<[u8; 6]>,
    /// Permanent MAC: `None` = unknown, `Some(None)` = the link has none
    /// (virtual devices).
    pub perm_mac: Option<Option<[u8; 6]>>,
}

/// The [Match] conditions of a file with its drop-ins.
#[derive(Default)]
struct Spec {
    /// Globs; a leading '!' negates that one.
    names: Vec<String>,
    macs: Vec<Option<[u8; 6]>>,
    perm_macs: Vec<Option<[u8; 6]>>,
    /// Other keys with a non-empty value (conditions vipctl cannot judge).
    others: BTreeMap<String, bool>,
}

fn spec_of(f: &NetFile) -> Spec {
    let mut s = Spec::default();
    let texts = std::iter::once(f.text.as_str()).chain(f.dropins.iter().map(|(_, t)| t.as_str()));
    for text in texts {
        for (sec, key, value) in entries(text) {
            if sec != "Match" {
                continue;
            }
            match key.as_str() {
                "Name" => {
                    if value.is_empty() {
                        s.names.clear();
                        continue;
                    }
                    let (invert, rest) = match value.strip_prefix('!') {
                        Some(r) => (true, r),
                        None => (false, value.as_str()),
                    };
                    for w in rest.split_whitespace() {
                        let w = w.trim_matches('"');
                        s.names.push(if invert {
                            format!("!{w}")
                        } else {
                            w.to_string()
                        });
                    }
                }
                "MACAddress" | "PermanentMACAddress" => {
                    let list = if key == "MACAddress" {
                        &mut s.macs
                    } else {
                        &mut s.perm_macs
                    };
                    if value.is_empty() {
                        list.clear();
                        continue;
                    }
                    list.extend(value.split_whitespace().map(parse_mac));
                }
                _ => {
                    s.others.insert(key, !value.is_empty());
                }
            }
        }
    }
    s
}

/// fnmatch(3) without flags, as networkd uses it.
fn glob_match(pattern: &str, name: &str) -> bool {
    let mut p = pattern.to_string();
    while p.contains("**") {
        p = p.replace("**", "*");
    }
    match glob::Pattern::new(&p) {
        Ok(pat) => pat.matches(name),
        Err(_) => pattern == name,
    }
}

/// systemd's net_condition_test_strv(): a negated pattern that matches
/// fails; else at least one positive pattern must match, if there is one.
fn names_match(patterns: &[String], name: &str) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let mut positive = false;
    let mut matched = false;
    for p in patterns {
        match p.strip_prefix('!') {
            Some(neg) => {
                if glob_match(neg, name) {
                    return false;
                }
            }
            None => {
                positive = true;
                if glob_match(p, name) {
                    matched = true;
                }
            }
        }
    }
    !positive || matched
}

enum Verdict {
    Match,
    NoMatch,
    /// The [Match] keys it depends on that cannot be judged.
    Undecided(Vec<String>),
}

fn judge(spec: &Spec, facts: &Facts) -> Verdict {
    let mut unknown: Vec<String> = spec
        .others
        .iter()
        .filter(|(_, set)| **set)
        .map(|(k, _)| format!("{k}="))
        .collect();
    if !names_match(&spec.names, facts.name) {
        return Verdict::NoMatch;
    }
    if !spec.macs.is_empty() {
        match facts.mac {
            Some(m) => {
                if !spec.macs.contains(&Some(m)) {
                    return Verdict::NoMatch;
                }
            }
            None => unknown.push("MACAddress= (the MAC is not known)".into()),
        }
    }
    if !spec.perm_macs.is_empty() {
        match facts.perm_mac {
            Some(Some(m)) => {
                if !spec.perm_macs.contains(&Some(m)) {
                    return Verdict::NoMatch;
                }
            }
            Some(None) => return Verdict::NoMatch,
            None => unknown.push("PermanentMACAddress= (the MAC is not known)".into()),
        }
    }
    if unknown.is_empty() {
        Verdict::Match
    } else {
        Verdict::Undecided(unknown)
    }
}

pub(super) struct Emulated {
    pub winner: Option<PathBuf>,
    /// Files before the winner that could not be judged (path, keys).
    pub undecided: Vec<(PathBuf, Vec<String>)>,
}

/// First match in `files` (already sorted by name), skipping undecidable ones.
pub(super) fn emulate(files: &[NetFile], facts: &Facts) -> Emulated {
    let mut undecided = Vec::new();
    for f in files {
        match judge(&spec_of(f), facts) {
            Verdict::Match => {
                return Emulated {
                    winner: Some(f.path.clone()),
                    undecided,
                };
            }
            Verdict::NoMatch => {}
            Verdict::Undecided(keys) => undecided.push((f.path.clone(), keys)),
        }
    }
    Emulated {
        winner: None,
        undecided,
    }
}

/// The main file `matched` (target path) read under `root`, with its
/// drop-ins; `None` when the main file cannot be read there.
fn load_one(root: &Path, matched: &Path) -> Option<NetFile> {
    let name = matched.file_name()?.to_str()?.to_string();
    let real = reroot(root, matched).ok()?;
    let text = read_config(root, &real).flatten()?;
    Some(NetFile {
        dropins: collect_dropins(root, &name),
        name,
        path: matched.to_path_buf(),
        text,
    })
}

/// The `KeepConfiguration=` that `matched` (with its drop-ins other than
/// vipd's) sets, if any: the last assignment wins.
pub(super) fn existing_keep_configuration(root: &Path, matched: &Path) -> Option<String> {
    let f = load_one(root, matched)?;
    let texts = std::iter::once(f.text.as_str()).chain(
        f.dropins
            .iter()
            .filter(|(_, t)| !is_vipd_content(t.as_bytes()))
            .map(|(_, t)| t.as_str()),
    );
    let mut value = None;
    for text in texts {
        for (sec, key, v) in entries(text) {
            if sec == "Network" && key == "KeepConfiguration" {
                value = Some(v);
            }
        }
    }
    value
}

/// When `matched` may match more than one interface (its `Name=` has a
/// pattern or a negation, or nothing narrows it), says how.
pub(super) fn name_is_pattern(root: &Path, matched: &Path) -> Option<String> {
    let f = load_one(root, matched)?;
    let spec = spec_of(&f);
    let narrowed_by_mac = !spec.macs.is_empty() || !spec.perm_macs.is_empty();
    if spec.names.is_empty() {
        return (!narrowed_by_mac && spec.others.values().all(|set| !set))
            .then(|| "an empty [Match] section (every interface)".to_string());
    }
    let pattern = spec.names.len() > 1
        || spec
            .names
            .iter()
            .any(|n| n.starts_with('!') || n.contains(['*', '?', '[']));
    (pattern && !narrowed_by_mac).then(|| format!("the pattern Name={}", spec.names.join(" ")))
}

/// Checks that networkd would configure VIP device `dev` with vipd's own
/// .network (`ours`), given the files under `root` plus the planned
/// `writes`; returns notes when another file comes first.
pub(super) fn check_device_match(
    root: &Path,
    writes: &BTreeMap<PathBuf, String>,
    dev: &str,
    mac: Option<[u8; 6]>,
    ours: &Path,
) -> Vec<String> {
    let mut by_name: BTreeMap<String, NetFile> = load_network_files(root)
        .into_iter()
        .map(|f| (f.name.clone(), f))
        .collect();
    let etc = Path::new(ETC_NETWORK_DIR);
    for (path, content) in writes {
        if path.parent() != Some(etc) {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".network") {
            continue;
        }
        by_name.insert(
            name.to_string(),
            NetFile {
                name: name.to_string(),
                path: path.clone(),
                text: content.clone(),
                dropins: collect_dropins(root, name),
            },
        );
    }
    let files: Vec<NetFile> = by_name.into_values().collect();
    let facts = Facts {
        name: dev,
        mac,
        perm_mac: Some(None),
    };
    let e = emulate(&files, &facts);
    let mut notes = Vec::new();
    let ours_name = ours.file_name().and_then(|n| n.to_str()).unwrap_or("");
    for (path, keys) in &e.undecided {
        notes.push(format!(
            "{}: comes before {ours_name} and may match {dev} (its [Match] {} cannot be evaluated here); after installing, check that networkctl status {dev} shows {}",
            path.display(),
            keys.join(", "),
            ours.display()
        ));
    }
    match &e.winner {
        Some(w) if w == ours => {}
        Some(w) => notes.push(format!(
            "{}: comes before {ours_name} in networkd's order and matches {dev}, so networkd would configure {dev} with it instead of vipd's file: narrow its [Match] section so that it does not match {dev}",
            w.display()
        )),
        None => notes.push(format!(
            "no .network file would match {dev}, not even {}: is it masked?",
            ours.display()
        )),
    }
    notes
}
