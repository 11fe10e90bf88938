//! docs/config-reference.md names every option of the CLI, and no option it does not have.

use std::collections::BTreeSet;
use std::path::Path;

/// Every `--option` in `pail <cmd> --help`, and `(option, default)` for those with one.
fn cli_options() -> (BTreeSet<String>, Vec<(String, String)>) {
    let mut out = BTreeSet::new();
    let mut defaults = Vec::new();
    for cmd in ["mount", "unmount", "status", "login", "demo", "drives add", "forget"] {
        let help = std::process::Command::new(env!("CARGO_BIN_EXE_pail"))
            .args(cmd.split(' '))
            .arg("--help")
            .output()
            .expect("pail --help");
        for line in String::from_utf8_lossy(&help.stdout).lines() {
            let opt = line.split_whitespace().find(|w| w.starts_with("--"));
            let default = line.split("[default: ").nth(1).and_then(|d| d.split(']').next());
            if let (Some(o), Some(d)) = (opt, default) {
                defaults.push((o.to_owned(), d.to_owned()));
            }
        }
        for word in
            String::from_utf8_lossy(&help.stdout).split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        {
            let word = word.split('=').next().unwrap_or(word).trim_end_matches([':', '.']);
            if word.starts_with("--") && word.len() > 2 && word != "--help" {
                out.insert(word.to_owned());
            }
        }
    }
    (out, defaults)
}

#[test]
fn the_config_reference_names_every_cli_option_and_only_those() {
    // Read when the test runs, not when it is built: a build cache shared by two clones
    // must not send the test to the other clone's docs.
    let path = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"))
        .join("../../docs/config-reference.md");
    let reference = std::fs::read_to_string(&path).expect("docs/config-reference.md");
    let documented: BTreeSet<String> = reference
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w[2..].starts_with(|c: char| c.is_ascii_lowercase()))
        .map(str::to_owned)
        .collect();
    let (real, defaults) = cli_options();
    let missing: Vec<_> = real.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&real).filter(|o| *o != "--help").collect();
    assert!(
        missing.is_empty(),
        "options missing from docs/config-reference.md: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "docs/config-reference.md names options pail does not have: {stale:?}"
    );
    for (opt, default) in defaults {
        let rows: Vec<&str> = reference
            .lines()
            .filter(|l| l.starts_with(&format!("| `{opt}")))
            .collect();
        assert!(!rows.is_empty(), "{opt} has no row in a table");
        for row in rows {
            assert!(
                row.contains(&format!("`{default}`")),
                "{opt}: the help says default {default}; the reference row says {row}"
            );
        }
    }
}
