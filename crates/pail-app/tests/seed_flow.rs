//! Issue 21 part 3: the seed's flow (Callback S3 Drive's IAM Identity Center guide), step by
//! step as a new user takes it, against pail-emulator over real HTTP and a real mount: Add
//! drive, "Use AWS Profile", the config file, the Identity Center profile, OK — which signs in
//! (the browser opens, the code shows), then offers the buckets — pick one, and Start. Nothing
//! else is clicked, and no guide is needed.

use std::sync::{Arc, Mutex};

mod common;

use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pail_app::{App, BucketList, MountState, SignInState};
use pail_drives::{DriveAuth, DrivesFile};
use pail_emulator::Emulator;

fn type_into(h: &mut Harness<'_, App>, label: &str, text: &str) {
    h.get_by_role_and_label(Role::TextInput, label).focus();
    h.run_steps(2);
    h.get_by_role_and_label(Role::TextInput, label).type_text(text);
    h.run_steps(2);
}

/// Clicks `label`. The sign-in panel's spinner repaints forever, so frames are stepped.
fn click(h: &mut Harness<'_, App>, label: &str) {
    h.get_by_label(label).click();
    h.run_steps(3);
}

#[test]
fn add_an_identity_center_drive_sign_in_pick_a_bucket_and_start_it() {
    assert!(
        std::path::Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE"
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt
        .block_on(Emulator::start_with_buckets(&["archive", "home"]))
        .expect("emulator");
    let home = tempfile::tempdir().expect("home");
    let mount_point = tempfile::tempdir().expect("mount point");
    // The config file the administrator handed out (the guide's "[profile …]" and
    // "[sso-session …]" sections), where the user keeps it.
    let config = home.path().join(".aws/config");
    std::fs::create_dir_all(config.parent().expect("parent")).expect("dir");
    std::fs::write(&config, pail_emulator::sso_config("corp")).expect("config");
    let drives_path = home.path().join("pail/drives.toml");

    let mut app = App::load(drives_path.clone());
    app.pail_binary = common::pail_binary();
    let identity = emu.identity_endpoint();
    app.endpoints = pail_auth::Endpoints::all_at(identity);
    // Where `pail mount` finds the sign-in (HOME is the test's), as the AWS CLI keeps it.
    app.token_cache_dir = Some(home.path().join(".aws/sso/cache"));
    app.mount_env = common::mount_env(home.path());
    let opened: Arc<Mutex<Vec<String>>> = Arc::default();
    let browser = opened.clone();
    app.open_url = Arc::new(move |url| browser.lock().expect("opened").push(url.to_owned()));
    let mut h = Harness::builder()
        .with_size(pail_app::WINDOW_SIZE)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app);

    // "To create a drive that uses IAM Identity Center … create a new drive."
    click(&mut h, "Add drive…");
    type_into(&mut h, "Name", "Home");
    type_into(&mut h, "Mount point", &mount_point.path().display().to_string());
    type_into(&mut h, "Endpoint URL", &emu.endpoint());
    // "check Use AWS Profile and click the Browse… button … navigate to … your config file"
    // (the file dialog is the system's; its answer is the path typed here).
    assert!(
        h.state().editor.as_ref().expect("dialog").use_aws_profile,
        "checked by default"
    );
    h.state_mut().editor.as_mut().expect("dialog").config_file.clear();
    h.run();
    type_into(&mut h, "Config file", &config.display().to_string());
    click(&mut h, "Read profiles");
    // "Then select the profile with the matching profile name."
    h.get_by_role_and_label(Role::ComboBox, "Profile").click();
    h.run();
    click(&mut h, "corp — IAM Identity Center (SSO)");
    assert!(
        h.query_by_label("or pick one after signing in (OK)").is_some(),
        "no bucket is asked for yet"
    );
    // "Once done, selecting OK will cause S3 Drive to go through the registration and
    // authorization process with the user."
    click(&mut h, "OK");
    let session = h.state().sessions.get("Home").expect("OK signs in").clone();
    let SignInState::Waiting { url, code } =
        common::wait(&h, session.watch(), |s| matches!(s, SignInState::Waiting { .. }))
    else {
        unreachable!()
    };
    h.run_steps(3);
    assert!(h.query_by_label(&code).is_some(), "the code {code} shows");
    assert_eq!(
        opened.lock().expect("opened").clone(),
        vec![url.clone()],
        "the browser opened"
    );
    // "The user will most likely be prompted to log in and provide consent."
    let page = rt
        .block_on(pail_emulator::browser::decide(&url, Some("alice@example.com")))
        .expect("verification page");
    assert_eq!(page.status, 200, "{}", page.body);
    // "Once done, you can select a bucket …"
    let listed = common::wait(&h, h.state().buckets.subscribe(), |b| {
        matches!(b, Some(BucketList::Found(_) | BucketList::Failed(_)))
    });
    assert_eq!(listed, Some(BucketList::Found(vec!["archive".into(), "home".into()])));
    h.run_steps(3);
    assert!(h.query_by_label("Pick a bucket:").is_some());
    click(&mut h, "home");
    assert!(h.state().editor.is_none(), "picking the bucket finished the dialog");
    let saved = DrivesFile::load(&drives_path).expect("drives file");
    let d = saved.get("Home").expect("saved");
    assert_eq!(d.bucket, "home");
    assert_eq!(
        d.auth,
        DriveAuth::Profile {
            profile: "corp".into(),
            config_file: Some(config.clone()),
        }
    );
    // "… and start the drive like normal."
    click(&mut h, "Start Home");
    let mounted = common::wait(&h, h.state().mounts.get("Home").expect("started").watch(), |s| {
        matches!(s, MountState::Mounted { .. } | MountState::Error(_))
    });
    assert!(matches!(mounted, MountState::Mounted { .. }), "{mounted:?}");
    assert_eq!(opened.lock().expect("opened").len(), 1, "no second sign-in");
    std::fs::write(mount_point.path().join("notes.txt"), "mine").expect("write through the drive");
    h.state_mut().stop("Home");
    common::wait(&h, h.state().mounts.get("Home").expect("started").watch(), |s| {
        *s == MountState::Stopped
    });
    let key = "AROAEMULATORS3USERS:alice@example.com/notes.txt";
    assert_eq!(
        rt.block_on(emu.get("home", key)).as_deref(),
        Some(&b"mine"[..]),
        "in the user's own folder"
    );
}
