//! "Start pail when I sign in": the checkbox under the drive list registers the app to start
//! with the session in the background (on Linux an XDG autostart entry, as the Windows build
//! writes the current user's Run key) and unregisters it again.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pail_app::{App, Autostart};

#[test]
#[allow(unsafe_code)]
fn the_checkbox_registers_pail_to_start_at_sign_in_and_unregisters_it() {
    let home = tempfile::tempdir().expect("home");
    // SAFETY: the only test in this binary, and no other thread runs yet: nothing reads the
    // environment concurrently. auto-launch finds ~/.config/autostart through HOME.
    unsafe { std::env::set_var("HOME", home.path()) };
    let mut app = App::load(home.path().join("drives.toml"));
    app.autostart = Autostart::for_this_app();
    assert!(app.autostart.is_some(), "start at sign-in is available on Linux");
    let mut h = Harness::builder()
        .with_size(pail_app::WINDOW_SIZE)
        .build_ui_state(|ui, app: &mut App| app.ui(ui), app);
    let entry = home.path().join(".config/autostart/pail.desktop");
    assert!(!entry.exists());

    h.get_by_label("Start pail when I sign in").click();
    h.run();
    let text = std::fs::read_to_string(&entry).expect("an autostart entry");
    let exe = std::env::current_exe().expect("exe");
    assert!(
        text.contains(&format!("Exec=\"{}\" {}", exe.display(), pail_app::BACKGROUND_ARG)),
        "{text}"
    );
    assert!(h.state().autostart.as_ref().is_some_and(Autostart::is_enabled));
    assert!(
        Autostart::for_this_app().is_some_and(|a| a.is_enabled()),
        "read back from the system, not only remembered"
    );

    h.get_by_label("Start pail when I sign in").click();
    h.run();
    assert!(!entry.exists(), "unregistered");
    assert!(h.state().message.is_none(), "{:?}", h.state().message);
}
