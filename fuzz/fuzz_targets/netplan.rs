//! The netplan reader and the ifupdown renderer of `vipctl
//! migrate-ifupdown` (src/migrate/): `parse_texts` and `render` never
//! panic, rendering is deterministic, and what is rendered starts with the
//! header every written file carries.
//!
//! Input: up to four netplan files separated by NUL bytes (merged in order,
//! as /etc/netplan/*.yaml are). When a part starts with `#vipd\n`, it is a
//! vipd configuration instead, whose VIP devices are rendered too.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use vipd::config::Config;
use vipd::migrate::netplan::parse_texts;
use vipd::migrate::{HEADER, render};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut texts = Vec::new();
    let mut config = None;
    for (i, part) in text.split('\0').take(4).enumerate() {
        if let Some(yaml) = part.strip_prefix("#vipd\n") {
            config = Config::parse(yaml, Path::new("vipd.yaml")).ok();
        } else {
            texts.push((
                PathBuf::from(format!("/etc/netplan/{i:02}-fuzz.yaml")),
                part.to_string(),
            ));
        }
    }
    let Ok(np) = parse_texts(&texts) else {
        return;
    };
    let first = render(&np, config.as_ref());
    let second = render(&np, config.as_ref());
    assert_eq!(first, second, "render is not deterministic");
    if let Ok(r) = first {
        assert!(
            r.interfaces.starts_with(HEADER),
            "interfaces without the header:\n{}",
            r.interfaces
        );
        for (path, content) in &r.link_files {
            assert!(
                content.starts_with(HEADER),
                "{} without the header",
                path.display()
            );
        }
    }
});
