//! Test connection in the Add/Edit dialog, against pail-emulator: with access keys every check
//! passes and the test object is gone afterwards; with an Identity Center profile the dialog
//! signs in first (the panel shows the code, the test approves as the user's browser) and, under
//! the per-user policy, "My folder" passes while someone else's folder fails on List.

use std::sync::Arc;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pail_app::{App, CheckLine, DriveEditor, SignInState};
use pail_drives::{Drive, DriveAuth};
use pail_emulator::Emulator;

fn drive(name: &str, bucket: &str, prefix: &str, endpoint: &str, auth: DriveAuth) -> Drive {
    Drive {
        name: name.into(),
        bucket: bucket.into(),
        prefix: prefix.into(),
        mount_point: None,
        region: Some(pail_emulator::REGION.into()),
        endpoint_url: Some(endpoint.into()),
        auth,
        read_only: false,
        sse_kms_key_id: None,
        cache_size: None,
        mount_at_start: false,
    }
}

fn harness(emu: &Emulator, dir: &std::path::Path, editor: DriveEditor) -> Harness<'static, App> {
    let mut app = App::load(dir.join("drives.toml"));
    let identity = emu.identity_endpoint();
    app.endpoints = pail_auth::Endpoints {
        sso_oidc: Some(identity.clone()),
        sso: Some(identity.clone()),
        sts: Some(identity),
    };
    app.token_cache_dir = Some(dir.join("sso-cache"));
    app.open_url = Arc::new(|_| {});
    app.editor = Some(editor);
    Harness::builder()
        .with_size(pail_app::WINDOW_SIZE)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app)
}

/// Clicks Test connection and waits (on the result's channel, no sleeps) for its lines;
/// `approve` answers a sign-in when one is shown.
fn test_connection(h: &mut Harness<'_, App>, approve: impl Fn(&str)) -> Vec<CheckLine> {
    h.get_by_label("Test connection").click();
    h.run_steps(2);
    let rt = h.state().runtime();
    let name = h.state().editor.as_ref().expect("dialog").name.clone();
    if let Some(session) = h.state().sessions.get(&name).cloned() {
        let mut rx = session.watch();
        let state = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(30),
                rx.wait_for(|s| matches!(s, SignInState::Waiting { .. } | SignInState::SignedIn)),
            )
            .await
            .expect("sign-in shown")
            .expect("session")
            .clone()
        });
        h.run_steps(2);
        if let SignInState::Waiting { url, code } = state {
            assert!(h.query_by_label(&code).is_some(), "the dialog shows the sign-in code");
            approve(&url);
        }
    }
    let mut done = h.state().check.subscribe();
    rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(30),
            done.wait_for(|c| c.as_ref().is_some_and(|l| !l.is_empty())),
        )
        .await
        .expect("the test finishes")
        .expect("the app lives")
        .clone()
        .expect("lines")
    })
}

#[test]
fn access_keys_pass_every_check_and_leave_nothing_behind() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt.block_on(Emulator::start_with_buckets(&["team"])).expect("emulator");
    emu.put("team", "projects/plan.txt", &b"plan"[..]).expect("seed");
    let dir = tempfile::tempdir().expect("dir");
    let mut editor = DriveEditor::edit(&drive(
        "Team",
        "team",
        "projects",
        &emu.endpoint(),
        DriveAuth::Keys {
            access_key_id: pail_emulator::DEFAULT_ACCESS_KEY.into(),
        },
    ));
    editor.secret = pail_emulator::DEFAULT_SECRET_KEY.into();
    let mut h = harness(&emu, dir.path(), editor);
    let lines = test_connection(&mut h, |_| unreachable!("keys need no sign-in"));
    assert!(lines.iter().all(|l| l.ok), "{lines:?}");
    assert_eq!(
        lines.iter().map(|l| l.what).collect::<Vec<_>>(),
        ["Sign-in", "List", "Read", "Write"]
    );
    h.run_steps(2);
    assert!(h.query_by_label("Read: works — read projects/plan.txt").is_some());
    assert_eq!(
        emu.keys("team", ""),
        ["projects/plan.txt"],
        "the test object was deleted"
    );
}

#[test]
fn a_profile_signs_in_first_and_the_policy_decides_what_passes() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt.block_on(Emulator::start_with_buckets(&["home"])).expect("emulator");
    emu.set_per_user_policy(true);
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("aws-config");
    std::fs::write(&config, pail_emulator::sso_config("corp")).expect("config");
    let auth = DriveAuth::Profile {
        profile: "corp".into(),
        config_file: Some(config),
    };
    let approve = |url: &str| {
        let page = rt
            .block_on(pail_emulator::browser::decide(url, Some("alice@example.com")))
            .expect("page");
        assert_eq!(page.status, 200, "{}", page.body);
    };
    let mine = DriveEditor::edit(&drive(
        "Home",
        "home",
        pail_app::MY_FOLDER,
        &emu.endpoint(),
        auth.clone(),
    ));
    let mut h = harness(&emu, dir.path(), mine);
    let lines = test_connection(&mut h, approve);
    assert!(lines.iter().all(|l| l.ok), "{lines:?}");
    assert!(lines[0].detail.contains("alice@example.com"), "{lines:?}");

    let theirs = DriveEditor::edit(&drive(
        "Bob",
        "home",
        "AROAEMULATORS3USERS:bob@example.com",
        &emu.endpoint(),
        auth,
    ));
    let mut h = harness(&emu, dir.path(), theirs);
    let lines = test_connection(&mut h, approve);
    let list = lines.iter().find(|l| l.what == "List").expect("a List line");
    assert!(!list.ok && list.detail.contains("not allowed"), "{lines:?}");
}
