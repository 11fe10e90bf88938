//! `pail login` and `pail mount` with an IAM Identity Center profile (and `pail login` with a
//! company IdP profile), as a user runs them: a
//! child process reaching pail-emulator through the standard `AWS_ENDPOINT_URL_*` variables,
//! the test acting as the user's browser. Its whole stderr log is checked for secrets.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

use pail_emulator::Emulator;

const BUCKET: &str = "cli-sso";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn pail(emu: &Emulator, home: &Path) -> Command {
    let identity = emu.identity_endpoint();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pail"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("aws-config"))
        .env("AWS_ENDPOINT_URL_SSO_OIDC", &identity)
        .env("AWS_ENDPOINT_URL_SSO", &identity)
        .env("AWS_ENDPOINT_URL_STS", &identity)
        // The most verbose setting a user can ask for: still no secret may reach the log.
        .env("PAIL_LOG", "trace");
    cmd
}

/// Reads stderr until the sign-in prompt, approves (or denies) it as `user`, and returns the
/// rest of stderr once the process closes it.
fn answer_prompt(
    rt: &tokio::runtime::Runtime,
    stderr: impl Read + Send + 'static,
    user: Option<&str>,
) -> std::thread::JoinHandle<String> {
    let mut lines = BufReader::new(stderr).lines();
    let mut log = String::new();
    let url = loop {
        let line = lines.next().expect("a sign-in prompt on stderr").expect("utf-8");
        log.push_str(&line);
        log.push('\n');
        if let Some(url) = line.trim().strip_prefix("open ") {
            break url.to_owned();
        }
    };
    // The company IdP's authorize page, or Identity Center's device verification page.
    let page = if url.contains("/idp/authorize") {
        rt.block_on(pail_emulator::browser::authorize(&url, user))
    } else {
        rt.block_on(pail_emulator::browser::decide(&url, user))
    }
    .expect("sign-in page");
    assert_eq!(page.status, 200, "{}", page.body);
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            log.push_str(&line);
            log.push('\n');
        }
        log
    })
}

/// Runs `pail login --profile corp --no-browser`, answering its prompt as `user` (or denying):
/// its exit status, stdout and stderr.
fn login(
    rt: &tokio::runtime::Runtime,
    emu: &Emulator,
    home: &Path,
    user: Option<&str>,
) -> (ExitStatus, String, String) {
    let mut login = pail(emu, home)
        .args(["login", "--profile", "corp", "--no-browser"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn login");
    let log = answer_prompt(rt, login.stderr.take().expect("stderr"), user);
    let mut out = String::new();
    login
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("stdout");
    let status = login.wait().expect("wait");
    (status, out, log.join().expect("stderr"))
}

fn assert_no_secrets(emu: &Emulator, log: &str) {
    for secret in emu.identity().issued_secrets() {
        assert!(
            !log.contains(&secret),
            "a secret issued by the emulator appears in pail's output"
        );
    }
}

#[test]
fn login_then_mount_my_folder_with_the_cached_sign_in() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE"
    );
    let rt = runtime();
    let emu = rt.block_on(Emulator::start_with_buckets(&[BUCKET])).expect("emulator");
    emu.set_per_user_policy(true);
    let me = format!("{}:alice@example.com", pail_emulator::ROLE_ID);
    emu.put(BUCKET, &format!("{me}/hello.txt"), &b"hello alice"[..])
        .expect("seed");
    let home = tempfile::tempdir().expect("home");
    std::fs::write(home.path().join("aws-config"), pail_emulator::sso_config("corp")).expect("config");

    let (status, out, log) = login(&rt, &emu, home.path(), Some("alice@example.com"));
    assert!(status.success(), "{out}");
    assert!(out.contains(&format!("Signed in as {me}")), "{out}");
    assert_no_secrets(&emu, &log);
    let cache = home
        .path()
        .join(".aws/sso/cache")
        .join(format!("{}.json", pail_auth::cache_key("corp")));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cache).expect("token cache").permissions().mode() & 0o777,
        0o600
    );

    // The cached access token has expired (as it will by the next morning): the mount renews
    // it with the refresh token, without a new sign-in, and the renewal's secrets stay out of
    // its trace log too.
    let mut cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).expect("token cache")).expect("json");
    let before = cached["accessToken"].as_str().expect("an access token").to_owned();
    cached["expiresAt"] = serde_json::Value::String("2020-01-01T00:00:00Z".into());
    std::fs::write(&cache, serde_json::to_vec(&cached).expect("json")).expect("expire the token");

    // Mounting the per-user folder needs no new sign-in: the cache is used.
    let dir = tempfile::tempdir().expect("dir");
    let mut mount = pail(&emu, home.path())
        .args([
            "mount",
            &format!("{BUCKET}/${{aws:userid}}"),
            dir.path().to_str().expect("utf-8"),
            "--profile",
            "corp",
            "--no-browser",
            "--endpoint-url",
            &emu.endpoint(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mount");
    // Read stderr as it comes: a full pipe would block the mount's logging.
    let mut stderr = mount.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let mut lines = BufReader::new(mount.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    assert!(first.starts_with(&format!("Mounted s3://{BUCKET}/{me}/")), "{first}");
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    assert_eq!(
        std::fs::read(dir.path().join("hello.txt")).expect("read"),
        b"hello alice"
    );
    let status = pail(&emu, home.path()).arg("status").output().expect("status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("sign-in valid until") || text.contains("renew before"),
        "{text}"
    );
    assert!(
        Command::new("kill")
            .args(["-TERM", &mount.id().to_string()])
            .status()
            .expect("kill")
            .success()
    );
    assert!(mount.wait().expect("wait").success());
    drain.join().expect("drain");
    let err = err_reader.join().expect("stderr");
    assert!(
        !err.contains("Sign in with your company account"),
        "no new sign-in: {err}"
    );
    let renewed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).expect("token cache")).expect("json");
    assert_ne!(
        renewed["accessToken"].as_str(),
        Some(before.as_str()),
        "the token was renewed"
    );
    assert_no_secrets(&emu, &err);
}

#[test]
fn denied_sign_in_and_unknown_profiles_say_what_to_do() {
    let rt = runtime();
    let emu = rt.block_on(Emulator::start_with_buckets(&[BUCKET])).expect("emulator");
    let home = tempfile::tempdir().expect("home");
    std::fs::write(home.path().join("aws-config"), pail_emulator::sso_config("corp")).expect("config");

    let (exit, _, log) = login(&rt, &emu, home.path(), None);
    assert_eq!(exit.code(), Some(2), "{log}");
    assert!(
        log.contains("pail: error: the sign-in was denied in the browser"),
        "{log}"
    );

    let out = pail(&emu, home.path())
        .args(["login", "--profile", "nope"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no profile \"nope\"") && err.contains("profiles there: corp"),
        "{err}"
    );
}

#[test]
fn demo_with_sso_signs_in_and_mounts_my_folder() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE"
    );
    let rt = runtime();
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");
    let mut demo = Command::new(env!("CARGO_BIN_EXE_pail"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .args(["demo", "--sso", "--no-browser", "--big-file-size", "0", "--mountpoint"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn demo");
    let log = answer_prompt(&rt, demo.stderr.take().expect("stderr"), Some("zoe@example.com"));
    let mounted = BufReader::new(demo.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("Mounted "))
        .expect("a Mounted line");
    assert!(mounted.contains(":zoe@example.com/"), "{mounted}");
    assert!(
        std::fs::read_to_string(dir.path().join("README.txt"))
            .expect("read")
            .contains("pail")
    );
    assert!(
        Command::new("kill")
            .args(["-TERM", &demo.id().to_string()])
            .status()
            .expect("kill")
            .success()
    );
    assert!(demo.wait().expect("wait").success());
    log.join().expect("stderr");
}

#[test]
fn login_with_a_company_idp_profile_prints_the_page_and_signs_in() {
    let rt = runtime();
    let emu = rt.block_on(Emulator::start_with_buckets(&[BUCKET])).expect("emulator");
    let home = tempfile::tempdir().expect("home");
    std::fs::write(home.path().join("aws-config"), emu.federated_config("corp")).expect("config");
    let (status, out, log) = login(&rt, &emu, home.path(), Some("frank@example.com"));
    assert!(status.success(), "{out}");
    let me = format!("{}:frank@example.com", pail_emulator::FEDERATED_ROLE_ID);
    assert!(out.contains(&format!("Signed in as {me}")), "{out}");
    assert!(
        !log.contains("check that it shows the code"),
        "no code to compare: {log}"
    );
    assert_no_secrets(&emu, &log);
}
