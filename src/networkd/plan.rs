//! Planning the file changes: what `vipctl networkd install` writes and
//! removes for a configuration, and what `remove` takes away. Nothing here
//! writes; [`super::apply`] does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{
    DROPIN_NAME, ETC_NETWORK_DIR, FileAction, HostView, KEEP_CONFIGURATION_SINCE, Needs,
    NetworkdError, Plan, VIPD_DIRS, VipDev, apply, header, is_vipd_content, matching,
    needs_by_interface, render, vip_devices,
};
use crate::config::Config;

/// Plans the files for `config`: VIP device .netdev/.network files, parent
/// drop-ins, and the removal of vipd files under `root` the configuration no
/// longer needs. `config_path` goes in the header of every file.
pub fn plan_install(
    config: &Config,
    host: &HostView,
    root: &Path,
    config_path: &Path,
) -> Result<Plan, NetworkdError> {
    let mut notes = Vec::new();
    let modern = keep_configuration_exists(host.systemd_version, &mut notes);
    let header = header(config_path);
    let devices = vip_devices(config);
    check_parents_managed(&devices, host)?;
    let groups = group_by_dropin(&needs_by_interface(config), host, &mut notes)?;

    let mut writes: BTreeMap<PathBuf, String> = BTreeMap::new();
    for (path, g) in &groups {
        if let Some(content) = dropin(g, modern, root, &header, &mut notes)? {
            writes.insert(path.clone(), content);
        }
    }
    for d in &devices {
        writes.insert(device_file(d, "netdev"), render::device_netdev(&header, d));
        writes.insert(
            device_file(d, "network"),
            render::device_network(&header, d, modern),
        );
    }
    // Would networkd really use our .network for each VIP device?
    for d in &devices {
        notes.extend(matching::check_device_match(
            root,
            &writes,
            &d.name,
            d.mac,
            &device_file(d, "network"),
        ));
    }

    // Stale vipd files: present under root, not in the new plan.
    let existing = scan_vipd_files(root, &mut notes);
    let (removes, dir_removes) = stale(&existing, &writes);
    Ok(Plan {
        actions: actions(writes, removes, dir_removes),
        notes,
    })
}

/// Whether the target's systemd has `KeepConfiguration=` (else the files
/// use `CriticalConnection=`); an unknown version is taken for a recent one,
/// with a note.
fn keep_configuration_exists(version: Option<u32>, notes: &mut Vec<String>) -> bool {
    match version {
        None => {
            notes.push(format!(
                "systemd version unknown: assuming systemd >= {KEEP_CONFIGURATION_SINCE} (KeepConfiguration=); on an older systemd pass its version so the files use CriticalConnection= instead"
            ));
            true
        }
        Some(v) if v >= KEEP_CONFIGURATION_SINCE => true,
        Some(v) => {
            notes.push(format!(
                "systemd {v} is older than {KEEP_CONFIGURATION_SINCE}: KeepConfiguration= does not exist there, the files use [DHCP] CriticalConnection=yes (networkd then keeps every foreign address and route on those links, and the DHCP lease even past its expiry)"
            ));
            false
        }
    }
}

/// A VIP device needs its parent's .network to be created by networkd.
fn check_parents_managed(devices: &[VipDev], host: &HostView) -> Result<(), NetworkdError> {
    match devices
        .iter()
        .find(|d| !host.matched.contains_key(&d.parent))
    {
        Some(d) => Err(NetworkdError::ParentNotManaged {
            instance: d.instance.clone(),
            interface: d.parent.clone(),
            device: d.name.clone(),
            kind: render::kind_name(d.kind),
        }),
        None => Ok(()),
    }
}

/// The interfaces that one .network file configures, so one drop-in serves
/// them all.
struct Group {
    matched: PathBuf,
    ifaces: Vec<String>,
    needs: Needs,
}

/// The interfaces grouped by the drop-in they need, keyed by its path
/// (two interfaces matched by one .network file share its drop-in).
fn group_by_dropin(
    needs: &BTreeMap<String, Needs>,
    host: &HostView,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<PathBuf, Group>, NetworkdError> {
    let mut groups: BTreeMap<PathBuf, Group> = BTreeMap::new();
    for (ifname, n) in needs {
        let Some(matched) = host.matched.get(ifname) else {
            notes.push(format!(
                "{ifname} is not managed by systemd-networkd: nothing to persist"
            ));
            continue;
        };
        let path = dropin_path(matched)?;
        let g = groups.entry(path).or_insert_with(|| Group {
            matched: matched.clone(),
            ifaces: Vec::new(),
            needs: Needs::default(),
        });
        g.ifaces.push(ifname.clone());
        g.needs.merge(n);
    }
    Ok(groups)
}

/// The target path of the drop-in for a parent's matched .network file.
fn dropin_path(matched: &Path) -> Result<PathBuf, NetworkdError> {
    let name = matched
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| NetworkdError::BadPath {
            path: matched.to_path_buf(),
        })?;
    Ok(Path::new(ETC_NETWORK_DIR)
        .join(format!("{name}.d"))
        .join(DROPIN_NAME))
}

/// The drop-in of one group, or `None` when it has nothing to say. A VIP
/// device cannot be attached through a .network file that several of vipd's
/// interfaces share: it would be attached to each of them.
fn dropin(
    g: &Group,
    modern: bool,
    root: &Path,
    header: &str,
    notes: &mut Vec<String>,
) -> Result<Option<String>, NetworkdError> {
    if g.ifaces.len() > 1 && g.needs.has_devices() {
        let devs: Vec<String> = g
            .needs
            .macvlans
            .iter()
            .chain(&g.needs.ipvlans)
            .cloned()
            .collect();
        return Err(NetworkdError::SharedNetworkFile {
            network_file: g.matched.clone(),
            interfaces: g.ifaces.join(", "),
            devices: devs.join(", "),
        });
    }
    let keep = keep(g, modern, root, notes);
    if !g.needs.has_devices() && keep.is_none() {
        return Ok(None);
    }
    if let Some(glob) = matching::name_is_pattern(root, &g.matched)
        && g.needs.has_devices()
    {
        notes.push(format!(
            "{} matches interfaces by {glob}: networkd attaches the VIP devices of its drop-in to the first interface it configures with it; make sure only {} matches",
            g.matched.display(),
            g.ifaces.join(", ")
        ));
    }
    Ok(Some(render::parent_dropin(
        header, &g.matched, &g.ifaces, &g.needs, keep,
    )))
}

/// How the drop-in keeps the VIPs that sit on the interfaces themselves, if
/// there are any: without weakening a `KeepConfiguration=` the .network file
/// already has.
fn keep(g: &Group, modern: bool, root: &Path, notes: &mut Vec<String>) -> Option<render::Keep> {
    if !g.needs.keep_static {
        return None;
    }
    if !modern {
        return Some(render::Keep::Legacy);
    }
    let existing = matching::existing_keep_configuration(root, &g.matched);
    let (value, note) = render::keep_value_for_parent(existing.as_deref());
    if let Some(note) = note {
        notes.push(format!(
            "{} ({}): {note}",
            g.matched.display(),
            g.ifaces.join(", ")
        ));
    }
    value.map(render::Keep::Modern)
}

/// The target path of a VIP device's `.netdev` or `.network` (`ext`).
fn device_file(d: &VipDev, ext: &str) -> PathBuf {
    Path::new(ETC_NETWORK_DIR).join(format!("60-vipd-{}.{ext}", d.name))
}

/// The vipd files of `existing` that `writes` does not rewrite, and the
/// drop-in directories that removing them leaves empty.
fn stale(existing: &Existing, writes: &BTreeMap<PathBuf, String>) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut removes = Vec::new();
    let mut dir_removes = Vec::new();
    for (dir, files) in &existing.dropin_dirs {
        let stale: Vec<&PathBuf> = files.iter().filter(|f| !writes.contains_key(*f)).collect();
        removes.extend(stale.iter().map(|p| (*p).clone()));
        let all_entries = existing.dir_entries.get(dir).copied().unwrap_or(0);
        let keeps_writes = writes.keys().any(|w| w.parent() == Some(dir.as_path()));
        if !keeps_writes && stale.len() == all_entries {
            dir_removes.push(dir.clone());
        }
    }
    removes.extend(
        existing
            .top_files
            .iter()
            .filter(|f| !writes.contains_key(*f))
            .cloned(),
    );
    (removes, dir_removes)
}

/// The actions in the plan's order: writes by path, then file removals by
/// path, then directory removals by path (a directory is emptied first).
fn actions(
    writes: BTreeMap<PathBuf, String>,
    mut removes: Vec<PathBuf>,
    mut dir_removes: Vec<PathBuf>,
) -> Vec<FileAction> {
    removes.sort();
    dir_removes.sort();
    let mut actions: Vec<FileAction> = writes
        .into_iter()
        .map(|(path, content)| FileAction::Write { path, content })
        .collect();
    actions.extend(removes.into_iter().map(|path| FileAction::Remove { path }));
    actions.extend(
        dir_removes
            .into_iter()
            .map(|path| FileAction::Remove { path }),
    );
    actions
}

/// Plans the removal of everything vipd wrote: every file under
/// root/etc/systemd/network and root/run/systemd/network (and their drop-in
/// directories) whose first line is the vipd header, plus the drop-in
/// directories that this leaves empty. Files without the header are never
/// listed.
pub fn plan_remove(root: &Path) -> Plan {
    let mut notes = Vec::new();
    let existing = scan_vipd_files(root, &mut notes);
    // Everything is stale when nothing is written.
    let (files, dirs) = stale(&existing, &BTreeMap::new());
    let actions = actions(BTreeMap::new(), files, dirs);
    if actions.is_empty() {
        notes.push("no file written by vipd was found: nothing to remove".to_string());
    }
    Plan { actions, notes }
}

/// vipd's files found under a root, as target paths.
#[derive(Default)]
struct Existing {
    /// Files directly in a network directory.
    top_files: Vec<PathBuf>,
    /// Drop-in directory -> its vipd files.
    dropin_dirs: BTreeMap<PathBuf, Vec<PathBuf>>,
    /// Drop-in directory -> how many entries it has in all.
    dir_entries: BTreeMap<PathBuf, usize>,
}

fn scan_vipd_files(root: &Path, notes: &mut Vec<String>) -> Existing {
    let mut ex = Existing::default();
    for dir in VIPD_DIRS {
        let target = Path::new(dir);
        let real = apply::reroot(root, target).expect("constant paths are absolute");
        let Ok(entries) = sorted_entries(&real) else {
            continue;
        };
        for name in entries {
            let real_path = real.join(&name);
            let target_path = target.join(&name);
            let Ok(meta) = std::fs::symlink_metadata(&real_path) else {
                continue;
            };
            if meta.is_dir() {
                let Ok(sub) = sorted_entries(&real_path) else {
                    notes.push(format!(
                        "{}: cannot read the directory; vipd files in it are left alone",
                        real_path.display()
                    ));
                    continue;
                };
                let mut mine = Vec::new();
                for sname in &sub {
                    if file_is_vipd(&real_path.join(sname)) {
                        mine.push(target_path.join(sname));
                    }
                }
                ex.dir_entries.insert(target_path.clone(), sub.len());
                if !mine.is_empty() {
                    ex.dropin_dirs.insert(target_path, mine);
                }
            } else if meta.is_file() && file_is_vipd(&real_path) {
                ex.top_files.push(target_path);
            }
        }
    }
    ex
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if let Ok(n) = e.file_name().into_string() {
            names.push(n);
        } else {
            // Counted as an entry (the directory is not empty), never touched.
            names.push(String::from("\u{fffd}"));
        }
    }
    names.sort();
    Ok(names)
}

/// A regular file (not a symlink) whose first line is the vipd header.
fn file_is_vipd(path: &Path) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => std::fs::read(path)
            .map(|c| is_vipd_content(&c))
            .unwrap_or(false),
        _ => false,
    }
}
