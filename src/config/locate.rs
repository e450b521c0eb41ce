//! Where a named instance, group or top-level key is written in the file's
//! text, for errors found after the file was read (rules across the whole
//! file): the error then points at that line, not at the top of the file.

use super::validate::Place;

/// The 1-based line and column of `place` in `text`, when it can be found.
pub fn locate(text: &str, place: &Place) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let found = match place {
        Place::Key(key) => lines.iter().position(|l| is_key(l, key, 0)),
        Place::Instance(name) => lines.iter().position(|l| {
            let t = l.trim_start().trim_start_matches('-').trim_start();
            t.strip_prefix("name:")
                .is_some_and(|v| unquote(v.split('#').next().unwrap_or("")) == name)
        }),
        Place::Group(name) => {
            let start = lines.iter().position(|l| is_key(l, "groups", 0))?;
            lines[start + 1..]
                .iter()
                .position(|l| {
                    let indent = l.len() - l.trim_start().len();
                    indent > 0 && is_key(l.trim_start(), name, 0)
                })
                .map(|p| p + start + 1)
        }
    }?;
    let col = lines[found].len() - lines[found].trim_start().len() + 1;
    Some((found + 1, col))
}

/// `key:` at column `indent`, quoted or not.
fn is_key(line: &str, key: &str, indent: usize) -> bool {
    let Some(rest) = line.get(indent..) else {
        return false;
    };
    let Some((k, _)) = rest.split_once(':') else {
        return false;
    };
    unquote(k) == key && !k.starts_with(' ')
}

fn unquote(s: &str) -> &str {
    s.trim().trim_matches(|c| c == '"' || c == '\'')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_instances_groups_and_keys() {
        let text = "script_user: x\ninstances:\n  - name: web  # the site\n    vrid: 1\n  - vrid: 2\n    name: \"db\"\ngroups:\n  lb:\n    instances: [web]\n";
        assert_eq!(locate(text, &Place::Key("script_user")), Some((1, 1)));
        assert_eq!(locate(text, &Place::Instance("web".into())), Some((3, 3)));
        assert_eq!(locate(text, &Place::Instance("db".into())), Some((6, 5)));
        assert_eq!(locate(text, &Place::Group("lb".into())), Some((8, 3)));
        assert_eq!(locate(text, &Place::Group("nope".into())), None);
        assert_eq!(locate(text, &Place::Instance("we".into())), None);
    }
}
