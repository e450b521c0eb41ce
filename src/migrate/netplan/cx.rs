//! Reading netplan values with the checks and error messages of the
//! migration: every problem is collected, with its key path and the files
//! that set it, instead of stopping at the first.

use std::net::IpAddr;

use serde_norway::{Mapping, Value};

use super::merge::{Provenance, join, key_text};

/// Translation context: provenance and the problems found so far.
pub(super) struct Cx<'a> {
    pub(super) prov: &'a Provenance,
    pub(super) problems: Vec<String>,
}

impl Cx<'_> {
    fn files_of(&self, path: &str) -> String {
        // Sequence items: `routes[2].type` was recorded as `routes[].type`.
        let mut generic = String::new();
        let mut in_index = false;
        for c in path.chars() {
            match c {
                '[' => {
                    in_index = true;
                    generic.push('[');
                }
                ']' => {
                    in_index = false;
                    generic.push(']');
                }
                _ if in_index => {}
                _ => generic.push(c),
            }
        }
        let mut p = generic.as_str();
        loop {
            if let Some(files) = self.prov.get(p) {
                return files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
            }
            match p.rfind(['.', '[']) {
                Some(i) => p = &p[..i],
                None => return "netplan".into(),
            }
        }
    }

    pub(super) fn err(&mut self, path: &str, msg: impl std::fmt::Display) {
        let files = self.files_of(path);
        self.problems.push(format!("{files}: {path}: {msg}"));
    }

    pub(super) fn unsupported(&mut self, path: &str, why: &str) {
        self.err(
            path,
            format!("not supported by vipctl migrate-ifupdown ({why}); remove it, or migrate this host by hand"),
        );
    }

    /// Reports every key of `m` not in `allowed`.
    pub(super) fn check_keys(&mut self, m: &Mapping, path: &str, allowed: &[&str], why: &str) {
        for k in m.keys() {
            let name = key_text(k);
            if !allowed.contains(&name.as_str()) {
                self.unsupported(&join(path, &name), why);
            }
        }
    }

    pub(super) fn mapping<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Mapping> {
        match v {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            _ => {
                self.err(path, "expected a mapping");
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, v: &Value, path: &str) -> bool {
        // netplan reads YAML 1.1 booleans: yes/no/on/off/y/n as well.
        let text = match v {
            Value::Bool(b) => return *b,
            Value::String(s) => s.to_ascii_lowercase(),
            _ => String::new(),
        };
        match text.as_str() {
            "true" | "yes" | "on" | "y" => true,
            "false" | "no" | "off" | "n" => false,
            _ => {
                self.err(path, "expected true or false");
                false
            }
        }
    }

    pub(super) fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                self.err(path, "expected a string");
                None
            }
        }
    }

    pub(super) fn uint(&mut self, v: &Value, path: &str, max: u64) -> Option<u64> {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if n <= max => Some(n),
            _ => {
                self.err(path, format!("expected a whole number from 0 to {max}"));
                None
            }
        }
    }

    fn seq<'v>(&mut self, v: &'v Value, path: &str) -> &'v [Value] {
        match v {
            Value::Sequence(s) => s,
            Value::Null => &[],
            _ => {
                self.err(path, "expected a list");
                &[]
            }
        }
    }

    /// The items of the list `v` at `path`, each read by `item` with its own
    /// path (`path[i]`); the items it rejects (after reporting why) are left
    /// out.
    pub(super) fn list<T>(
        &mut self,
        v: &Value,
        path: &str,
        mut item: impl FnMut(&mut Self, &Value, &str) -> Option<T>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for (i, x) in self.seq(v, path).iter().enumerate() {
            if let Some(x) = item(self, x, &format!("{path}[{i}]")) {
                out.push(x);
            }
        }
        out
    }

    pub(super) fn ip(&mut self, v: &Value, path: &str) -> Option<IpAddr> {
        let s = self.string(v, path)?;
        match s.trim().parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(path, format!("{s:?} is not an IP address"));
                None
            }
        }
    }

    /// A duration in netplan's bond/bridge syntax: a bare number in `unit_ms`
    /// units, or `Nms` / `Ns`. Returns milliseconds.
    pub(super) fn duration_ms(&mut self, v: &Value, path: &str, unit_ms: u64) -> Option<u64> {
        let text = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_string(),
            _ => String::new(),
        };
        let parsed = if let Some(ms) = text.strip_suffix("ms") {
            ms.parse::<u64>().ok()
        } else if let Some(s) = text.strip_suffix('s') {
            s.parse::<u64>().ok().and_then(|s| s.checked_mul(1000))
        } else {
            text.parse::<u64>()
                .ok()
                .and_then(|n| n.checked_mul(unit_ms))
        };
        if parsed.is_none() {
            self.err(
                path,
                format!("{text:?} is not a duration (a whole number, or with ms / s)"),
            );
        }
        parsed
    }
}

/// A mapping of the netplan document with its key path (a device, its
/// `match:`, its `nameservers:`, one route...): its keys are read with the
/// path that an error about them names.
pub(super) struct Node<'v> {
    pub(super) map: &'v Mapping,
    pub(super) path: String,
}

impl<'v> Node<'v> {
    pub(super) fn new(map: &'v Mapping, path: &str) -> Self {
        Node {
            map,
            path: path.to_string(),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key)
    }

    /// The key path of `key` in this mapping.
    pub(super) fn sub(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// Reports every key not in `allowed`.
    pub(super) fn check_keys(&self, allowed: &[&str], why: &str, cx: &mut Cx) {
        cx.check_keys(self.map, &self.path, allowed, why);
    }

    /// The mapping at `key`, if set (an error if it is something else).
    pub(super) fn child(&self, key: &str, cx: &mut Cx) -> Option<Node<'v>> {
        let path = self.sub(key);
        let map = cx.mapping(self.get(key)?, &path)?;
        Some(Node { map, path })
    }

    pub(super) fn boolean(&self, key: &str, cx: &mut Cx) -> Option<bool> {
        self.get(key).map(|v| cx.boolean(v, &self.sub(key)))
    }

    /// A boolean that is false when not set.
    pub(super) fn flag(&self, key: &str, cx: &mut Cx) -> bool {
        self.boolean(key, cx).unwrap_or(false)
    }

    pub(super) fn string(&self, key: &str, cx: &mut Cx) -> Option<String> {
        cx.string(self.get(key)?, &self.sub(key))
    }

    pub(super) fn uint(&self, key: &str, max: u64, cx: &mut Cx) -> Option<u64> {
        cx.uint(self.get(key)?, &self.sub(key), max)
    }

    pub(super) fn ip(&self, key: &str, cx: &mut Cx) -> Option<IpAddr> {
        cx.ip(self.get(key)?, &self.sub(key))
    }

    /// The list at `key`, read as [`Cx::list`] does; empty when not set.
    pub(super) fn list<T>(
        &self,
        key: &str,
        cx: &mut Cx,
        item: impl FnMut(&mut Cx, &Value, &str) -> Option<T>,
    ) -> Vec<T> {
        match self.get(key) {
            Some(v) => cx.list(v, &self.sub(key), item),
            None => Vec::new(),
        }
    }
}
