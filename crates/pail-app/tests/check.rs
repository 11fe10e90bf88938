//! Test connection and Browse buckets in the Add/Edit dialog, against pail-emulator: with
//! access keys every check passes and the test object is gone afterwards; with an Identity
//! Center profile the dialog signs in first (the panel shows the code, the test approves as the
//! user's browser) and, under the per-user policy, "My folder" passes while someone else's
//! folder fails on List. Browse buckets lists the buckets keys may see and a click fills the
//! field; under the per-user policy it says to type the name instead.

use std::sync::Arc;
use std::time::Duration;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pail_app::{App, BucketList, CheckLine, DriveEditor, JobResult, SignInState};
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
        allow_http: false,
        auth,
        read_only: false,
        sse_kms_key_id: None,
        cache_size: None,
        mount_at_start: false,
    }
}

/// The dialog editing drive "Team" on `bucket`/`prefix` with the emulator's access keys.
fn keys_editor(emu: &Emulator, bucket: &str, prefix: &str) -> DriveEditor {
    let mut editor = DriveEditor::edit(&drive(
        "Team",
        bucket,
        prefix,
        &emu.endpoint(),
        DriveAuth::Keys {
            access_key_id: pail_emulator::DEFAULT_ACCESS_KEY.into(),
        },
    ));
    editor.secret = pail_emulator::DEFAULT_SECRET_KEY.into();
    editor
}

/// An Identity Center profile "corp" for the emulator, written to a config file in `dir`.
fn sso_profile(dir: &std::path::Path) -> DriveAuth {
    let config = dir.join("aws-config");
    std::fs::write(&config, pail_emulator::sso_config("corp")).expect("config");
    DriveAuth::Profile {
        profile: "corp".into(),
        config_file: Some(config),
    }
}

/// Approves the sign-in at `url` as alice, the way her browser would.
fn approve_as_alice(rt: &tokio::runtime::Runtime, url: &str) {
    let page = rt
        .block_on(pail_emulator::browser::decide(url, Some("alice@example.com")))
        .expect("page");
    assert_eq!(page.status, 200, "{}", page.body);
}

fn harness(emu: &Emulator, dir: &std::path::Path, editor: DriveEditor) -> Harness<'static, App> {
    let mut app = App::load(dir.join("drives.toml"));
    let identity = emu.identity_endpoint();
    app.endpoints = pail_auth::Endpoints::all_at(identity);
    app.token_cache_dir = Some(dir.join("sso-cache"));
    app.open_url = Arc::new(|_| {});
    app.editor = Some(editor);
    Harness::builder()
        .with_size(pail_app::WINDOW_SIZE)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app)
}

/// Clicks `button` and waits (on the job's channel, no sleeps) until `done` holds for its
/// result; `approve` answers a sign-in when one is shown.
fn run_job<T: Clone>(
    h: &mut Harness<'_, App>,
    button: &str,
    channel: impl Fn(&App) -> JobResult<T>,
    done: impl Fn(&T) -> bool,
    approve: impl Fn(&str),
) -> T {
    h.get_by_label(button).click();
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
    let mut rx = channel(h.state()).subscribe();
    let result = rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|c| c.as_ref().is_some_and(&done)))
            .await
            .expect("the job finishes")
            .expect("the app lives")
            .clone()
            .expect("a result")
    });
    h.run_steps(2);
    result
}

/// Clicks Test connection and waits for its lines.
fn test_connection(h: &mut Harness<'_, App>, approve: impl Fn(&str)) -> Vec<CheckLine> {
    run_job(h, "Test connection", |a| a.check.clone(), |l| !l.is_empty(), approve)
}

/// Clicks Browse buckets and waits for the list or why there is none.
fn browse_buckets(h: &mut Harness<'_, App>, approve: impl Fn(&str)) -> BucketList {
    run_job(
        h,
        "Browse buckets",
        |a| a.buckets.clone(),
        |b| *b != BucketList::Listing,
        approve,
    )
}

#[test]
fn access_keys_pass_every_check_and_leave_nothing_behind() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt.block_on(Emulator::start_with_buckets(&["team"])).expect("emulator");
    emu.put("team", "projects/plan.txt", &b"plan"[..]).expect("seed");
    let dir = tempfile::tempdir().expect("dir");
    let editor = keys_editor(&emu, "team", "projects");
    let mut h = harness(&emu, dir.path(), editor);
    let lines = test_connection(&mut h, |_| unreachable!("keys need no sign-in"));
    assert!(lines.iter().all(|l| l.ok), "{lines:?}");
    assert_eq!(
        lines.iter().map(|l| l.what).collect::<Vec<_>>(),
        ["Sign-in", "List", "Read", "Write"]
    );
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
    let auth = sso_profile(dir.path());
    let approve = |url: &str| approve_as_alice(&rt, url);
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

#[test]
fn browse_buckets_lists_what_keys_may_see_and_a_click_fills_the_field() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt
        .block_on(Emulator::start_with_buckets(&["team", "archive"]))
        .expect("emulator");
    let dir = tempfile::tempdir().expect("dir");
    let editor = keys_editor(&emu, "", "");
    let mut h = harness(&emu, dir.path(), editor);
    let list = browse_buckets(&mut h, |_| unreachable!("keys need no sign-in"));
    assert_eq!(list, BucketList::Found(vec!["archive".into(), "team".into()]));
    h.get_by_label("archive").click();
    h.run_steps(2);
    assert_eq!(h.state().editor.as_ref().expect("dialog").bucket, "archive");
    assert!(
        h.query_by_label("Pick a bucket:").is_none(),
        "the list closes once picked"
    );
    assert!(h.state().buckets.borrow().is_none());
}

#[test]
fn under_the_per_user_policy_browse_buckets_says_to_type_the_name() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt.block_on(Emulator::start_with_buckets(&["home"])).expect("emulator");
    emu.set_per_user_policy(true);
    let dir = tempfile::tempdir().expect("dir");
    let editor = DriveEditor::edit(&drive(
        "Home",
        "",
        pail_app::MY_FOLDER,
        &emu.endpoint(),
        sso_profile(dir.path()),
    ));
    let mut h = harness(&emu, dir.path(), editor);
    let list = browse_buckets(&mut h, |url| approve_as_alice(&rt, url));
    let BucketList::Failed(why) = list else {
        panic!("listing buckets is denied by the per-user policy: {list:?}");
    };
    assert!(why.contains("type the bucket name"), "{why}");
    assert!(h.query_by_label(&why).is_some(), "the dialog shows why");
}
