//! `pail drives` and `pail mount <drive-name>` as a user runs them: the drives file and the
//! secret store in a temporary home, the drive mounted from the emulator with stored keys.
//!
//! Twice: with a real Secret Service (GNOME Keyring, unlocked, on a D-Bus session bus the test
//! starts), where the drive's secret and its cache's key must be in the store and in no file,
//! and with no session bus at all, where they fall back to 0600 files with a warning.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use pail_emulator::Emulator;

const BUCKET: &str = "cli-drives";

/// A private D-Bus session bus with GNOME Keyring's Secret Service on it, its login keyring
/// created and unlocked; both end with the value (the keyring leaves with its bus).
struct SecretService {
    bus: std::process::Child,
    address: String,
    home: tempfile::TempDir,
}

impl SecretService {
    fn start() -> Self {
        let home = tempfile::tempdir().expect("keyring home");
        let socket = home.path().join("bus");
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:path={}", socket.display()))
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon (Debian package dbus)");
        // The daemon prints its address once it listens.
        let address = BufReader::new(bus.stdout.take().expect("stdout"))
            .lines()
            .next()
            .expect("an address")
            .expect("read");
        let me = Self { bus, address, home };
        // `--unlock` reads the login keyring's password on stdin; the command returns once the
        // daemon it forks serves the bus.
        let mut keyring = me
            .env(&mut Command::new("gnome-keyring-daemon"))
            .args(["--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon (Debian package gnome-keyring)");
        {
            use std::io::Write;
            let mut stdin = keyring.stdin.take().expect("stdin");
            stdin.write_all(b"test-password").expect("password");
        }
        assert!(keyring.wait().expect("wait").success(), "the keyring starts");
        me
    }

    /// `cmd` on this bus, with the keyring's files in its own home.
    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_DATA_HOME", self.home.path().join("data"))
            .env("HOME", self.home.path())
    }

    /// The secret the store holds as pail's `name`, if any (asked with libsecret's tool).
    fn lookup(&self, name: &str) -> Option<String> {
        let out = self
            .env(&mut Command::new("secret-tool"))
            .args(["lookup", "service", "pail", "username", name])
            .output()
            .expect("secret-tool (Debian package libsecret-tools)");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// How many of pail's entries have a name starting with `prefix`.
    fn count(&self, prefix: &str) -> usize {
        let out = self
            .env(&mut Command::new("secret-tool"))
            .args(["search", "--all", "service", "pail"])
            .output()
            .expect("secret-tool");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        text.lines()
            .filter(|l| l.trim_start().starts_with("attribute.username = ") && l.contains(&format!("= {prefix}")))
            .count()
    }
}

impl SecretService {
    /// Locks the login keyring, as a screen lock or a timeout does.
    fn lock(&self) {
        let status = self
            .env(&mut Command::new("dbus-send"))
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ])
            .stdout(Stdio::null())
            .status()
            .expect("dbus-send");
        assert!(status.success(), "the keyring locks");
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

fn pail(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pail"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PAIL_DRIVES_FILE", home.join("pail/drives.toml"));
    cmd
}

#[test]
fn a_saved_drive_mounts_by_name_with_its_keys_in_the_secret_service() {
    let store = SecretService::start();
    saved_drive_round_trip(Some(&store));

    // A locked store is said in one line, and no secret goes to a file behind its back.
    store.lock();
    let home = tempfile::tempdir().expect("home");
    let add = pail(home.path())
        .env("DBUS_SESSION_BUS_ADDRESS", &store.address)
        .env("PAIL_SECRET_ACCESS_KEY", "a-secret")
        .args(["drives", "add", "locked", "bucket-x", "--access-key-id", "AKID"])
        .output()
        .expect("add");
    let err = String::from_utf8_lossy(&add.stderr);
    assert_eq!(add.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("locked") && err.contains("unlock it"), "{err}");
    assert!(files_below(&home.path().join("pail/secrets")).is_empty());
}

#[test]
fn without_a_secret_service_the_keys_fall_back_to_private_files() {
    saved_drive_round_trip(None);
}

/// Files below `dir`, with their contents.
fn files_below(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

fn saved_drive_round_trip(store: Option<&SecretService>) {
    let pail = |home: &Path| {
        let mut cmd = pail(home);
        if let Some(s) = store {
            cmd.env("DBUS_SESSION_BUS_ADDRESS", &s.address);
        }
        cmd
    };
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let emu = rt.block_on(Emulator::start_with_buckets(&[BUCKET])).expect("emulator");
    emu.put(BUCKET, "docs/hello.txt", &b"hello"[..]).expect("seed");
    let (ak, sk) = emu.credentials();
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");

    let add = pail(home.path())
        .env("PAIL_SECRET_ACCESS_KEY", sk)
        .args(["drives", "add", "docs", &format!("{BUCKET}/docs"), "--mount-point"])
        .arg(dir.path())
        .args([
            "--access-key-id",
            ak,
            "--endpoint-url",
            &emu.endpoint(),
            "--region",
            "us-east-1",
        ])
        .output()
        .expect("add");
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let file = std::fs::read_to_string(home.path().join("pail/drives.toml")).expect("drives file");
    assert!(file.contains("name = \"docs\"") && !file.contains(sk), "{file}");
    use std::os::unix::fs::PermissionsExt;
    let secrets = home.path().join("pail/secrets");
    let warned = String::from_utf8_lossy(&add.stderr).contains("no system secret store is reachable");
    match store {
        Some(s) => {
            assert_eq!(
                s.lookup("drive:docs").as_deref(),
                Some(sk),
                "the secret is in the Secret Service"
            );
            assert!(files_below(&secrets).is_empty(), "and in no file");
            assert!(!warned, "{}", String::from_utf8_lossy(&add.stderr));
        }
        None => {
            let kept = files_below(&secrets);
            assert_eq!(kept.len(), 1, "{kept:?}");
            assert_eq!(kept[0].1, sk.as_bytes());
            let mode = std::fs::metadata(&kept[0].0).expect("secret").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            assert!(warned, "the fallback is said: {}", String::from_utf8_lossy(&add.stderr));
        }
    }

    let list = pail(home.path()).args(["drives", "list"]).output().expect("list");
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.starts_with(&format!("docs\ts3://{BUCKET}/docs\t")), "{text}");

    let mut child = pail(home.path())
        .args(["mount", "docs"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mount");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    assert!(first.starts_with(&format!("Mounted s3://{BUCKET}/docs/")), "{first}");
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    assert_eq!(std::fs::read(dir.path().join("hello.txt")).expect("read"), b"hello");
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill")
            .success()
    );
    assert!(child.wait().expect("wait").success());
    drain.join().expect("drain");
    // The mount made its cache a key, kept where the drive's secret is.
    let cache = home.path().join(".cache/pail").join(BUCKET).join("docs");
    assert_eq!(
        std::fs::read_to_string(cache.join("write/key.id"))
            .map(|s| s.trim().len())
            .ok(),
        Some(16),
        "the cache names its key"
    );
    match store {
        Some(s) => assert_eq!(s.count("cache:"), 1, "the cache's key is in the store"),
        None => assert_eq!(
            files_below(&secrets).len(),
            2,
            "the cache's key beside the drive's secret"
        ),
    }

    let forget = pail(home.path()).args(["forget", "docs"]).output().expect("forget");
    assert!(forget.status.success(), "{}", String::from_utf8_lossy(&forget.stderr));
    assert!(!cache.exists(), "the cache is gone");
    match store {
        Some(s) => assert_eq!(s.count("cache:"), 0, "and its key"),
        None => assert_eq!(files_below(&secrets).len(), 1, "and its key"),
    }

    let remove = pail(home.path())
        .args(["drives", "remove", "docs"])
        .output()
        .expect("remove");
    assert!(remove.status.success());
    match store {
        Some(s) => assert_eq!(s.lookup("drive:docs"), None, "the secret is forgotten with the drive"),
        None => assert!(
            files_below(&secrets).is_empty(),
            "the secret is forgotten with the drive"
        ),
    }
    let unknown = pail(home.path())
        .args(["mount", "docs"])
        .output()
        .expect("mount unknown");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no drive named \"docs\""));
}
