//! The sign-in panel driven headless with egui_kittest against pail-emulator's IAM Identity
//! Center over real HTTP: the panel shows the emulator's code and opens the browser, closes when
//! the test (as the user's browser) approves, offers Retry after a denial, and shows "Session
//! expired — Sign in again" when the emulator ends the session — with one notification, a
//! "Sign in again" item in the tray menu, and a credentials request that waits, then completes
//! once the user consents.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pail_app::{App, Notice, SignInState, TrayCommand};
use pail_drives::{Drive, DriveAuth, DrivesFile};
use pail_emulator::Emulator;

struct Setup {
    emu: Emulator,
    dir: tempfile::TempDir,
    opened: Arc<Mutex<Vec<String>>>,
    notices: Arc<Mutex<Vec<Notice>>>,
    rt: tokio::runtime::Runtime,
}

impl Setup {
    fn new() -> Self {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let emu = rt.block_on(Emulator::start_with_buckets(&["home"])).expect("emulator");
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("aws-config");
        std::fs::write(&config, pail_emulator::sso_config("corp")).expect("config");
        let mut drives = DrivesFile::default();
        drives.upsert(Drive {
            name: "Home".into(),
            bucket: "home".into(),
            prefix: "${aws:userid}".into(),
            mount_point: None,
            region: None,
            endpoint_url: None,
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
        drives.save(&dir.path().join("drives.toml")).expect("drives file");
        Self {
            emu,
            dir,
            opened: Arc::new(Mutex::new(Vec::new())),
            notices: Arc::new(Mutex::new(Vec::new())),
            rt,
        }
    }

    fn harness(&self) -> Harness<'static, App> {
        let mut app = App::load(self.dir.path().join("drives.toml"));
        let identity = self.emu.identity_endpoint();
        app.endpoints = pail_auth::Endpoints::all_at(identity);
        app.token_cache_dir = Some(self.dir.path().join("sso-cache"));
        let opened = self.opened.clone();
        app.open_url = Arc::new(move |url| opened.lock().expect("opened").push(url.to_owned()));
        let notices = self.notices.clone();
        app.notify = Arc::new(move |n| notices.lock().expect("notices").push(n.clone()));
        Harness::builder()
            .with_size(pail_app::WINDOW_SIZE)
            .build_ui_state(|ui, app: &mut App| app.ui(ui), app)
    }

    fn approve(&self, url: &str, user: Option<&str>) {
        let page = self
            .rt
            .block_on(pail_emulator::browser::decide(url, user))
            .expect("verification page");
        assert_eq!(page.status, 200, "{}", page.body);
    }
}

/// Waits (without sleeping) until drive `name`'s sign-in state satisfies `done`.
fn wait_for(h: &Harness<'_, App>, name: &str, done: impl Fn(&SignInState) -> bool) -> SignInState {
    let mut rx = h.state().sessions.get(name).expect("a sign-in").watch();
    let rt = h.state().runtime();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|s| done(s)))
            .await
            .expect("the sign-in state changes in time")
            .expect("the session lives")
            .clone()
    })
}

/// Clicks `label`. The panel's spinner repaints forever, so frames are stepped, not settled.
fn click(h: &mut Harness<'_, App>, label: &str) {
    h.get_by_label(label).click();
    h.run_steps(3);
}

#[test]
fn the_panel_shows_the_code_opens_the_browser_and_closes_when_approved() {
    let s = Setup::new();
    let mut h = s.harness();
    assert!(h.query_by_label("Stopped").is_some());
    click(&mut h, "More for Home");
    click(&mut h, "Sign in Home");
    let SignInState::Waiting { url, code } = wait_for(&h, "Home", |st| matches!(st, SignInState::Waiting { .. }))
    else {
        unreachable!()
    };
    h.run_steps(3);
    assert!(h.query_by_label(&code).is_some(), "the code {code} is shown");
    assert!(h.query_by_label("Signing in").is_some());
    assert_eq!(
        s.opened.lock().expect("opened").as_slice(),
        std::slice::from_ref(&url),
        "the browser opened once"
    );
    click(&mut h, "Open browser");
    assert_eq!(s.opened.lock().expect("opened").len(), 2, "and again on request");
    s.approve(&url, Some("alice@example.com"));
    wait_for(&h, "Home", |st| *st == SignInState::SignedIn);
    h.run_steps(3);
    assert!(h.query_by_label("Open browser").is_none(), "the panel closed");
    assert!(h.query_by_label("Signed in").is_some());
}

#[test]
fn a_denied_sign_in_says_so_and_retry_starts_again() {
    let s = Setup::new();
    let mut h = s.harness();
    click(&mut h, "More for Home");
    click(&mut h, "Sign in Home");
    let SignInState::Waiting { url, .. } = wait_for(&h, "Home", |st| matches!(st, SignInState::Waiting { .. })) else {
        unreachable!()
    };
    s.approve(&url, None);
    let failed = wait_for(&h, "Home", |st| matches!(st, SignInState::Failed(_)));
    h.run_steps(3);
    assert!(failed.label().contains("denied"), "{failed:?}");
    assert!(
        h.query_by_label("The sign-in did not complete: the sign-in was denied in the browser")
            .is_some()
    );
    click(&mut h, "Retry");
    let SignInState::Waiting { url: again, .. } = wait_for(&h, "Home", |st| matches!(st, SignInState::Waiting { .. }))
    else {
        unreachable!()
    };
    assert_ne!(again, url, "a new sign-in");
    s.approve(&again, Some("alice@example.com"));
    wait_for(&h, "Home", |st| *st == SignInState::SignedIn);
}

#[test]
fn an_ended_session_shows_sign_in_again_and_waiting_work_resumes_after_consent() {
    let s = Setup::new();
    let mut h = s.harness();
    click(&mut h, "More for Home");
    click(&mut h, "Sign in Home");
    let SignInState::Waiting { url, .. } = wait_for(&h, "Home", |st| matches!(st, SignInState::Waiting { .. })) else {
        unreachable!()
    };
    s.approve(&url, Some("alice@example.com"));
    wait_for(&h, "Home", |st| *st == SignInState::SignedIn);

    // The session ends; the next credentials request (an upload, say) waits for consent.
    s.emu.identity().end_sessions();
    let provider = h.state().sessions["Home"].auth().credentials_provider();
    let waiting = h.state().runtime().spawn(async move {
        provider
            .provide_credentials()
            .await
            .map(|c| c.access_key_id().to_owned())
    });
    let SignInState::SessionExpired { url, .. } =
        wait_for(&h, "Home", |st| matches!(st, SignInState::SessionExpired { .. }))
    else {
        unreachable!()
    };
    h.run_steps(3);
    // The drive's state in the list, and the button in the panel.
    assert_eq!(h.query_all_by_label("Session expired — Sign in again").count(), 2);
    assert_eq!(
        h.state().badge("Home"),
        pail_app::Badge::NeedsYou,
        "amber: the user must act"
    );
    // One notification, however many frames pass, and the tray offers the page.
    h.run_steps(3);
    let notices = s.notices.lock().expect("notices").clone();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(
        (notices[0].drive.as_str(), notices[0].url.as_str()),
        ("Home", url.as_str())
    );
    let entries = h.state().tray_entries();
    let item = entries
        .iter()
        .find(|e| e.command == TrayCommand::SignInAgain("Home".into()))
        .expect("a tray item to sign in again");
    assert_eq!(item.label, "Sign in again to Home");
    h.state_mut().apply(TrayCommand::SignInAgain("Home".into()));
    assert_eq!(
        s.opened.lock().expect("opened").last(),
        Some(&url),
        "the tray item opens the page"
    );
    let before = s.opened.lock().expect("opened").len();
    h.get_by_role_and_label(eframe::egui::accesskit::Role::Button, "Session expired — Sign in again")
        .click();
    h.run_steps(3);
    assert_eq!(
        s.opened.lock().expect("opened").len(),
        before + 1,
        "one click opens the browser"
    );
    s.approve(&url, Some("alice@example.com"));
    wait_for(&h, "Home", |st| *st == SignInState::SignedIn);
    h.run_steps(3);
    assert!(
        !h.state()
            .tray_entries()
            .iter()
            .any(|e| e.command == TrayCommand::SignInAgain("Home".into())),
        "signed in again: the tray item is gone"
    );
    let key = h
        .state()
        .runtime()
        .block_on(waiting)
        .expect("task")
        .expect("credentials after consent");
    assert!(key.starts_with("ASIA"));
}
