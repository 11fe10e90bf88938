//! Sign-in end to end: IAM Identity Center device flow (and a company IdP without it) against
//! pail-emulator, then a real FUSE mount of the signed-in user's own folder through aws-sdk-s3
//! with the renewed credentials; renewal under load, session end and re-consent, the per-user policy, and a scan of every log
//! line these runs wrote for the secrets they used.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pail_auth::{Auth, AuthConfig, AuthEvent, Endpoints, Source};
use pail_emulator::{Emulator, Lifetimes, ROLE_ID};
use pail_tests::{BUCKET, DriveOptions, TestDrive, random_bytes, runtime};
use tokio::sync::watch;

/// Every log line of this test binary, at debug level and finer for pail.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    let filter = tracing_subscriber::EnvFilter::new(
        // The emulator's S3 library logs whole requests server-side; it is not pail.
        "debug,pail_auth=trace,pail_fs=trace,pail_store=trace,s3s=info,hyper=info,h2=info",
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| LogWriter)
        .try_init();
}

/// Fails if any secret the emulator handed out appears in the captured logs.
fn assert_no_secrets_logged(emu: &Emulator) {
    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        logs.contains("signed in") || logs.contains("GetRoleCredentials"),
        "logs were captured"
    );
    for secret in emu.identity().issued_secrets() {
        if let Some(line) = logs.lines().find(|l| l.contains(&secret)) {
            let masked: String = line.replace(&secret, "<SECRET>").chars().take(600).collect();
            panic!("a secret issued by the emulator appears in the log: {masked}");
        }
    }
}

fn user_id(user: &str) -> String {
    format!("{ROLE_ID}:{user}")
}

/// A signed-in user of the emulator's Identity Center.
struct SignedIn {
    rt: tokio::runtime::Runtime,
    emu: Emulator,
    auth: Auth,
    _home: tempfile::TempDir,
    cache_dir: PathBuf,
    /// Events seen by the approver, in order.
    seen: Arc<Mutex<Vec<&'static str>>>,
    /// While true, re-consent requests wait instead of being approved.
    hold: watch::Sender<bool>,
}

/// Credentials from profile `corp` of `config` (written to `home`), with the emulator's identity
/// endpoints.
fn auth_for(emu: &Emulator, home: &std::path::Path, config: &str, consent_wait: Duration) -> AuthConfig {
    let path = home.join("config");
    std::fs::write(&path, config).expect("config");
    let config = path;
    let endpoint = emu.identity_endpoint();
    AuthConfig {
        endpoints: Endpoints::all_at(endpoint),
        token_cache_dir: Some(home.join("sso-cache")),
        consent_wait,
        ..AuthConfig::new(Source::Profile {
            name: "corp".into(),
            config_file: Some(config),
            credentials_file: Some(home.join("credentials")),
        })
    }
}

/// Approves every sign-in `auth` asks for as `user`, as the user would in the browser; holds
/// re-consent while `hold` is true.
fn spawn_approver(
    rt: &tokio::runtime::Runtime,
    auth: &Auth,
    user: &'static str,
    mut hold: watch::Receiver<bool>,
) -> Arc<Mutex<Vec<&'static str>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut events = auth.sso().expect("an SSO profile").events();
    let log = seen.clone();
    rt.spawn(async move {
        while let Ok(e) = events.recv().await {
            let (d, what) = match e {
                AuthEvent::SignInNeeded(d) => (d, "sign-in"),
                AuthEvent::ReconsentNeeded(d) => (d, "reconsent"),
                AuthEvent::SignedIn => {
                    log.lock().expect("log").push("signed-in");
                    continue;
                }
                _ => continue,
            };
            log.lock().expect("log").push(what);
            if what == "reconsent" {
                let _ = hold.wait_for(|h| !*h).await;
            }
            let page = pail_emulator::browser::decide(&d.verification_uri_complete, Some(user))
                .await
                .expect("verification page");
            assert_eq!(page.status, 200, "{}", page.body);
        }
    });
    seen
}

fn sign_in(user: &'static str, lifetimes: Lifetimes, consent_wait: Duration) -> SignedIn {
    capture_logs();
    let rt = runtime();
    let emu = rt.block_on(Emulator::start_with_buckets(&[BUCKET])).expect("emulator");
    emu.identity().set_lifetimes(lifetimes);
    emu.set_per_user_policy(true);
    let home = tempfile::tempdir().expect("home");
    let auth = rt
        .block_on(Auth::new(auth_for(
            &emu,
            home.path(),
            &pail_emulator::sso_config("corp"),
            consent_wait,
        )))
        .expect("profile");
    let (hold, held) = watch::channel(false);
    let seen = spawn_approver(&rt, &auth, user, held);
    rt.block_on(auth.sso().expect("sso").sign_in(false)).expect("signed in");
    SignedIn {
        cache_dir: home.path().join("sso-cache"),
        rt,
        emu,
        auth,
        _home: home,
        seen,
        hold,
    }
}

impl SignedIn {
    /// Mounts `${aws:userid}/` (resolved through STS) writable with these credentials.
    fn mount_own_folder(self) -> (TestDrive, Auth, Arc<Mutex<Vec<&'static str>>>, watch::Sender<bool>) {
        let drive = mount_own_folder(self.rt, self.emu, &self.auth);
        (drive, self.auth, self.seen, self.hold)
    }
}

/// Mounts `${aws:userid}/` (resolved through STS) writable with `auth`'s credentials.
fn mount_own_folder(rt: tokio::runtime::Runtime, emu: Emulator, auth: &Auth) -> TestDrive {
    let prefix = rt
        .block_on(auth.resolve_prefix("${aws:userid}/"))
        .expect("caller identity");
    let mut opts = DriveOptions::writable();
    opts.vfs.prefix = prefix;
    opts.credentials = Some((
        pail_store::Credentials::Provider(auth.credentials_provider()),
        auth.credentials_wait(),
    ));
    TestDrive::mount_on(rt, emu, opts)
}

/// The mounted own folder shows only `seeded` (name, text), and a file written to it lands
/// under `<user_id>/` in S3.
fn assert_own_folder_works(drive: &TestDrive, user_id: &str, seeded: (&str, &str), written: (&str, &str)) {
    let names: Vec<String> = std::fs::read_dir(drive.root())
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [seeded.0]);
    assert_eq!(std::fs::read_to_string(drive.path(seeded.0)).expect("read"), seeded.1);
    std::fs::write(drive.path(written.0), written.1).expect("write");
    drive.drain();
    assert_eq!(
        drive.object(&format!("{user_id}/{}", written.0)).as_deref(),
        Some(written.1.as_bytes())
    );
}

#[test]
fn device_flow_sign_in_mounts_my_own_folder_only() {
    let s = sign_in("alice@example.com", Lifetimes::default(), Duration::from_secs(30));
    let (alice, bob) = (user_id("alice@example.com"), user_id("bob@example.com"));
    s.emu
        .put(BUCKET, &format!("{alice}/notes.txt"), "alice's notes")
        .expect("seed");
    s.emu
        .put(BUCKET, &format!("{bob}/secret.txt"), "bob's secret")
        .expect("seed");
    let (drive, auth, seen, _hold) = s.mount_own_folder();
    assert_eq!(auth.sso().expect("sso").status().profile, "corp");
    assert_own_folder_works(
        &drive,
        &alice,
        ("notes.txt", "alice's notes"),
        ("new.txt", "written by alice"),
    );
    assert_eq!(*seen.lock().expect("seen"), ["sign-in", "signed-in"]);
    assert_no_secrets_logged(&drive.emu);
}

#[test]
fn another_users_folder_is_refused_even_by_path() {
    let s = sign_in("alice@example.com", Lifetimes::default(), Duration::from_secs(30));
    let (alice, bob) = (user_id("alice@example.com"), user_id("bob@example.com"));
    s.emu.put(BUCKET, &format!("{alice}/mine.txt"), "mine").expect("seed");
    s.emu
        .put(BUCKET, &format!("{bob}/secret.txt"), "bob's secret")
        .expect("seed");
    // The whole bucket, with Alice's credentials: only her folder answers.
    let mut opts = DriveOptions::writable();
    opts.probe = false;
    opts.credentials = Some((
        pail_store::Credentials::Provider(s.auth.credentials_provider()),
        s.auth.credentials_wait(),
    ));
    let drive = TestDrive::mount_on(s.rt, s.emu, opts);
    let denied = |r: std::io::Result<()>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.raw_os_error(), Some(libc::EACCES), "{what}: {e}");
    };
    denied(std::fs::read_dir(drive.root()).map(drop), "list the bucket");
    denied(std::fs::read_dir(drive.path(&bob)).map(drop), "list bob's folder");
    denied(
        std::fs::read(drive.path(&format!("{bob}/secret.txt"))).map(drop),
        "read bob's file",
    );
    denied(
        std::fs::write(drive.path(&format!("{bob}/planted.txt")), "x"),
        "write into bob's folder",
    );
    assert_eq!(
        std::fs::read_to_string(drive.path(&format!("{alice}/mine.txt"))).expect("own file"),
        "mine"
    );
    assert!(drive.emu.head(BUCKET, &format!("{bob}/planted.txt")).is_none());
}

#[test]
fn a_sign_in_cached_by_the_aws_cli_is_used_without_the_browser() {
    let s = sign_in("carol@example.com", Lifetimes::default(), Duration::from_secs(30));
    // Rewrite the cache file exactly as `aws sso login` lays it out.
    let file = s.cache_dir.join(format!("{}.json", pail_auth::cache_key("corp")));
    let ours: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).expect("cache")).expect("json");
    let cli = format!(
        "{{\"startUrl\": {}, \"region\": \"us-east-1\", \"accessToken\": {}, \"expiresAt\": {}, \"clientId\": {}, \"clientSecret\": {}, \"registrationExpiresAt\": {}, \"refreshToken\": {}}}",
        ours["startUrl"],
        ours["accessToken"],
        ours["expiresAt"],
        ours["clientId"],
        ours["clientSecret"],
        ours["registrationExpiresAt"],
        ours["refreshToken"]
    );
    std::fs::write(&file, cli).expect("write CLI cache");
    // A new process (a new Auth) with the same cache: no device authorization at all.
    let home = s._home.path().to_owned();
    let auth =
        s.rt.block_on(Auth::new(auth_for(
            &s.emu,
            &home,
            &pail_emulator::sso_config("corp"),
            Duration::from_secs(30),
        )))
        .expect("profile");
    let mut events = auth.sso().expect("sso").events();
    s.rt.block_on(auth.sso().expect("sso").sign_in(false))
        .expect("from the cache");
    assert!(events.try_recv().is_err(), "no sign-in was asked for");
    let s = SignedIn { auth, ..s };
    s.emu
        .put(BUCKET, &format!("{}/a.txt", user_id("carol@example.com")), "cached")
        .expect("seed");
    let (drive, ..) = s.mount_own_folder();
    assert_eq!(std::fs::read_to_string(drive.path("a.txt")).expect("read"), "cached");
}

#[test]
fn credentials_renewed_every_20s_during_two_minutes_of_io_fail_nothing() {
    let lifetimes = Lifetimes {
        role_credentials: Duration::from_secs(20),
        access_token: Duration::from_secs(45),
        ..Lifetimes::default()
    };
    let s = sign_in("dave@example.com", lifetimes, Duration::from_secs(60));
    let (drive, _auth, seen, _hold) = s.mount_own_folder();
    let start = Instant::now();
    let mut written = Vec::new();
    let mut i = 0u64;
    // Writes and reads back-to-back for two minutes (a workload, not a synchronisation wait).
    while start.elapsed() < Duration::from_secs(120) {
        let name = format!("f{i:05}.bin");
        let data = random_bytes(16 << 10, i);
        std::fs::write(drive.path(&name), &data).expect("write never fails");
        assert_eq!(std::fs::read(drive.path(&name)).expect("read never fails"), data);
        if i.is_multiple_of(8) {
            std::fs::read_dir(drive.root()).expect("list never fails").count();
        }
        written.push((name, data));
        i += 1;
    }
    drive.drain();
    let folder = user_id("dave@example.com");
    for (name, data) in &written {
        assert_eq!(drive.object(&format!("{folder}/{name}")).as_ref(), Some(data), "{name}");
    }
    // Renewals happened without a new sign-in.
    assert_eq!(*seen.lock().expect("seen"), ["sign-in", "signed-in"]);
    let issued = drive.emu.identity().issued_secrets().len();
    assert!(
        issued > 2 * 6,
        "role credentials were renewed ({issued} secrets issued)"
    );
    assert_no_secrets_logged(&drive.emu);
}

#[test]
fn session_end_pauses_uploads_until_the_user_consents_again() {
    let lifetimes = Lifetimes {
        role_credentials: Duration::from_secs(3),
        access_token: Duration::from_secs(30),
        ..Lifetimes::default()
    };
    // File operations wait at most 2 s for consent, then fail with EACCES.
    let s = sign_in("erin@example.com", lifetimes, Duration::from_secs(2));
    let folder = user_id("erin@example.com");
    s.emu
        .put(BUCKET, &format!("{folder}/remote.txt"), "on the server")
        .expect("seed");
    let (drive, auth, seen, hold) = s.mount_own_folder();
    // Opened while signed in, written and closed after the session has ended: accepted
    // locally and kept in the journal.
    let mut file = std::fs::File::create(drive.path("during.bin")).expect("create");
    hold.send_replace(true);
    drive.emu.identity().end_sessions();
    let data = random_bytes(256 << 10, 9);
    file.write_all(&data).expect("writes are accepted while signed out");
    drop(file);
    // A read that needs S3 waits for consent, then fails with a clear EACCES.
    let read = std::fs::read(drive.path("remote.txt")).expect_err("no consent yet");
    assert_eq!(read.raw_os_error(), Some(libc::EACCES), "{read}");
    let status = auth.sso().expect("sso").status();
    assert!(
        status.sign_in_url.is_some(),
        "pail status shows where to sign in: {status:?}"
    );
    assert!(drive.vfs.writeback_status().pending_files >= 1, "the upload waits");
    // The user consents: the paused upload lands and reads work again.
    hold.send_replace(false);
    drive.drain();
    assert_eq!(drive.object(&format!("{folder}/during.bin")), Some(data));
    assert_eq!(
        std::fs::read_to_string(drive.path("remote.txt")).expect("read"),
        "on the server"
    );
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(&seen[..2], ["sign-in", "signed-in"]);
    assert!(
        seen[2..].contains(&"reconsent") && seen.ends_with(&["signed-in"]),
        "{seen:?}"
    );
    assert_no_secrets_logged(&drive.emu);
}

/// Sign-in without Identity Center: the company IdP (authorization code + PKCE on a loopback
/// redirect, the "browser" signing in as `user`), STS AssumeRoleWithWebIdentity, then a mount.
#[test]
fn company_idp_sign_in_without_identity_center_mounts_my_own_folder() {
    capture_logs();
    let rt = runtime();
    let emu = rt.block_on(Emulator::start_with_buckets(&[BUCKET])).expect("emulator");
    emu.set_per_user_policy(true);
    let home = tempfile::tempdir().expect("home");
    let auth = rt
        .block_on(Auth::new(auth_for(
            &emu,
            home.path(),
            &emu.federated_config("corp"),
            Duration::from_secs(30),
        )))
        .expect("profile");
    let mut events = auth.sso().expect("interactive profile").events();
    rt.spawn(async move {
        while let Ok(e) = events.recv().await {
            if let AuthEvent::SignInNeeded(d) = e {
                let page = pail_emulator::browser::authorize(&d.verification_uri_complete, Some("dana@example.com"))
                    .await
                    .expect("browser");
                assert_eq!(page.status, 200, "{}", page.body);
            }
        }
    });
    rt.block_on(auth.sso().expect("provider").sign_in(false))
        .expect("signed in");
    let me = format!("{}:dana@example.com", pail_emulator::FEDERATED_ROLE_ID);
    emu.put(BUCKET, &format!("{me}/plan.txt"), "dana's plan").expect("seed");
    emu.put(BUCKET, "AROAEMULATORFEDERATED:erin@example.com/x.txt", "erin's")
        .expect("seed");
    let prefix = rt
        .block_on(auth.resolve_prefix("${aws:userid}/"))
        .expect("caller identity");
    assert_eq!(prefix, format!("{me}/"));
    let drive = mount_own_folder(rt, emu, &auth);
    assert_own_folder_works(&drive, &me, ("plan.txt", "dana's plan"), ("report.txt", "from dana"));
    assert_no_secrets_logged(&drive.emu);
}
