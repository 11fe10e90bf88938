//! Start and Stop from the drives window: the app runs the real `pail mount <drive>` (built
//! beside this test) against pail-emulator, follows it to Mounted through its JSON events, the
//! mount serves files through FUSE, and Stop unmounts after the uploads; a drive whose bucket
//! does not exist ends in an Error with pail's one-line reason.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pail_app::{App, MountState};
use pail_drives::{Drive, DriveAuth, DrivesFile};
use pail_emulator::Emulator;

/// The `pail` binary cargo built for the workspace (`target/<profile>/pail`).
fn pail_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let pail = dir.join("pail");
    assert!(
        pail.exists(),
        "{} is missing: build it first (cargo build -p pail-cli; cargo test --workspace does)",
        pail.display()
    );
    pail
}

struct Setup {
    emu: Emulator,
    home: tempfile::TempDir,
    mount_point: tempfile::TempDir,
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
        _rt: rt,
    }
}

fn harness(s: &Setup) -> Harness<'static, App> {
    let mut app = App::load(s.home.path().join("drives.toml"));
    app.pail_binary = pail_binary();
    let home = s.home.path().display().to_string();
    app.mount_env = vec![
        ("HOME".into(), home.clone()),
        ("XDG_CACHE_HOME".into(), format!("{home}/.cache")),
        ("XDG_RUNTIME_DIR".into(), home),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ];
    app.open_url = Arc::new(|_| {});
    Harness::builder()
        .with_size(pail_app::WINDOW_SIZE)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app)
}

/// Waits (without sleeping) until the started drive's state satisfies `done`.
fn wait_for(h: &Harness<'_, App>, done: impl Fn(&MountState) -> bool) -> MountState {
    let mut rx = h.state().mounts.get("Team").expect("started").watch();
    h.state().runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|s| done(s)))
            .await
            .expect("the drive's state changes in time")
            .expect("the process is followed")
            .clone()
    })
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
    h.run_steps(3);
    assert!(h.query_by_label("Mounted").is_some());
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
    let uploaded = h.state().runtime().block_on(s.emu.get("team", "from-app.txt"));
    assert_eq!(
        uploaded.as_deref(),
        Some(&b"started from the app"[..]),
        "uploaded before it stopped"
    );
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
}
