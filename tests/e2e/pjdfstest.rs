//! pjdfstest, the POSIX file-system conformance suite nobody here wrote, through a real mount
//! against pail-emulator (issue 17): the groups open, mkdir, rmdir, unlink, rename, truncate,
//! ftruncate, utimensat and chmod (pjdfstest has no separate create group: `open/` holds the
//! `O_CREAT` cases). Every failing assertion must be on `pjdfstest-expected.txt` with the
//! reason S3 or the mount's design imposes; any other failure fails the test, and so does a
//! listed assertion that now passes.
//!
//! `./dev test` builds pjdfstest from `../shared/vendor/` into `~/.cache/pail/` and names it in
//! `PAIL_PJDFSTEST`. Without it this test fails with that instruction; it never skips. pjdfstest
//! switches uid for its permission cases, so it must run as root, as CI does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use pail_tests::{DriveOptions, TestDrive};

const GROUPS: [&str; 9] = [
    "open",
    "mkdir",
    "rmdir",
    "unlink",
    "rename",
    "truncate",
    "ftruncate",
    "utimensat",
    "chmod",
];

/// Where pjdfstest was built: the folder holding the `pjdfstest` binary and `tests/`.
fn pjdfstest_dir() -> PathBuf {
    let dir = std::env::var_os("PAIL_PJDFSTEST")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/pail/pjdfstest-85a8aea")))
        .unwrap_or_default();
    assert!(
        dir.join("pjdfstest").is_file() && dir.join("tests/misc.sh").is_file(),
        "pjdfstest is not built at {}: run `./dev test`, which builds it from ../shared/vendor/, \
         or set PAIL_PJDFSTEST to a built tree",
        dir.display()
    );
    dir
}

/// The expected failures: (file, assertion) → reason code, and the reasons' texts.
struct Expected {
    failures: BTreeMap<(String, u32), String>,
    reasons: BTreeMap<String, String>,
}

fn expected() -> Expected {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/pjdfstest-expected.txt");
    let text = std::fs::read_to_string(&path).expect("pjdfstest-expected.txt");
    let mut ex = Expected {
        failures: BTreeMap::new(),
        reasons: BTreeMap::new(),
    };
    for (no, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", path.display(), no + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let (first, code) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
        if first == "reason" {
            let text = line.splitn(3, char::is_whitespace).nth(2).unwrap_or_default().trim();
            assert!(!text.is_empty(), "{}: reason {code} has no text", at());
            ex.reasons.insert(code.to_owned(), text.to_owned());
            continue;
        }
        assert!(ex.reasons.contains_key(code), "{}: unknown reason {code:?}", at());
        for item in words {
            let (lo, hi) = item.split_once('-').unwrap_or((item, item));
            let (lo, hi): (u32, u32) = (
                lo.parse().unwrap_or_else(|_| panic!("{}: bad number {item:?}", at())),
                hi.parse().unwrap_or_else(|_| panic!("{}: bad number {item:?}", at())),
            );
            for n in lo..=hi {
                let old = ex.failures.insert((first.to_owned(), n), code.to_owned());
                assert!(old.is_none(), "{}: {first} {n} is listed twice", at());
            }
        }
    }
    ex
}

/// What one `.t` file reported: its plan and the assertions that failed (a TAP `# TODO` failure
/// is not one). An assertion the plan promised but the file never reported counts as failed.
#[derive(Debug, Default)]
struct Outcome {
    planned: u32,
    failed: BTreeSet<u32>,
    details: BTreeMap<u32, String>,
}

fn run_file(pjd: &Path, file: &Path, cwd: &Path) -> Outcome {
    let out = Command::new("sh")
        .arg(file)
        .current_dir(cwd)
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .unwrap_or_else(|e| panic!("running {} with sh: {e}", file.display()));
    let mut o = Outcome::default();
    let mut seen = BTreeSet::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(plan) = line.strip_prefix("1..") {
            o.planned = plan.trim().parse().unwrap_or(0);
            continue;
        }
        let (ok, rest) = match (line.strip_prefix("ok "), line.strip_prefix("not ok ")) {
            (Some(r), _) => (true, r),
            (_, Some(r)) => (false, r),
            _ => continue,
        };
        let Some(n) = rest.split_whitespace().next().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        seen.insert(n);
        if !ok && !rest.contains("# TODO") {
            o.failed.insert(n);
            o.details.insert(n, line.chars().take(300).collect());
        }
    }
    assert!(
        o.planned > 0,
        "{} printed no plan (is {} built?)",
        file.display(),
        pjd.display()
    );
    for n in (1..=o.planned).filter(|n| !seen.contains(n)) {
        o.failed.insert(n);
        o.details.insert(
            n,
            format!("not reported (the script stopped early?) {}", file.display()),
        );
    }
    o
}

#[test]
#[allow(clippy::print_stdout)] // the pass count is this test's report; `./dev test` shows it
fn pjdfstest_fails_only_where_s3_or_the_design_says_so() {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    assert!(
        root,
        "pjdfstest switches uid for its permission cases: run the tests as root, as CI does"
    );
    let pjd = pjdfstest_dir();
    let expected = expected();
    let drive = TestDrive::start_with(DriveOptions::writable(), |_| {});
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for group in GROUPS {
        let mut in_group: Vec<PathBuf> = std::fs::read_dir(pjd.join("tests").join(group))
            .unwrap_or_else(|e| panic!("pjdfstest group {group}: {e}"))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "t"))
            .collect();
        in_group.sort();
        files.extend(in_group.into_iter().map(|p| {
            let name = format!("{group}/{}", p.file_name().unwrap_or_default().to_string_lossy());
            (name, p)
        }));
    }

    // Two files at a time, each in a folder of its own on the drive (pjdfstest's names are
    // random, and no file looks outside its working folder).
    let results: Mutex<BTreeMap<String, Outcome>> = Mutex::default();
    let next = Mutex::new(files.iter());
    std::thread::scope(|s| {
        for worker in 0..2 {
            let (next, results, pjd, drive) = (&next, &results, &pjd, &drive);
            s.spawn(move || {
                let cwd = drive.path(&format!("pjd{worker}"));
                std::fs::create_dir_all(&cwd).expect("a working folder on the drive");
                loop {
                    let Some((name, file)) = next.lock().expect("queue").next() else {
                        break;
                    };
                    let outcome = run_file(pjd, file, &cwd);
                    results.lock().expect("results").insert(name.clone(), outcome);
                }
            });
        }
    });

    let results = results.into_inner().expect("results");
    let (mut planned, mut failed) = (0, 0);
    let mut unexpected = Vec::new();
    let mut now_passing = Vec::new();
    let mut by_reason: BTreeMap<&str, u32> = BTreeMap::new();
    for (name, o) in &results {
        planned += o.planned;
        failed += o.failed.len() as u32;
        for n in &o.failed {
            match expected.failures.get(&(name.clone(), *n)) {
                Some(code) => *by_reason.entry(code.as_str()).or_default() += 1,
                None => unexpected.push(format!("{name} {n}: {}", o.details[n])),
            }
        }
        let listed = expected.failures.range((name.clone(), 0)..=(name.clone(), u32::MAX));
        for ((_, n), code) in listed {
            if !o.failed.contains(n) {
                now_passing.push(format!("{name} {n} (listed as {code})"));
            }
        }
    }
    let unknown_files: Vec<&String> = expected
        .failures
        .keys()
        .map(|(f, _)| f)
        .filter(|f| !results.contains_key(*f))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    println!(
        "pjdfstest: {} files, {planned} assertions, {} passed, {failed} failed, all expected: {by_reason:?}",
        results.len(),
        planned - failed
    );
    assert!(
        unknown_files.is_empty(),
        "listed files pjdfstest does not have: {unknown_files:?}"
    );
    assert!(
        unexpected.is_empty() && now_passing.is_empty(),
        "pjdfstest differs from tests/e2e/pjdfstest-expected.txt:\n{} unexpected failures:\n  {}\n{} listed \
         assertions that pass now (take them off the list):\n  {}",
        unexpected.len(),
        unexpected.join("\n  "),
        now_passing.len(),
        now_passing.join("\n  ")
    );
}
