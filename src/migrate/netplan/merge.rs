//! netplan's merge of several files into one document, remembering which
//! files set each key path so that errors can name them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_norway::Value;

/// For every key path, the files that set it (for error messages).
pub(super) type Provenance = BTreeMap<String, Vec<PathBuf>>;

pub(super) fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_norway::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// netplan's merge: mappings key by key, sequences appended, scalars replaced.
pub(super) fn merge(dst: &mut Value, src: Value, path: &str, file: &Path, prov: &mut Provenance) {
    match (dst, src) {
        (Value::Mapping(d), Value::Mapping(s)) => {
            for (k, v) in s {
                let p = join(path, &key_text(&k));
                record(prov, &p, file, &v);
                match d.get_mut(&k) {
                    Some(existing) => merge(existing, v, &p, file, prov),
                    None => {
                        d.insert(k, v);
                    }
                }
            }
        }
        (Value::Sequence(d), Value::Sequence(s)) => d.extend(s),
        (d, s) => *d = s,
    }
}

/// Records `file` for `path` and every key path below it.
fn record(prov: &mut Provenance, path: &str, file: &Path, v: &Value) {
    let files = prov.entry(path.to_string()).or_default();
    if !files.iter().any(|f| f == file) {
        files.push(file.to_path_buf());
    }
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                record(prov, &join(path, &key_text(k)), file, v);
            }
        }
        Value::Sequence(s) => {
            for v in s {
                // Keys inside sequence items are attributed to the sequence.
                if let Value::Mapping(m) = v {
                    for (k, v) in m {
                        record(prov, &format!("{path}[].{}", key_text(k)), file, v);
                    }
                }
            }
        }
        _ => {}
    }
}
