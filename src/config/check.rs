//! Every error of a configuration file in one run, each at the line of the
//! value it is about, for `vipctl check` and for the daemon's refusal.
//!
//! serde stops at the first error. To find the next ones, the part of the
//! text that holds an error is blanked (lines kept, so every later position
//! stays true) and the text is read again: the key of an instance that holds
//! a bad value, or the whole instance when its rules fail (they are then all
//! run and each placed at its key), or a top-level key. Errors that only the
//! blanking caused (a `missing field` for a blanked key, a group naming a
//! blanked instance) are not reported. Rules across instances run on the
//! instances left and point at the key of the later instance.
//!
//! Messages are also explained where serde's words mislead: a mis-indented
//! line (`invalid type: string "51 priority"`, `missing field vips` while
//! `vips` is there) is called mis-indented, and an unknown key or value gets
//! the nearest valid one ("did you mean").

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use super::locate::locate;
use super::validate::{
    Place, RawInstance, health_errors, instance_conflicts, instance_rule_errors,
};
use super::{Config, ConfigError};

/// At most this many rounds of reading: a file is not expected to hold more
/// errors, and every round blanks something, so the loop always ends.
const MAX_ROUNDS: usize = 100;

/// The keys of an instance, for the indentation hints.
const INSTANCE_KEYS: &[&str] = &[
    "name",
    "interface",
    "vrid",
    "version",
    "priority",
    "preempt",
    "preempt_delay",
    "advert_interval",
    "initial_state",
    "auth_type",
    "found_vips",
    "auth_pass",
    "vips",
    "excluded_vips",
    "unicast",
    "garp",
    "vip_device",
    "track",
    "notify",
    "units",
];

/// One item of the `instances:` list, as lines of the text.
#[derive(Debug, Clone)]
struct Item {
    /// The line of its `-` through the line before the next item's.
    lines: Range<usize>,
    /// The column (0-based) of its keys.
    key_indent: usize,
}

/// Reads and validates `text`; every error found, sorted by position.
pub fn parse_all(text: &str, path: &Path) -> Result<Config, Vec<ConfigError>> {
    let lines: Vec<&str> = text.lines().collect();
    let items = instance_items(&lines);
    let mut work: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut errors: Vec<ConfigError> = Vec::new();
    let mut elided_items: BTreeSet<usize> = BTreeSet::new();
    // Keys blanked: (the item, or None for a top-level key; the key).
    let mut elided_keys: BTreeSet<(Option<usize>, String)> = BTreeSet::new();
    let mut config = None;
    let at = |line: Option<usize>, column: Option<usize>, message: String| ConfigError {
        file: path.to_path_buf(),
        line,
        column,
        message,
    };
    for _ in 0..MAX_ROUNDS {
        let joined = work.join("\n") + "\n";
        let e = match serde_norway::from_str::<Config>(&joined) {
            Ok(c) => {
                config = Some(c);
                break;
            }
            Err(e) => e,
        };
        let loc = e.location();
        let mut message = e.to_string();
        // serde_norway appends " at line L column C": the location is
        // reported separately.
        if let Some(pos) = message.rfind(" at line ") {
            message.truncate(pos);
        }
        let Some(loc) = loc else {
            errors.push(at(None, None, message));
            break;
        };
        let l0 = loc.line().saturating_sub(1);
        let scope = items.iter().position(|it| it.lines.contains(&l0));
        if let Some(key) = missing_field(&message)
            && elided_keys.contains(&(scope, key.to_string()))
        {
            // Caused by the blanking: go on without this instance, or stop.
            match scope {
                Some(i) if !elided_items.contains(&i) => {
                    blank(&mut work, items[i].lines.clone());
                    elided_items.insert(i);
                    continue;
                }
                _ => break,
            }
        }
        if scope.is_none()
            && !elided_items.is_empty()
            && lines.get(l0).and_then(|l| key_of(l)) == Some("instances")
        {
            break; // every instance was blanked
        }
        let d = explain(&lines, &items, loc.line(), loc.column(), &message);
        let d = at(Some(d.0), Some(d.1), d.2);
        // One message per place: blanking a key can make serde report the
        // same mistake again in other words.
        let mut report = |d: ConfigError| {
            if !errors
                .iter()
                .any(|e| (e.line, e.column) == (d.line, d.column))
            {
                errors.push(d);
            }
        };
        let changed = match scope {
            Some(i) => {
                // serde places an instance's rule errors near the list, not
                // at the instance: when the instance at the error's place
                // reads fine on its own, the first instance whose values
                // read fine but whose rules fail is the one. Otherwise the
                // error is one of its values.
                let values_fine = read_alone(&work, &items[i]).is_some();
                let ruled = std::iter::once(i)
                    .chain(0..items.len())
                    .filter(|j| values_fine && !elided_items.contains(j))
                    .find_map(|j| {
                        let raw = read_alone(&work, &items[j])?;
                        let broken = instance_rule_errors(&raw);
                        (!broken.is_empty()).then_some((j, raw, broken))
                    });
                if let Some((j, raw, broken)) = ruled {
                    // With a key blanked, the default standing in for it may
                    // break a rule the file does not: say nothing then.
                    let guessed = elided_keys.iter().any(|(k, _)| *k == Some(j));
                    for r in broken.into_iter().filter(|_| !guessed) {
                        let (line, col) = field_location(&lines, &items[j], r.field)
                            .unwrap_or_else(|| first_key(&lines, &items[j]));
                        report(at(Some(line), Some(col), r.in_instance(&raw.name)));
                    }
                    elided_items.insert(j);
                    blank(&mut work, items[j].lines.clone())
                } else {
                    report(d);
                    let item = &items[i];
                    match key_block(&lines, item, l0) {
                        Some((key, range))
                            if range.start != item.lines.start
                                && missing_field(&message).is_none() =>
                        {
                            elided_keys.insert((Some(i), key.to_string()));
                            blank(&mut work, range)
                        }
                        _ => {
                            elided_items.insert(i);
                            blank(&mut work, item.lines.clone())
                        }
                    }
                }
            }
            None => {
                report(d);
                match top_block(&lines, l0) {
                    Some((key, range)) => {
                        elided_keys.insert((None, key.to_string()));
                        blank(&mut work, range)
                    }
                    None => false,
                }
            }
        };
        if !changed {
            break; // nothing left to blank: no further error can be found
        }
    }
    if let Some(c) = &config {
        // Surviving instances in the order of their items, when the list
        // was read item by item as the text shows it.
        let surviving: Vec<usize> = (0..items.len())
            .filter(|i| !elided_items.contains(i))
            .collect();
        for (k, r) in instance_conflicts(&c.instances) {
            let place = surviving
                .get(k)
                .filter(|_| surviving.len() == c.instances.len())
                .and_then(|&i| field_location(&lines, &items[i], r.field))
                .or_else(|| locate(text, &Place::Instance(c.instances[k].name.clone())));
            errors.push(at(place.map(|p| p.0), place.map(|p| p.1), r.message));
        }
        let elided_names: Vec<String> = elided_items
            .iter()
            .filter_map(|&i| item_name(&lines, &items[i]))
            .collect();
        for (place, r) in health_errors(c) {
            if elided_names.iter().any(|n| {
                r.message.contains(&format!("{n:?}")) || place == Place::Instance(n.clone())
            }) {
                continue; // about an instance that was blanked
            }
            // An instance's rule: at its key in that instance when written.
            let pos = match &place {
                Place::Instance(name) => items
                    .iter()
                    .find(|it| item_name(&lines, it).as_deref() == Some(name.as_str()))
                    .and_then(|it| field_location(&lines, it, r.field)),
                _ => None,
            }
            .or_else(|| locate(text, &place));
            let message = match &place {
                Place::Instance(name) => r.in_instance(name),
                Place::Group(_) | Place::Key(_) => r.message,
            };
            errors.push(at(pos.map(|p| p.0), pos.map(|p| p.1), message));
        }
    }
    if let Some(problem) = config
        .as_ref()
        .and_then(|c| c.metrics.as_ref())
        .and_then(|m| m.exposure_problem())
    {
        let pos = metrics_listen_location(&lines).or_else(|| locate(text, &Place::Key("metrics")));
        errors.push(at(pos.map(|p| p.0), pos.map(|p| p.1), problem));
    }
    match config {
        Some(c) if errors.is_empty() => Ok(c),
        _ => {
            errors.sort_by_key(|d| (d.line, d.column));
            errors.dedup();
            Err(errors)
        }
    }
}

/// Where the key `field` (`"vrid"`, `"unicast.peers"`) of the instance
/// listed `index`-th in `text` is written: its value, else its key.
pub fn instance_field_location(text: &str, index: usize, field: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let items = instance_items(&lines);
    field_location(&lines, items.get(index)?, field)
}

/// Where the value of `listen` under the top-level `metrics:` is written
/// (1-based line and column), when written as a block.
fn metrics_listen_location(lines: &[&str]) -> Option<(usize, usize)> {
    let start = lines
        .iter()
        .position(|l| indent(l) == 0 && key_of(l) == Some("metrics"))?;
    (start + 1..lines.len())
        .take_while(|&i| !ends_block(lines[i], 0))
        .find_map(|i| {
            let (key, col) = key_at(lines[i])?;
            if key != "listen" {
                return None;
            }
            let after = lines[i][col..].find(':')? + col + 1;
            let value = lines[i][after..].len() - lines[i][after..].trim_start().len();
            Some((i + 1, after + value + 1))
        })
}

/// The field named by a `missing field `X`` message.
fn missing_field(message: &str) -> Option<&str> {
    let rest = &message[message.find("missing field `")? + "missing field `".len()..];
    rest.split('`').next()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The key a line starts with (after any `- `), unquoted.
fn key_of(line: &str) -> Option<&str> {
    key_at(line).map(|(k, _)| k)
}

/// The key a line starts with and its column (0-based).
fn key_at(line: &str) -> Option<(&str, usize)> {
    let mut col = indent(line);
    let mut rest = &line[col..];
    while let Some(r) = rest.strip_prefix("- ") {
        let skipped = r.len() - r.trim_start().len();
        col += 2 + skipped;
        rest = r.trim_start();
    }
    let end = rest.find(':')?;
    let after = &rest[end + 1..];
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    let k = rest[..end]
        .trim_end()
        .trim_matches(|c| c == '"' || c == '\'');
    if k.is_empty() || k.contains(' ') || k.starts_with(['#', '[', '{']) {
        return None;
    }
    Some((k, col))
}

/// The items of the top-level `instances:` list, when written as a block.
fn instance_items(lines: &[&str]) -> Vec<Item> {
    let Some(start) = lines
        .iter()
        .position(|l| indent(l) == 0 && key_of(l) == Some("instances"))
    else {
        return Vec::new();
    };
    let end = (start + 1..lines.len())
        .find(|&i| ends_block(lines[i], 0))
        .unwrap_or(lines.len());
    let Some(first) = (start + 1..end).find(|&i| !is_blank(lines[i])) else {
        return Vec::new();
    };
    let dash = indent(lines[first]);
    let starts: Vec<usize> = (start + 1..end)
        .filter(|&i| indent(lines[i]) == dash && lines[i][dash..].starts_with('-'))
        .collect();
    let mut items = Vec::new();
    for (n, &s) in starts.iter().enumerate() {
        let e = starts.get(n + 1).copied().unwrap_or(end);
        let key_indent = match key_at(lines[s]) {
            Some((_, col)) => col,
            None => (s + 1..e)
                .find(|&i| !is_blank(lines[i]))
                .map(|i| indent(lines[i]))
                .unwrap_or(dash + 2),
        };
        items.push(Item {
            lines: s..e,
            key_indent,
        });
    }
    items
}

/// The instance's name as written.
fn item_name(lines: &[&str], item: &Item) -> Option<String> {
    let (line, col) = field_location(lines, item, "name")?;
    let v = lines[line - 1][col - 1..].split(" #").next()?.trim();
    Some(v.trim_matches(|c| c == '"' || c == '\'').to_string())
}

/// The position (1-based) of the item's first key.
fn first_key(lines: &[&str], item: &Item) -> (usize, usize) {
    item.lines
        .clone()
        .find(|&i| !is_blank(lines[i]))
        .and_then(|i| key_at(lines[i]).map(|(_, c)| (i + 1, c + 1)))
        .unwrap_or((item.lines.start + 1, item.key_indent + 1))
}

/// The lines from `start` (a key's line) to the next line indented no more
/// than `indent`, within `within`.
fn block_from(
    lines: &[&str],
    start: usize,
    indent_of_key: usize,
    within: &Range<usize>,
) -> Range<usize> {
    let end = (start + 1..within.end)
        .find(|&i| ends_block(lines[i], indent_of_key))
        .unwrap_or(within.end);
    start..end
}

/// Whether `line` ends the block of a key at column `key_indent`: it is
/// indented no more, and is not an item of the key's list (YAML lets those
/// stand at the key's own column).
fn ends_block(line: &str, key_indent: usize) -> bool {
    let n = indent(line);
    !is_blank(line)
        && (n < key_indent
            || (n == key_indent && !(line[n..] == *"-" || line[n..].starts_with("- "))))
}

/// The key of the instance (at its keys' indentation) whose block holds
/// line `l`, with the block's lines.
fn key_block<'a>(lines: &[&'a str], item: &Item, l: usize) -> Option<(&'a str, Range<usize>)> {
    let kl = (item.lines.start..=l)
        .rev()
        .find(|&i| key_at(lines[i]).is_some_and(|(_, c)| c == item.key_indent))?;
    let (key, _) = key_at(lines[kl])?;
    Some((key, block_from(lines, kl, item.key_indent, &item.lines)))
}

/// The top-level key whose block holds line `l`, with the block's lines.
fn top_block<'a>(lines: &[&'a str], l: usize) -> Option<(&'a str, Range<usize>)> {
    let kl = (0..=l.min(lines.len().checked_sub(1)?))
        .rev()
        .find(|&i| indent(lines[i]) == 0 && key_of(lines[i]).is_some())?;
    let key = key_of(lines[kl])?;
    Some((key, block_from(lines, kl, 0, &(0..lines.len()))))
}

/// The position (1-based) of the value of `field` (dotted for nested keys)
/// of an item, or of the key when its value starts on the next line.
fn field_location(lines: &[&str], item: &Item, field: &str) -> Option<(usize, usize)> {
    let mut within = item.lines.clone();
    let mut depth = Some(item.key_indent);
    let mut found = None;
    for part in field.split('.') {
        let l = within.clone().find(|&i| {
            key_at(lines[i]).is_some_and(|(k, c)| k == part && depth.is_none_or(|d| c == d))
        })?;
        let (_, col) = key_at(lines[l])?;
        found = Some((l, col));
        within = block_from(lines, l, col, &within);
        within.start += 1;
        depth = None; // nested keys: the first one deeper
    }
    let (l, col) = found?;
    let line = lines[l];
    let colon = col + line[col..].find(':')?;
    let after = &line[colon + 1..];
    let value = colon + 1 + (after.len() - after.trim_start().len());
    if value < line.len() && !line[value..].starts_with('#') {
        Some((l + 1, value + 1))
    } else {
        Some((l + 1, col + 1))
    }
}

/// Blanks the lines; false when they already were.
fn blank(work: &mut [String], range: Range<usize>) -> bool {
    let mut changed = false;
    for l in &mut work[range] {
        changed |= !l.is_empty();
        l.clear();
    }
    changed
}

/// The item read on its own as an instance: `Some` when its values are fine.
fn read_alone(work: &[String], item: &Item) -> Option<RawInstance> {
    let text: Vec<String> = work
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if i == item.lines.start {
                l.replacen('-', " ", 1)
            } else if item.lines.contains(&i) {
                l.clone()
            } else {
                String::new()
            }
        })
        .collect();
    serde_norway::from_str(&(text.join("\n") + "\n")).ok()
}

/// serde's message, placed and worded for the operator: mis-indentation
/// called so, the nearest valid name suggested.
fn explain(
    lines: &[&str],
    items: &[Item],
    line: usize,
    column: usize,
    message: &str,
) -> (usize, usize, String) {
    let l0 = line.saturating_sub(1);
    let item = items.iter().find(|it| it.lines.contains(&l0));
    if let Some(hint) = indentation(lines, item, l0, message) {
        return hint;
    }
    (line, column, did_you_mean(message))
}

/// A mis-indented line, when serde's error comes from one.
fn indentation(
    lines: &[&str],
    item: Option<&Item>,
    l0: usize,
    message: &str,
) -> Option<(usize, usize, String)> {
    let hint = |l: usize, what: String| {
        Some((
            l + 1,
            indent(lines[l]) + 1,
            format!("this looks mis-indented: {what} (read as: {message})"),
        ))
    };
    // `vrid: 51` followed by a deeper `priority: 100`: YAML folds the second
    // line into the first one's value ("51 priority").
    if message.contains("invalid type: string \"") {
        let own = key_at(lines.get(l0)?)?;
        let next = (l0 + 1..lines.len()).find(|&i| !is_blank(lines[i]))?;
        let word = lines[next].trim_start().split([':', ' ']).next()?;
        if indent(lines[next]) > own.1 && !word.is_empty() && message.contains(&format!(" {word}"))
        {
            return hint(
                next,
                format!(
                    "`{word}` is indented as part of `{}`'s value; align it with `{}`",
                    own.0, own.0
                ),
            );
        }
    }
    // `name: web` followed by a deeper `interface: eth0`: a key inside a
    // scalar value.
    if message.starts_with("mapping values are not allowed") {
        let own = lines.get(l0)?;
        let prev = (0..l0).rev().find(|&i| !is_blank(lines[i]))?;
        let (parent, col) = key_at(lines[prev])?;
        let has_value = lines[prev][col..]
            .split_once(':')
            .is_some_and(|(_, v)| !v.trim().is_empty() && !v.trim().starts_with('#'));
        let word = key_of(own)?;
        if indent(own) > col && has_value {
            return hint(
                l0,
                format!(
                    "`{word}` is indented as part of `{parent}`'s value; align it with `{parent}`"
                ),
            );
        }
    }
    let item = item?;
    // A key of the instance written at another indentation: serde misses it.
    if let Some(key) = missing_field(message) {
        let l = item
            .lines
            .clone()
            .find(|&i| key_at(lines[i]).is_some_and(|(k, c)| k == key && c != item.key_indent))?;
        let col = key_at(lines[l])?.1;
        let sibling = (item.lines.start..l)
            .rev()
            .find_map(|i| key_at(lines[i]).filter(|(_, c)| *c == item.key_indent))?;
        if col < item.key_indent {
            return hint(
                l,
                format!(
                    "`{key}` is indented less than the instance's other keys; align it with `{}`",
                    sibling.0
                ),
            );
        }
        let parent = parent_key(lines, l)?;
        return hint(
            l,
            format!(
                "`{key}` is indented as part of `{parent}`'s value; align it with `{}`",
                sibling.0
            ),
        );
    }
    // An instance key found inside another key's mapping.
    if let Some(key) = unknown_name(message, "unknown field `")
        && INSTANCE_KEYS.contains(&key)
        && lines.get(l0).is_some_and(|l| indent(l) > item.key_indent)
    {
        let parent = parent_key(lines, l0)?;
        return hint(
            l0,
            format!("`{key}` is indented as part of `{parent}`'s value; align it with `{parent}`"),
        );
    }
    None
}

/// The key of the nearest line above `l` that is indented less.
fn parent_key<'a>(lines: &[&'a str], l: usize) -> Option<&'a str> {
    let own = indent(lines.get(l)?);
    (0..l)
        .rev()
        .find(|&i| !is_blank(lines[i]) && indent(lines[i]) < own)
        .and_then(|i| key_of(lines[i]))
}

/// The name in `unknown field `X`` (or variant).
fn unknown_name<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &message[message.find(prefix)? + prefix.len()..];
    rest.split('`').next()
}

/// serde's `unknown field `X`, expected one of ...` with the nearest valid
/// name suggested; other messages unchanged.
pub(crate) fn did_you_mean(message: &str) -> String {
    for prefix in ["unknown field `", "unknown variant `"] {
        let Some(name) = unknown_name(message, prefix) else {
            continue;
        };
        // "expected one of `a`, `b`" or "expected `a` or `b`".
        let Some(list) = message.split_once("`, expected ").map(|x| x.1) else {
            continue;
        };
        let valid: Vec<&str> = list.split('`').skip(1).step_by(2).collect();
        if let Some(best) = nearest(name, &valid) {
            let head = format!("{prefix}{name}`");
            return message.replacen(&head, &format!("{head} (did you mean `{best}`?)"), 1);
        }
    }
    message.to_string()
}

/// The valid name nearest to `name`, when it is near enough to be a typo:
/// at most 2 edits, and fewer than a third of the name's length.
pub fn nearest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(name, v), *v))
        .filter(|(d, _)| *d > 0 && *d <= 2 && *d * 3 <= name.chars().count().max(3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Levenshtein distance, counting a swap of two neighbours as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}
