//! The configuration loader (src/config/): `Config::parse` never panics,
//! an error it reports is located inside the text (at most one line past
//! its last line, YAML counting CR as a line break too), and
//! a configuration it accepts serialises (`Config::to_yaml`, what `vipctl
//! import-keepalived` prints) to YAML that parses back to an equal
//! configuration and serialises to the same text again.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vipd::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.yaml");
    let config = match Config::parse(text, path) {
        Ok(c) => c,
        Err(e) => {
            if let Some(line) = e.line {
                // YAML breaks lines at CR as well as LF (and NEL, LS, PS);
                // counted generously: CR LF counts twice.
                let breaks = text
                    .chars()
                    .filter(|c| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}'))
                    .count();
                // The end of the stream is placed on the line after the
                // last one when the text has no final line break (libyaml's
                // mark: "missing field" in a one-line file is at 2:1), so
                // one line past the last is allowed.
                let lines = breaks + 2;
                assert!(
                    (1..=lines).contains(&line),
                    "error located at line {line} of a {lines}-line text: {e}"
                );
            }
            return;
        }
    };
    let yaml = config.to_yaml();
    let again = Config::parse(&yaml, path)
        .unwrap_or_else(|e| panic!("serialised config does not re-parse: {e}\n---\n{yaml}"));
    assert_eq!(
        again, config,
        "serialised config re-parses different:\n{yaml}"
    );
    assert_eq!(again.to_yaml(), yaml, "serialisation is not stable");
});
