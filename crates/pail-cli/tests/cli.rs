//! `pail mount` as a user runs it: a child process against pail-emulator on 127.0.0.1. Bad
//! input must give one line saying what to fix, a non-zero exit code, and nothing mounted.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use pail_emulator::Emulator;

const BUCKET: &str = "cli-test";

fn pail(emu: &Emulator, home: &Path) -> Command {
    let (ak, sk) = emu.credentials();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pail"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", pail_emulator::REGION)
        .env("AWS_ACCESS_KEY_ID", ak)
        .env("AWS_SECRET_ACCESS_KEY", sk);
    cmd
}

fn is_mounted(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("mounts");
    let dir = dir.to_string_lossy();
    mounts.lines().any(|l| l.split(' ').nth(1) == Some(&*dir))
}

struct Setup {
    _rt: tokio::runtime::Runtime,
    emu: Emulator,
    home: tempfile::TempDir,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let emu = rt.block_on(Emulator::start_with_buckets(&[BUCKET])).expect("emulator");
    emu.put(BUCKET, "docs/hello.txt", &b"hello"[..]).expect("seed");
    Setup {
        _rt: rt,
        emu,
        home: tempfile::tempdir().expect("home"),
        dir: tempfile::tempdir().expect("dir"),
    }
}

/// `pail mount <target> <dir> --endpoint-url <endpoint>`, expected to fail: its one-line error.
fn mount_fails(s: &Setup, target: &str, dir: &Path, endpoint: &str) -> String {
    fails(
        s,
        &[
            "mount",
            target,
            dir.to_str().expect("utf-8"),
            "--endpoint-url",
            endpoint,
        ],
    )
}

/// Runs `pail` with `args`, expects failure, and returns its one-line error.
fn fails(s: &Setup, args: &[&str]) -> String {
    let out = pail(&s.emu, s.home.path()).args(args).output().expect("run pail");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert!(!out.status.success(), "{args:?} should fail; stderr: {stderr}");
    assert_eq!(out.status.code(), Some(2), "usage errors exit with 2: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, got: {stderr}");
    assert!(!is_mounted(s.dir.path()), "nothing may stay mounted");
    stderr
}

#[test]
fn unknown_flag_is_refused() {
    let s = setup();
    let err = fails(&s, &["mount", "--no-such-flag", BUCKET, "/tmp"]);
    assert!(err.contains("--no-such-flag"), "{err}");
}

#[test]
fn missing_or_non_empty_mount_dir_is_refused() {
    let s = setup();
    let ep = s.emu.endpoint();
    let missing = s.dir.path().join("nope");
    let err = mount_fails(&s, BUCKET, &missing, &ep);
    assert!(err.contains("does not exist") && err.contains("mkdir"), "{err}");
    std::fs::write(s.dir.path().join("occupied"), b"x").expect("write");
    let err = mount_fails(&s, BUCKET, s.dir.path(), &ep);
    assert!(err.contains("not empty"), "{err}");
}

#[test]
fn invalid_bucket_name_is_refused() {
    let s = setup();
    let err = fails(&s, &["mount", "Bad_Bucket", s.dir.path().to_str().expect("utf-8")]);
    assert!(err.contains("not a valid bucket name"), "{err}");
}

#[test]
fn wrong_bucket_says_to_check_the_bucket_name() {
    let s = setup();
    let ep = s.emu.endpoint();
    let err = mount_fails(&s, "no-such-bucket", s.dir.path(), &ep);
    assert!(err.contains("does not exist") && err.contains("bucket name"), "{err}");
}

#[test]
fn refused_endpoint_says_to_check_the_endpoint() {
    let s = setup();
    // A port nothing listens on: bind it, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let ep = format!("http://127.0.0.1:{port}");
    let err = mount_fails(&s, BUCKET, s.dir.path(), &ep);
    assert!(err.contains("cannot reach") && err.contains("--endpoint-url"), "{err}");
}

#[test]
fn wrong_keys_say_to_check_the_keys() {
    let s = setup();
    let ep = s.emu.endpoint();
    let out = pail(&s.emu, s.home.path())
        .env("AWS_SECRET_ACCESS_KEY", "wrong")
        .args([
            "mount",
            BUCKET,
            s.dir.path().to_str().expect("utf-8"),
            "--endpoint-url",
            &ep,
        ])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refused the access key"), "{err}");
    assert!(!is_mounted(s.dir.path()));
}

/// Starts `pail mount <target> <dir>` and returns once it says it is mounted (its first line),
/// with the rest of its output still being read so the child never writes into a closed pipe.
fn spawn_mount(s: &Setup, target: &str) -> (std::process::Child, std::thread::JoinHandle<()>) {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE"
    );
    let dir = s.dir.path().to_str().expect("utf-8");
    let child = pail(&s.emu, s.home.path())
        .args(["mount", target, dir, "--endpoint-url", &s.emu.endpoint()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    once_mounted(child, &format!("Mounted s3://{target}/"))
}

/// Waits for a `pail mount` child's first line (which must start with `first`), then keeps
/// reading the rest so the child never writes into a closed pipe.
fn once_mounted(mut child: std::process::Child, first: &str) -> (std::process::Child, std::thread::JoinHandle<()>) {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = lines.next().expect("a line").expect("utf-8");
    assert!(line.starts_with(first), "{line}");
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (child, drain)
}

#[test]
fn mount_serves_files_and_sigterm_unmounts_cleanly() {
    let s = setup();
    let (mut child, output) = spawn_mount(&s, BUCKET);
    assert_eq!(
        std::fs::read(s.dir.path().join("docs/hello.txt")).expect("read through the mount"),
        b"hello"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    output.join().expect("output reader");
    assert!(exit.success(), "clean exit after SIGTERM: {exit:?}");
    assert!(!is_mounted(s.dir.path()), "unmounted");
}

#[test]
fn pail_unmount_ends_the_mount_process() {
    let s = setup();
    let (mut child, output) = spawn_mount(&s, &format!("{BUCKET}/docs"));
    let dir = s.dir.path().to_str().expect("utf-8").to_owned();
    assert_eq!(std::fs::read(s.dir.path().join("hello.txt")).expect("read"), b"hello");
    let out = pail(&s.emu, s.home.path())
        .args(["unmount", &dir])
        .output()
        .expect("unmount");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(child.wait().expect("wait").success());
    output.join().expect("output reader");
    assert!(!is_mounted(s.dir.path()));
}

#[test]
fn demo_serves_its_sample_files_until_sigterm() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE"
    );
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pail"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args([
            "demo",
            "--mountpoint",
            dir.path().to_str().expect("utf-8"),
            "--big-file-size",
            "3MiB",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mounted = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("Mounted "))
        .expect("the demo says where it is mounted");
    assert!(mounted.contains(dir.path().to_str().expect("utf-8")), "{mounted}");
    let output = std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    let readme = std::fs::read_to_string(dir.path().join("README.txt")).expect("README through the mount");
    assert!(readme.contains("pail"), "{readme}");
    assert_eq!(
        std::fs::metadata(dir.path().join("Large/random-3MiB.bin"))
            .expect("big file")
            .len(),
        3 << 20
    );
    assert!(dir.path().join("Documents/Minutes").is_dir());
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert!(child.wait().expect("wait").success());
    output.join().expect("output reader");
    assert!(!is_mounted(dir.path()));
}

/// `pail mount` with a chosen cache directory and write-back delay; returns once mounted.
fn spawn_writable(s: &Setup, cache: &Path, delay: &str) -> (std::process::Child, std::thread::JoinHandle<()>) {
    let dir = s.dir.path().to_str().expect("utf-8");
    let child = pail(&s.emu, s.home.path())
        .args(["mount", BUCKET, dir, "--endpoint-url", &s.emu.endpoint()])
        .args([
            "--cache-dir",
            cache.to_str().expect("utf-8"),
            "--write-back-delay",
            delay,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    once_mounted(child, "Mounted s3://")
}

fn run_pail(s: &Setup, args: &[&str]) -> String {
    let out = pail(&s.emu, s.home.path()).args(args).output().expect("run pail");
    assert!(
        out.status.success(),
        "pail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn small_file(i: usize) -> Vec<u8> {
    format!("file {i}\n").repeat(1 + i % 50).into_bytes()
}

#[test]
fn kill_9_during_writes_loses_nothing_that_was_closed() {
    let s = setup();
    let cache = tempfile::tempdir().expect("cache");
    let (mut child, output) = spawn_writable(&s, cache.path(), "0.2");
    let burst = s.dir.path().join("burst");
    std::fs::create_dir(&burst).expect("mkdir");
    for i in 0..200 {
        std::fs::write(burst.join(format!("f{i:03}.txt")), small_file(i)).expect("write");
    }
    // A 300 MiB file is being written when the process dies: it was never closed, so nothing is
    // promised for it — but nothing closed before may be lost.
    let big = std::fs::File::create(s.dir.path().join("big.bin")).expect("create big");
    let chunk = vec![0x5a; 4 << 20];
    for _ in 0..40 {
        std::io::Write::write_all(&mut &big, &chunk).expect("write big");
    }
    Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .expect("kill -9");
    child.wait().expect("reaped");
    output.join().expect("output reader");
    drop(big);
    // The dead mount must be detached before the directory can be mounted again.
    let detached = Command::new("fusermount3")
        .args(["-u", "-z"])
        .arg(s.dir.path())
        .status()
        .expect("fusermount3");
    assert!(detached.success());

    let (mut child, output) = spawn_writable(&s, cache.path(), "0.2");
    run_pail(&s, &["unmount", s.dir.path().to_str().expect("utf-8")]);
    assert!(child.wait().expect("wait").success());
    output.join().expect("output reader");
    for i in 0..200 {
        let key = format!("burst/f{i:03}.txt");
        let got = s._rt.block_on(s.emu.get(BUCKET, &key));
        assert_eq!(got.as_deref(), Some(&small_file(i)[..]), "{key}");
    }
    let journal = std::fs::read_dir(cache.path().join("write/journal"))
        .expect("journal")
        .count();
    assert_eq!(journal, 0, "nothing left pending");
    assert_eq!(
        s.emu.open_multipart_uploads(),
        0,
        "the parts the dead mount had sent of big.bin were aborted by the next one"
    );
    // Nor in the journal's slots: a third mount of the same cache sends nothing.
    let writes = s.emu.write_log().len();
    let (mut child, output) = spawn_writable(&s, cache.path(), "0.2");
    run_pail(&s, &["unmount", s.dir.path().to_str().expect("utf-8")]);
    assert!(child.wait().expect("wait").success());
    output.join().expect("output reader");
    assert_eq!(s.emu.write_log().len(), writes, "a finished record came back");
}

#[test]
fn status_shows_pending_uploads_and_unmount_force_keeps_them_for_the_next_mount() {
    let s = setup();
    let cache = tempfile::tempdir().expect("cache");
    let dir = s.dir.path().to_str().expect("utf-8").to_owned();
    let (mut child, output) = spawn_writable(&s, cache.path(), "3600");
    for i in 0..3 {
        std::fs::write(s.dir.path().join(format!("p{i}.txt")), small_file(i)).expect("write");
    }
    // The status file is rewritten twice a second by the mount; read it until it shows them.
    let status = loop {
        let out = run_pail(&s, &["status"]);
        if out.contains("pending uploads: 3 files") {
            break out;
        }
        std::thread::yield_now();
    };
    assert!(status.contains(&dir), "{status}");
    let out = run_pail(&s, &["unmount", "--force", &dir]);
    assert!(out.contains("are kept in"), "{out}");
    assert!(child.wait().expect("wait").success());
    output.join().expect("output reader");
    assert!(
        s._rt.block_on(s.emu.get(BUCKET, "p0.txt")).is_none(),
        "forced: not uploaded"
    );

    let (mut child, output) = spawn_writable(&s, cache.path(), "3600");
    assert_eq!(
        std::fs::read(s.dir.path().join("p1.txt")).expect("pending file visible"),
        small_file(1)
    );
    let out = run_pail(&s, &["unmount", &dir]);
    assert!(out.contains("All changes are on S3"), "{out}");
    assert!(child.wait().expect("wait").success());
    output.join().expect("output reader");
    for i in 0..3 {
        let got = s._rt.block_on(s.emu.get(BUCKET, &format!("p{i}.txt")));
        assert_eq!(got.as_deref(), Some(&small_file(i)[..]));
    }
}

/// Issue 20: another user cannot plant the list of running mounts in a shared temporary folder
/// (no XDG_RUNTIME_DIR) to make `pail status` show a sign-in page of theirs.
#[cfg(unix)]
#[test]
fn a_mount_list_planted_in_the_shared_temp_folder_is_refused() {
    use std::os::unix::fs::MetadataExt;
    let s = setup();
    let tmp = tempfile::tempdir().expect("tmp");
    // Their folder where pail's per-user one would be, with a record of a running process whose
    // status asks to "sign in again" on their page.
    let theirs = tmp.path().join("theirs");
    let cache = theirs.join("cache");
    std::fs::create_dir_all(theirs.join("mounts")).expect("mkdir");
    std::fs::create_dir_all(&cache).expect("mkdir");
    let record = serde_json::json!({
        "pid": std::process::id(), "dir": "/srv/x", "cache_dir": cache, "target": "s3://payroll",
    });
    std::fs::write(theirs.join("mounts/0000000000000001.json"), record.to_string()).expect("record");
    let status = serde_json::json!({
        "state": "mounted", "pending_files": 0, "pending_bytes": 0, "uploaded_bytes": 0,
        "staged_bytes": 0, "pending_paths": [], "last_error": null, "conflicts": [],
        "unreadable_journal": [],
        "auth": {"profile": "corp", "credentials_expire": null, "token_expires": null,
                 "sign_in_url": "https://phish.invalid/start", "user_code": "PHSH-CODE", "last_error": null},
    });
    std::fs::write(cache.join("status.json"), status.to_string()).expect("status");
    let uid = std::fs::metadata("/proc/self").expect("self").uid();
    std::os::unix::fs::symlink(&theirs, tmp.path().join(format!("pail-{uid}"))).expect("plant");
    let out = pail(&s.emu, s.home.path())
        .env("TMPDIR", tmp.path())
        .arg("status")
        .output()
        .expect("pail status");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !stdout.contains("phish.invalid") && !stdout.contains("PHSH-CODE") && !stdout.contains("payroll"),
        "{stdout}"
    );
    assert!(stderr.contains("is not a folder of this user's"), "{stderr}");
}

/// Issue 20: a plain-http endpoint on another host is refused before anything is sent to it,
/// with one line naming the flag that allows it; this machine's own endpoints stay allowed.
#[test]
fn plain_http_endpoints_elsewhere_are_refused_before_any_request() {
    let s = setup();
    let dir = s.dir.path();
    let err = mount_fails(&s, BUCKET, dir, "http://s3.example.com");
    assert!(err.contains("plain http") && err.contains("--allow-http"), "{err}");
    let out = pail(&s.emu, s.home.path())
        .env("AWS_ENDPOINT_URL_S3", "http://192.0.2.10:9000")
        .args(["mount", BUCKET, dir.to_str().expect("utf-8")])
        .output()
        .expect("pail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("http://192.0.2.10:9000 is plain http"), "{stderr}");
    assert!(!is_mounted(dir));
}

/// Issue 20: without keys or a profile, pail says so in one line and never asks EC2 instance
/// metadata (pointed here at a listener of the test's own, which must see no connection).
#[test]
fn no_credentials_is_one_line_and_never_asks_instance_metadata() {
    let s = setup();
    let imds = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    imds.set_nonblocking(true).expect("nonblocking");
    let out = Command::new(env!("CARGO_BIN_EXE_pail"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", s.home.path())
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://{}", imds.local_addr().expect("addr")),
        )
        .args(["mount", BUCKET, s.dir.path().to_str().expect("utf-8")])
        .args(["--endpoint-url", &s.emu.endpoint()])
        .output()
        .expect("pail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("no credentials were found: give --profile"), "{stderr}");
    assert!(
        matches!(imds.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "instance metadata was asked"
    );
    assert!(!is_mounted(s.dir.path()));
}

/// `pail unmount --all` (what the installer runs before an upgrade replaces pail) ends every
/// mount of the user, each after its uploads.
#[test]
fn unmount_all_ends_every_mount_after_its_uploads() {
    use std::os::unix::fs::DirBuilderExt;
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE"
    );
    let s = setup();
    // A registry of running mounts of this test's own, not the machine's.
    let run = s.home.path().join("run");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&run)
        .expect("runtime dir");
    let second = tempfile::tempdir().expect("second mount point");
    let mount = |target: &str, dir: &Path| {
        let child = pail(&s.emu, s.home.path())
            .env("XDG_RUNTIME_DIR", &run)
            .args([
                "mount",
                target,
                dir.to_str().expect("utf-8"),
                "--endpoint-url",
                &s.emu.endpoint(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        once_mounted(child, "Mounted s3://")
    };
    let (mut one, one_out) = mount(BUCKET, s.dir.path());
    let (mut two, two_out) = mount(&format!("{BUCKET}/docs"), second.path());
    std::fs::write(s.dir.path().join("new.txt"), b"written just before").expect("write");
    let out = pail(&s.emu, s.home.path())
        .env("XDG_RUNTIME_DIR", &run)
        .args(["unmount", "--all"])
        .output()
        .expect("unmount --all");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(one.wait().expect("wait").success());
    assert!(two.wait().expect("wait").success());
    one_out.join().expect("output reader");
    two_out.join().expect("output reader");
    assert!(!is_mounted(s.dir.path()) && !is_mounted(second.path()));
    assert!(
        s.emu.head(BUCKET, "new.txt").is_some(),
        "uploaded before the mount ended"
    );
    let again = pail(&s.emu, s.home.path())
        .env("XDG_RUNTIME_DIR", &run)
        .args(["unmount", "--all"])
        .output()
        .expect("unmount --all");
    assert!(String::from_utf8_lossy(&again.stdout).contains("No pail drive is mounted"));
}
