//! Every relative link in README.md and docs/*.md points at a file that
//! exists, and a `#fragment` at a heading of that file (GitHub's anchor
//! rules). The README is a front page that links into docs/; a moved or
//! renamed section must not leave dead links behind. No root, no network:
//! reads the files only.
//!
//! A few files are written by changes not merged yet (`PENDING`): a link to
//! one of those that does not exist yet is printed, not failed; once the
//! file exists its links are checked like any other.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// Files linked from the README that other branches of this round add
/// (paths from the repository root). Remove an entry once it is merged.
const PENDING: [&str; 0] = [];

/// One link found in a Markdown file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    line: usize,
    target: String,
}

/// The inline links `[text](target)` and images `![alt](target)` of `text`,
/// outside fenced code blocks and inline code spans.
fn links(text: &str) -> Vec<Link> {
    let mut out = Vec::new();
    let mut fence = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        // Drop inline code spans: `[x](y)` inside backticks is not a link.
        let mut plain = String::new();
        for (k, part) in line.split('`').enumerate() {
            if k % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(p) = rest.find("](") {
            let after = &rest[p + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].trim();
            // `[text](target "title")`: the title is not part of the path.
            let target = target.split_whitespace().next().unwrap_or("");
            out.push(Link {
                line: i + 1,
                target: target.to_owned(),
            });
            rest = &after[end..];
        }
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation other than `-` and
/// `_` dropped, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of `text`'s headings (outside code blocks); a repeated
/// heading gets `-1`, `-2`, ... as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fence = !fence;
            continue;
        }
        if fence || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let base = slug(title);
        let mut a = base.clone();
        let mut n = 0;
        while seen.contains(&a) {
            n += 1;
            a = format!("{base}-{n}");
        }
        seen.insert(a);
    }
    seen
}

/// What is wrong with the links of `file` (under `root`): one line per dead
/// link, `FILE:LINE: ...`; `pending` collects links to PENDING files that do
/// not exist yet.
fn check_file(root: &Path, file: &Path, pending: &mut Vec<String>) -> Vec<String> {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let rel = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    let dir = file.parent().unwrap_or(root);
    let mut bad = Vec::new();
    for l in links(&text) {
        let t = l.target.as_str();
        if t.is_empty() {
            bad.push(format!("{rel}:{}: empty link target", l.line));
            continue;
        }
        if t.contains("://") || t.starts_with("mailto:") {
            continue;
        }
        let (path, frag) = match t.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (t, None),
        };
        let target: PathBuf = if path.is_empty() {
            file.to_owned()
        } else {
            dir.join(path)
        };
        if !target.exists() {
            let from_root = normalise(&target, root);
            if PENDING.contains(&from_root.as_str()) {
                pending.push(format!("{rel}:{}: {t}", l.line));
            } else {
                bad.push(format!(
                    "{rel}:{}: link to {t}: {} does not exist (fix the path, or add the file)",
                    l.line, from_root
                ));
            }
            continue;
        }
        if let Some(frag) = frag
            && target.extension().is_some_and(|e| e == "md")
        {
            let have = anchors(&fs::read_to_string(&target).unwrap_or_default());
            if !have.contains(frag) {
                bad.push(format!(
                    "{rel}:{}: link to {t}: no heading with anchor #{frag} in {} (anchors: {})",
                    l.line,
                    normalise(&target, root),
                    have.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    bad
}

/// `path` relative to `root`, with `..` and `.` resolved textually.
fn normalise(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let mut parts: Vec<String> = Vec::new();
    for c in rel.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::CurDir => {}
            c => parts.push(c.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

/// README.md and every docs/*.md of the repository at `root`.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    if let Ok(rd) = fs::read_dir(root.join("docs")) {
        let mut docs: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        docs.sort();
        files.extend(docs);
    }
    files
}

#[test]
fn every_relative_link_in_readme_and_docs_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut bad = Vec::new();
    let mut pending = Vec::new();
    let files = markdown_files(root);
    for f in &files {
        bad.extend(check_file(root, f, &mut pending));
    }
    for p in &pending {
        println!("pending (another change adds the file): {p}");
    }
    println!("checked the links of {} Markdown files", files.len());
    assert!(bad.is_empty(), "dead links:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_finds_a_dead_file_and_a_dead_anchor() {
    let dir = std::env::temp_dir().join(format!("vipd-docs-links-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("docs")).unwrap();
    fs::write(
        dir.join("README.md"),
        "# Top\n\nSee [a](docs/a.md#real-heading), [b](docs/b.md), [c](docs/a.md#nope),\n\
         [self](#top), `[code](not/a/link.md)`, [web](https://example.org/x).\n\n\
         ```\n[fenced](also/not.md)\n```\n\n![demo](docs/demo.svg)\n",
    )
    .unwrap();
    fs::write(
        dir.join("docs/a.md"),
        "# A\n\n## Real heading\n\nBack to [the top](../README.md#top) and [gone](../gone.md).\n",
    )
    .unwrap();
    let mut pending = Vec::new();
    let mut bad = Vec::new();
    for f in markdown_files(&dir) {
        bad.extend(check_file(&dir, &f, &mut pending));
    }
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(bad.len(), 4, "{bad:#?}");
    assert!(
        bad[0].starts_with("README.md:3: link to docs/b.md"),
        "{}",
        bad[0]
    );
    assert!(
        bad[1].contains("no heading with anchor #nope"),
        "{}",
        bad[1]
    );
    assert!(
        bad[2].starts_with("README.md:10: link to docs/demo.svg"),
        "{}",
        bad[2]
    );
    assert!(
        bad[3].starts_with("docs/a.md:5: link to ../gone.md"),
        "{}",
        bad[3]
    );
    assert!(pending.is_empty(), "{pending:?}");
}

#[test]
fn anchors_follow_github() {
    let a = anchors(
        "# vipd\n## Planned bounces: `vipctl hold`\n## Fallback hooks (networkd-dispatcher, ifupdown)\n\
         ## Notes\n## Notes\n```\n# not a heading\n```\n",
    );
    let want: BTreeSet<String> = [
        "vipd",
        "planned-bounces-vipctl-hold",
        "fallback-hooks-networkd-dispatcher-ifupdown",
        "notes",
        "notes-1",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(a, want);
}
