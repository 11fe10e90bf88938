//! Start and Stop from the drives window: the app runs the real `pail mount <drive>` (built
//! beside this test) against pail-emulator, follows it to Mounted through its JSON events, the
//! mount serves files through FUSE, and Stop unmounts after the uploads; a drive whose bucket
//! does not exist ends in an Error with pail's one-line reason. The tray menu starts and stops
//! a drive, Quit waits until its uploads are in S3, and drives marked "mount at start" mount
//! when the app starts. Start on an Identity Center drive signs in first (the test approves
//! as the browser) and then mounts the user's own folder; when that mount's session ends, its
//! row says so and offers the page, and consent lets the mount go on. A drive this version
//! cannot read, a profile gone from its config file and a missing config file each say what
//! is wrong, while the good drive mounts and saving keeps what the user wrote.

use std::sync::Arc;
use std::time::Duration;

mod common;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pail_app::{Activity, App, Badge, MountState, SignInState, TrayCommand};
use pail_drives::{Drive, DriveAuth, DrivesFile};
use pail_emulator::{Emulator, S3Op};

struct Setup {
    emu: Emulator,
    home: tempfile::TempDir,
    mount_point: tempfile::TempDir,
    /// Folders the app asked the file manager to open.
    opened_folders: Arc<std::sync::Mutex<Vec<String>>>,
    /// Signalled each time the app asks for a new frame.
    woken: Arc<tokio::sync::Notify>,
    _rt: tokio::runtime::Runtime,
}

fn setup(bucket: &str) -> Setup {
    assert!(
        std::path::Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE"
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt.block_on(Emulator::start_with_buckets(&["team"])).expect("emulator");
    emu.put("team", "hello.txt", &b"hello team"[..]).expect("seed");
    let home = tempfile::tempdir().expect("home");
    let mount_point = tempfile::tempdir().expect("mount point");
    let drives_path = home.path().join("drives.toml");
    let mut drives = DrivesFile::default();
    drives.upsert(Drive {
        name: "Team".into(),
        bucket: bucket.into(),
        prefix: String::new(),
        mount_point: Some(mount_point.path().display().to_string()),
        region: Some(pail_emulator::REGION.into()),
        endpoint_url: Some(emu.endpoint()),
        allow_http: false,
        auth: DriveAuth::Keys {
            access_key_id: pail_emulator::DEFAULT_ACCESS_KEY.into(),
        },
        read_only: false,
        sse_kms_key_id: None,
        cache_size: None,
        mount_at_start: false,
    });
    drives.save(&drives_path).expect("drives file");
    pail_drives::store_secret(&drives_path, "Team", pail_emulator::DEFAULT_SECRET_KEY).expect("secret");
    Setup {
        emu,
        home,
        mount_point,
        opened_folders: Arc::default(),
        woken: Arc::default(),
        _rt: rt,
    }
}

fn harness(s: &Setup) -> Harness<'static, App> {
    let mut app = App::load(s.home.path().join("drives.toml"));
    app.pail_binary = common::pail_binary();
    app.mount_env = common::mount_env(s.home.path());
    app.open_url = Arc::new(|_| {});
    let opened = s.opened_folders.clone();
    app.open_folder = Arc::new(move |dir| opened.lock().expect("opened").push(dir.to_owned()));
    let woken = s.woken.clone();
    app.wake = Arc::new(move || woken.notify_one());
    Harness::builder()
        .with_size(pail_app::WINDOW_SIZE)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app)
}

/// Waits (without sleeping) until the started drive's state satisfies `done`.
fn wait_for(h: &Harness<'_, App>, done: impl Fn(&MountState) -> bool) -> MountState {
    wait_for_drive(h, "Team", done)
}

fn wait_for_drive(h: &Harness<'_, App>, name: &str, done: impl Fn(&MountState) -> bool) -> MountState {
    common::wait(h, h.state().mounts.get(name).expect("started").watch(), done)
}

#[test]
fn start_mounts_the_drive_and_stop_unmounts_after_uploading() {
    let s = setup("team");
    let mut h = harness(&s);
    h.get_by_label("Start Team").click();
    h.run_steps(3);
    let mounted = wait_for(&h, |st| matches!(st, MountState::Mounted { .. }));
    assert_eq!(
        mounted,
        MountState::Mounted {
            dir: s.mount_point.path().display().to_string()
        }
    );
    // The change woke the window: it needs no frames of its own to notice (issue 21: no
    // busy repaint while idle).
    h.state().runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(10), s.woken.notified())
            .await
            .expect("the window was woken by the drive's change")
    });
    h.run_steps(3);
    assert!(h.query_by_label("Mounted").is_some());
    // A green badge, one primary action (Stop), and Open in the row's menu.
    assert_eq!(h.state().badge("Team"), Badge::Mounted);
    assert!(h.query_by_label("Start Team").is_none(), "one primary action");
    assert!(h.query_by_label("Open Team").is_none(), "Open waits in the menu");
    h.get_by_label("More for Team").click();
    h.run();
    h.get_by_label("Open Team").click();
    h.run();
    assert_eq!(
        *s.opened_folders.lock().expect("opened"),
        vec![s.mount_point.path().display().to_string()],
        "Open shows the mounted folder in the file manager"
    );
    assert_eq!(
        std::fs::read_to_string(s.mount_point.path().join("hello.txt")).expect("read through the mount"),
        "hello team"
    );
    std::fs::write(s.mount_point.path().join("from-app.txt"), "started from the app").expect("write");
    h.get_by_label("Stop Team").click();
    h.run_steps(3);
    wait_for(&h, |st| *st == MountState::Stopped);
    h.run_steps(3);
    assert!(h.query_by_label("Start Team").is_some(), "it can start again");
    assert_eq!(h.state().badge("Team"), Badge::Stopped);
    let uploaded = h.state().runtime().block_on(s.emu.get("team", "from-app.txt"));
    assert_eq!(
        uploaded.as_deref(),
        Some(&b"started from the app"[..]),
        "uploaded before it stopped"
    );
}

/// Waits (without sleeping) until the started drive's activity satisfies `done`.
fn wait_for_activity(h: &Harness<'_, App>, done: impl Fn(&Activity) -> bool) -> Activity {
    common::wait(h, h.state().mounts.get("Team").expect("started").watch_activity(), done)
}

/// Issue 21 part 2: a large upload shows its progress (in the panel, in the tray's menu and
/// tooltip), and a file another client changed while it was edited shows its conflict copy
/// with "Show in folder" — all through a real mount whose completion pail-emulator holds.
#[test]
fn the_activity_panel_shows_a_large_upload_and_a_conflict_copy() {
    let s = setup("team");
    let mut h = harness(&s);
    h.get_by_label("Start Team").click();
    h.run_steps(3);
    wait_for(&h, |st| matches!(st, MountState::Mounted { .. }));
    h.run_steps(3);
    assert!(h.query_by_label("All changes are on S3.").is_some());

    // 12 MiB: a multipart upload, held at its completion, so every part has been sent.
    let held = s.emu.hold(S3Op::CompleteMultipartUpload);
    let size = 12u64 << 20;
    std::fs::write(s.mount_point.path().join("video.bin"), vec![7u8; size as usize]).expect("write");
    assert!(
        held.wait_arrived(1, Duration::from_secs(60)),
        "the upload reached its completion"
    );
    let a = wait_for_activity(&h, |a| a.large.first().is_some_and(|f| f.sent == size));
    assert_eq!((a.pending_files, a.percent()), (1, 100));
    h.run_steps(3);
    assert_eq!(h.state().badge("Team"), Badge::Uploading);
    assert!(
        h.query_by_label("video.bin: 12.0 MiB of 12.0 MiB (uploading)")
            .is_some()
    );
    assert!(h.query_by_label("Uploading 1 file: 12.0 MiB of 12.0 MiB").is_some());
    assert_eq!(h.state().tray_tooltip(), "pail — Uploading 1 file (100 %)");
    assert_eq!(
        has_tray_item(&h, &TrayCommand::Open).as_deref(),
        Some("Open pail — Uploading 1 file (100 %)")
    );
    held.release();
    wait_for_activity(&h, |a| a.pending_files == 0);
    h.run_steps(3);
    assert_eq!(h.state().tray_tooltip(), "pail");

    // Edited here while another client replaced it: the local version becomes a copy.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(s.mount_point.path().join("hello.txt"))
        .expect("open for writing");
    std::io::Write::write_all(&mut f, b"mine").expect("write");
    s.emu
        .put("team", "hello.txt", &b"theirs"[..])
        .expect("another client's version");
    drop(f);
    let a = wait_for_activity(&h, |a| !a.conflicts.is_empty());
    let copy = a.conflicts[0].clone();
    assert!(copy.starts_with("hello (conflict "), "{copy}");
    h.run_steps(3);
    assert!(
        h.query_by_label(&format!("Conflict: your version was kept as {copy}"))
            .is_some(),
        "the copy is named"
    );
    h.get_by_label(&format!("Show {copy} in folder")).click();
    h.run();
    assert_eq!(
        s.opened_folders.lock().expect("opened").last().cloned(),
        Some(format!("{}/", s.mount_point.path().display())),
        "Show in folder opens the folder holding the copy"
    );
    h.get_by_label("Stop Team").click();
    h.run_steps(3);
    wait_for(&h, |st| *st == MountState::Stopped);
}

#[test]
fn a_bucket_that_does_not_exist_ends_in_an_error_that_says_so() {
    let s = setup("no-such-bucket");
    let mut h = harness(&s);
    h.get_by_label("Start Team").click();
    h.run_steps(3);
    let MountState::Error(why) = wait_for(&h, |st| matches!(st, MountState::Error(_))) else {
        unreachable!()
    };
    assert!(why.contains("no-such-bucket"), "{why}");
    h.run_steps(3);
    assert!(h.query_by_label(&format!("Error: {why}")).is_some());
    assert!(h.query_by_label("Start Team").is_some());
    assert_eq!(h.state().badge("Team"), Badge::Error);
    // The details on demand: the mount's last log lines, the error among them.
    // A long reason is cut short in the row, so the row's actions stay in the window.
    h.get_by_label("More for Team").click();
    h.run();
    h.get_by_label("Details Team").click();
    h.run();
    let shown = h.state().message.clone().expect("the details are shown");
    assert!(shown.contains(&format!("pail: error: {why}")), "{shown}");
}

#[test]
fn bad_drives_and_profiles_each_say_what_is_wrong_and_the_good_drive_still_mounts() {
    let s = setup("team");
    let path = s.home.path().join("drives.toml");
    let config = s.home.path().join("aws-config");
    std::fs::write(&config, "[profile other]\nregion = eu-west-1\n").expect("config");
    let mut drives = DrivesFile::load(&path).expect("drives file");
    let team = drives.get("Team").expect("Team").clone();
    for dir in ["Gone", "Lost", "Folder"] {
        std::fs::create_dir(s.home.path().join(dir)).expect("mount point");
    }
    let profile_drive = |name: &str, profile: &str, config_file: &std::path::Path| Drive {
        name: name.into(),
        auth: DriveAuth::Profile {
            profile: profile.into(),
            config_file: Some(config_file.to_owned()),
        },
        mount_point: Some(s.home.path().join(name).display().to_string()),
        ..team.clone()
    };
    // A profile that vanished from its config file, and a config file that is gone.
    drives.upsert(profile_drive("Gone", "home", &config));
    drives.upsert(profile_drive("Lost", "home", &s.home.path().join("no-such-config")));
    // A config file that cannot be read (root reads any file, so: a folder in its place).
    drives.upsert(profile_drive("Folder", "home", s.home.path()));
    drives.save(&path).expect("save");
    // A drive written by a newer version, with a key this one does not know.
    let mut text = std::fs::read_to_string(&path).expect("read");
    text.push_str("\n[[drive]]\nname = \"Future\"\nbucket = \"team\"\nsync_mode = \"mirror\"\n\n[drive.auth]\nkind = \"default\"\n");
    std::fs::write(&path, &text).expect("write");

    let mut h = harness(&s);
    let message = h.state().message.clone().expect("the unreadable drive is reported");
    assert!(
        message.contains("\"Future\"") && message.contains("sync_mode"),
        "{message}"
    );
    let unreadable = format!("cannot read AWS config file {}", s.home.path().display());
    for (name, says) in [
        ("Gone", "no profile \"home\""),
        ("Lost", "no-such-config"),
        ("Folder", unreadable.as_str()),
    ] {
        h.get_by_label(&format!("Start {name}")).click();
        h.run_steps(3);
        let MountState::Error(why) = wait_for_drive(&h, name, |st| matches!(st, MountState::Error(_))) else {
            unreachable!()
        };
        assert!(why.contains(says), "{name}: {why}");
        assert_eq!(h.state().badge(name), Badge::Error);
    }
    // The good drive mounts and serves while the others are in error.
    h.get_by_label("Start Team").click();
    h.run_steps(3);
    wait_for(&h, |st| matches!(st, MountState::Mounted { .. }));
    assert_eq!(
        std::fs::read_to_string(s.mount_point.path().join("hello.txt")).expect("read"),
        "hello team"
    );
    // Removing a drive rewrites the file: the unreadable one is still there, as written.
    h.get_by_label("More for Gone").click();
    h.run();
    h.get_by_label("Remove Gone").click();
    h.run_steps(3);
    let saved = std::fs::read_to_string(&path).expect("saved");
    assert!(!saved.contains("\"Gone\""), "{saved}");
    assert!(
        saved.contains("sync_mode = \"mirror\"") && saved.contains("\"Lost\""),
        "{saved}"
    );
    h.state_mut().stop("Team");
    wait_for(&h, |st| *st == MountState::Stopped);
}

fn has_tray_item(h: &Harness<'_, App>, command: &TrayCommand) -> Option<String> {
    h.state()
        .tray_entries()
        .into_iter()
        .find(|e| e.command == *command)
        .map(|e| e.label)
}

#[test]
fn the_tray_starts_and_stops_a_drive_and_quit_waits_for_its_uploads() {
    let s = setup("team");
    let mut h = harness(&s);
    let start = TrayCommand::Start("Team".into());
    assert_eq!(has_tray_item(&h, &start).as_deref(), Some("Start Team"));
    h.state_mut().apply(start.clone());
    wait_for(&h, |st| matches!(st, MountState::Mounted { .. }));
    let stop = TrayCommand::Stop("Team".into());
    assert_eq!(has_tray_item(&h, &stop).as_deref(), Some("Stop Team (Mounted)"));
    assert_eq!(
        has_tray_item(&h, &start),
        None,
        "a mounted drive is not offered to start"
    );
    h.state_mut().apply(stop);
    wait_for(&h, |st| *st == MountState::Stopped);
    assert!(has_tray_item(&h, &start).is_some(), "stopped: offered to start again");

    h.state_mut().apply(start);
    wait_for(&h, |st| matches!(st, MountState::Mounted { .. }));
    let data: Vec<u8> = (0..8u32 << 20).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(s.mount_point.path().join("report.bin"), &data).expect("write");
    h.run_steps(2);
    h.get_by_label("Quit (waits for uploads)").click();
    h.run_steps(3);
    assert!(h.query_by_label("Quitting pail").is_some());
    wait_for(&h, |st| *st == MountState::Stopped);
    h.run_steps(3);
    assert!(h.state().quit_ready(), "every drive stopped: the window may close");
    assert!(h.query_by_label("All drives have stopped.").is_some());
    let uploaded = h.state().runtime().block_on(s.emu.get("team", "report.bin"));
    assert_eq!(uploaded.as_deref(), Some(&data[..]), "in S3 before quitting");
}

#[test]
fn drives_marked_mount_at_start_mount_when_the_app_starts() {
    let s = setup("team");
    let path = s.home.path().join("drives.toml");
    let mut drives = DrivesFile::load(&path).expect("drives file");
    let mut other = drives.get("Team").expect("Team").clone();
    drives.drives[0].mount_at_start = true;
    other.name = "Other".into();
    other.mount_point = Some(s.home.path().join("other").display().to_string());
    drives.upsert(other);
    drives.save(&path).expect("save");
    let mut h = harness(&s);
    h.state_mut().start_marked();
    wait_for(&h, |st| matches!(st, MountState::Mounted { .. }));
    assert!(!h.state().mounts.contains_key("Other"), "not marked: not started");
    assert_eq!(
        std::fs::read_to_string(s.mount_point.path().join("hello.txt")).expect("read"),
        "hello team"
    );
    h.state_mut().quit();
    wait_for_drive(&h, "Team", |st| *st == MountState::Stopped);
    assert!(h.state().quit_ready());
}

#[test]
fn start_signs_in_first_then_mounts_my_folder_and_asks_again_when_its_session_ends() {
    let s = setup("team");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt.block_on(Emulator::start_with_buckets(&["home"])).expect("emulator");
    emu.set_per_user_policy(true);
    // Short-lived role credentials: once the session ends, the mount must ask for them soon.
    emu.identity().set_lifetimes(pail_emulator::Lifetimes {
        role_credentials: Duration::from_secs(3),
        ..pail_emulator::Lifetimes::default()
    });
    let opened_urls = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let config = s.home.path().join("aws-config");
    std::fs::write(&config, pail_emulator::sso_config("corp")).expect("config");
    let path = s.home.path().join("drives.toml");
    let mut drives = DrivesFile::default();
    drives.upsert(Drive {
        name: "Home".into(),
        bucket: "home".into(),
        prefix: pail_app::MY_FOLDER.into(),
        mount_point: Some(s.mount_point.path().display().to_string()),
        region: Some(pail_emulator::REGION.into()),
        endpoint_url: Some(emu.endpoint()),
        allow_http: false,
        auth: DriveAuth::Profile {
            profile: "corp".into(),
            config_file: Some(config),
        },
        read_only: false,
        sse_kms_key_id: None,
        cache_size: None,
        mount_at_start: false,
    });
    drives.save(&path).expect("drives file");
    let mut h = harness(&s);
    let identity = emu.identity_endpoint();
    h.state_mut().endpoints = pail_auth::Endpoints::all_at(identity);
    // Where `pail mount` (HOME is the test's) looks for the sign-in, as the AWS CLI does.
    h.state_mut().token_cache_dir = Some(s.home.path().join(".aws/sso/cache"));
    let opened = opened_urls.clone();
    h.state_mut().open_url = Arc::new(move |url| opened.lock().expect("opened").push(url.to_owned()));
    h.get_by_label("Start Home").click();
    h.run_steps(3);
    assert!(h.state().mounts.is_empty(), "not mounted before the sign-in");
    let session = h.state().sessions.get("Home").expect("a sign-in").clone();
    let mut rx = session.watch();
    let waiting = h.state().runtime().block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            rx.wait_for(|st| matches!(st, SignInState::Waiting { .. })),
        )
        .await
        .expect("the sign-in page is shown")
        .expect("session")
        .clone()
    });
    let SignInState::Waiting { url, .. } = waiting else {
        unreachable!()
    };
    h.run_steps(3);
    // Waiting for the user: the amber badge, and no Start offered while it signs in.
    assert_eq!(h.state().badge("Home"), Badge::NeedsYou);
    assert!(h.query_by_label("Start Home").is_none());
    let page = rt
        .block_on(pail_emulator::browser::decide(&url, Some("alice@example.com")))
        .expect("page");
    assert_eq!(page.status, 200, "{}", page.body);
    h.state().runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|st| *st == SignInState::SignedIn))
            .await
            .expect("signed in")
            .expect("session");
    });
    h.run_steps(3);
    wait_for_drive(&h, "Home", |st| matches!(st, MountState::Mounted { .. }));
    std::fs::write(s.mount_point.path().join("from-home.txt"), "my own folder").expect("write");

    // The mount's own session ends (the company signs everyone out): a file written now waits,
    // and the mount's state says what to do, with the page to do it.
    emu.identity().end_sessions();
    std::fs::write(s.mount_point.path().join("after.txt"), "written while signed out").expect("write");
    let MountState::SessionExpired { url, .. } =
        wait_for_drive(&h, "Home", |st| matches!(st, MountState::SessionExpired { .. }))
    else {
        unreachable!()
    };
    h.run_steps(3);
    assert_eq!(h.state().badge("Home"), Badge::NeedsYou, "amber: the user must act");
    assert!(h.query_by_label("Session expired — Sign in again").is_some());
    assert!(
        h.query_by_label("Stop Home").is_some(),
        "a drive waiting for sign-in can still be stopped"
    );
    assert!(h.query_by_label("Start Home").is_none());
    h.get_by_label("More for Home").click();
    h.run_steps(3);
    h.get_by_label("Sign in again Home").click();
    h.run_steps(3);
    assert_eq!(opened_urls.lock().expect("opened").last(), Some(&url), "the page opens");
    let page = rt
        .block_on(pail_emulator::browser::decide(&url, Some("alice@example.com")))
        .expect("page");
    assert_eq!(page.status, 200, "{}", page.body);
    // Consent given in the browser: the mount goes on by itself, and the waiting file lands.
    wait_for_drive(&h, "Home", |st| matches!(st, MountState::Mounted { .. }));
    h.run_steps(3);
    assert_eq!(h.state().badge("Home"), Badge::Mounted);

    h.state_mut().stop("Home");
    wait_for_drive(&h, "Home", |st| *st == MountState::Stopped);
    for (name, data) in [
        ("from-home.txt", "my own folder"),
        ("after.txt", "written while signed out"),
    ] {
        let uploaded = rt.block_on(emu.get("home", &format!("AROAEMULATORS3USERS:alice@example.com/{name}")));
        assert_eq!(uploaded.as_deref(), Some(data.as_bytes()), "{name} in alice's folder");
    }
}
