//! The keepalived.conf importer (src/keepalived/): `import_str` never
//! panics, and what it produces passes the validation `vipctl check` runs
//! (`Config::parse` of the YAML `vipctl import-keepalived` prints) and
//! parses back to the imported configuration.
//!
//! `vipctl check` also asks the host whether the script user and scripts
//! exist (`io::track::security`); that part depends on the machine and is
//! not run here. Inputs with `include` are skipped: following an include
//! reads the file system (any absolute glob), which belongs in unit tests,
//! not in a fuzzer that could read /dev/zero or walk /.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use vipd::config::Config;
use vipd::keepalived::import_str;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("include") {
        return;
    }
    let origin = Path::new("/nonexistent-vipd-fuzz/keepalived.conf");
    let Ok(import) = import_str(text, origin) else {
        return;
    };
    let yaml = import.config.to_yaml();
    let checked = Config::parse(&yaml, Path::new("imported.yaml"))
        .unwrap_or_else(|e| panic!("imported config fails vipctl check: {e}\n---\n{yaml}"));
    assert_eq!(
        checked, import.config,
        "imported config re-parses different:\n{yaml}"
    );
});
