//! The drives window driven headless with egui_kittest, as an employee would use it: add a
//! drive with "Use AWS Profile" (profiles read from the chosen config file, each with its
//! kind) and "My folder", one with access keys (the secret kept out of the drives file), edit
//! and remove; the result is checked in the drives file `pail` reads.

use eframe::egui;
use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pail_app::{App, MY_FOLDER};
use pail_drives::{DriveAuth, DrivesFile};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let config = format!(
            "{}\n[profile admin-keys]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = x\n",
            home_profile_config()
        );
        std::fs::write(dir.path().join("aws-config"), config).expect("config");
        Self { dir }
    }

    fn drives_path(&self) -> std::path::PathBuf {
        self.dir.path().join("pail/drives.toml")
    }

    fn config_path(&self) -> String {
        self.dir.path().join("aws-config").display().to_string()
    }

    fn harness(&self) -> Harness<'static, App> {
        Harness::builder()
            .with_size(pail_app::WINDOW_SIZE)
            .build_ui_state(|ui, app: &mut App| app.ui(ui), App::load(self.drives_path()))
    }

    fn saved(&self) -> DrivesFile {
        DrivesFile::load(&self.drives_path()).expect("drives file")
    }
}

/// An Identity Center profile as the administrator's guide hands it out.
fn home_profile_config() -> &'static str {
    "[profile home]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = S3HomeFolder\n\n\
     [sso-session corp]\nsso_start_url = https://d-1234567890.awsapps.com/start\nsso_region = eu-west-1\n"
}

fn type_into(h: &mut Harness<'_, App>, label: &str, text: &str) {
    type_into_role(h, Role::TextInput, label, text);
}

fn type_into_role(h: &mut Harness<'_, App>, role: Role, label: &str, text: &str) {
    h.get_by_role_and_label(role, label).focus();
    h.run();
    h.get_by_role_and_label(role, label).type_text(text);
    h.run();
}

fn click(h: &mut Harness<'_, App>, label: &str) {
    h.get_by_label(label).click();
    h.run();
}

/// Points the dialog at the test's config file, reads its profiles and opens the drop-down.
fn open_profile_picker(h: &mut Harness<'_, App>, s: &Setup) {
    h.state_mut().editor.as_mut().expect("dialog").config_file.clear();
    h.run();
    type_into(h, "Config file", &s.config_path());
    click(h, "Read profiles");
    h.get_by_role_and_label(Role::ComboBox, "Profile").click();
    h.run();
}

/// In the open Add drive dialog: "Home" on corp-home-folders with the SSO profile, then OK.
fn add_home_drive(h: &mut Harness<'_, App>, s: &Setup) {
    type_into(h, "Name", "Home");
    type_into(h, "Bucket", "corp-home-folders");
    open_profile_picker(h, s);
    click(h, "home — IAM Identity Center (SSO)");
    click(h, "OK");
}

#[test]
fn add_a_drive_with_an_aws_profile_and_my_folder() {
    let s = Setup::new();
    let mut h = s.harness();
    click(&mut h, "Add drive…");
    type_into(&mut h, "Name", "Home");
    type_into(&mut h, "Mount point", "/home/alice/P");
    type_into(&mut h, "Bucket", "corp-home-folders");
    open_profile_picker(&mut h, &s);
    // Each profile shows its kind.
    assert!(h.query_by_label("admin-keys — access keys").is_some());
    click(&mut h, "home — IAM Identity Center (SSO)");
    click(&mut h, "OK");
    assert!(
        h.state().editor.is_none(),
        "dialog closed: {:?}",
        h.state().editor.as_ref().and_then(|e| e.error.clone())
    );

    let saved = s.saved();
    let d = saved.get("Home").expect("saved");
    assert_eq!(d.bucket, "corp-home-folders");
    assert_eq!(d.prefix, MY_FOLDER);
    assert_eq!(d.mount_point.as_deref(), Some("/home/alice/P"));
    assert_eq!(
        d.auth,
        DriveAuth::Profile {
            profile: "home".into(),
            config_file: Some(s.config_path().into()),
        }
    );
    // The list shows it.
    assert!(h.query_by_label("corp-home-folders/${aws:userid}").is_some());
}

/// Issue 21 part 4: the keyboard works the dialog as in any other — Esc closes it without
/// saving, Enter is OK (once nothing required is missing), Esc with a drop-down open only
/// closes the drop-down.
#[test]
fn esc_closes_the_dialog_and_enter_is_ok() {
    let s = Setup::new();
    let mut h = s.harness();
    click(&mut h, "Add drive…");
    type_into(&mut h, "Name", "Scratch");
    h.key_press(egui::Key::Escape);
    h.run();
    assert!(h.state().editor.is_none(), "Esc closed the dialog");
    assert!(s.saved().get("Scratch").is_err(), "and saved nothing");

    click(&mut h, "Add drive…");
    open_profile_picker(&mut h, &s);
    h.key_press(egui::Key::Escape);
    h.run();
    assert!(h.state().editor.is_some(), "Esc closed the drop-down, not the dialog");
    type_into(&mut h, "Name", "Keys");
    click(&mut h, "Use AWS Profile");
    type_into(&mut h, "Bucket", "team-share");
    type_into(&mut h, "Access key ID", "AKIAEXAMPLEKEY");
    h.key_press(egui::Key::Enter);
    h.run();
    assert!(h.state().editor.is_some(), "Enter waits for the secret, as OK does");
    type_into_role(&mut h, Role::PasswordInput, "Secret access key", "very-secret-value");
    h.key_press(egui::Key::Enter);
    h.run();
    assert!(h.state().editor.is_none(), "Enter saved");
    assert_eq!(s.saved().get("Keys").expect("saved").bucket, "team-share");
}

#[test]
fn access_keys_keep_the_secret_out_of_the_drives_file() {
    let s = Setup::new();
    let mut h = s.harness();
    click(&mut h, "Add drive…");
    type_into(&mut h, "Name", "Team");
    type_into(&mut h, "Bucket", "team-share");
    click(&mut h, "My folder (${aws:userid})");
    type_into(&mut h, "Folder", "projects/x");
    click(&mut h, "Use AWS Profile");
    type_into(&mut h, "Access key ID", "AKIAEXAMPLEKEY");
    // The empty secret is marked and OK stays disabled.
    assert!(h.query_by_label("Required: Secret access key").is_some());
    click(&mut h, "OK");
    assert!(h.state().editor.is_some(), "a disabled OK does nothing");
    type_into_role(&mut h, Role::PasswordInput, "Secret access key", "very-secret-value");
    click(&mut h, "OK");
    assert!(h.state().editor.is_none());
    let text = std::fs::read_to_string(s.drives_path()).expect("file");
    assert!(!text.contains("very-secret-value"), "{text}");
    assert_eq!(
        pail_drives::load_secret(&s.drives_path(), "Team").expect("secret"),
        "very-secret-value"
    );
    assert_eq!(s.saved().get("Team").expect("saved").target(), "team-share/projects/x");

    // Renamed, the drive takes its secret along, and the old name keeps none.
    click(&mut h, "More for Team");
    click(&mut h, "Edit Team");
    h.state_mut().editor.as_mut().expect("dialog").name = "Team share".into();
    h.run();
    click(&mut h, "OK");
    assert!(h.state().editor.is_none());
    assert_eq!(
        pail_drives::load_secret(&s.drives_path(), "Team share").expect("moved"),
        "very-secret-value"
    );
    assert!(
        pail_drives::load_secret(&s.drives_path(), "Team").is_err(),
        "the old name's secret is gone"
    );
}

#[test]
fn edit_and_remove_a_drive() {
    let s = Setup::new();
    let mut h = s.harness();
    click(&mut h, "Add drive…");
    add_home_drive(&mut h, &s);

    click(&mut h, "More for Home");
    click(&mut h, "Edit Home");
    click(&mut h, "Read-only");
    click(&mut h, "Mount when pail starts");
    type_into(&mut h, "Cache size", "lots");
    click(&mut h, "OK");
    let error = h.state().editor.as_ref().and_then(|e| e.error.clone());
    assert!(
        error.as_deref().is_some_and(|e| e.starts_with("Cache size")),
        "{error:?}"
    );
    h.state_mut().editor.as_mut().expect("dialog").cache_size.clear();
    h.run();
    type_into(&mut h, "Cache size", "20GiB");
    click(&mut h, "OK");
    let d = s.saved().get("Home").expect("saved").clone();
    assert!(d.read_only && d.mount_at_start, "{d:?}");
    assert_eq!(d.cache_size.as_deref(), Some("20GiB"));
    // Opening and saving again keeps what the dialog did not change.
    click(&mut h, "More for Home");
    click(&mut h, "Edit Home");
    click(&mut h, "OK");
    assert_eq!(s.saved().get("Home").expect("saved"), &d);

    click(&mut h, "More for Home");
    click(&mut h, "Remove Home");
    assert!(s.saved().drives.is_empty());
}

#[test]
fn required_fields_are_marked_and_ok_waits_for_them() {
    let s = Setup::new();
    let mut h = s.harness();
    click(&mut h, "Add drive…");
    assert!(h.query_by_label("Required: Name, Bucket, Profile").is_some());
    click(&mut h, "OK");
    assert!(h.state().editor.is_some());
    type_into(&mut h, "Name", "Home");
    type_into(&mut h, "Bucket", "corp-home-folders");
    assert!(h.query_by_label("Required: Profile").is_some());
    open_profile_picker(&mut h, &s);
    click(&mut h, "home — IAM Identity Center (SSO)");
    assert!(h.query_by_label_contains("Required").is_none());
    click(&mut h, "OK");
    assert!(h.state().editor.is_none());
}

#[test]
fn a_drives_file_broken_by_hand_is_reported_and_kept_aside() {
    let s = Setup::new();
    std::fs::create_dir_all(s.drives_path().parent().expect("dir")).expect("dir");
    let broken = "[[drive]]\nname = \"Old\"\nbucket = \n";
    std::fs::write(s.drives_path(), broken).expect("write");
    let mut h = s.harness();
    let message = h.state().message.clone().expect("a message");
    assert!(message.contains("line 3"), "{message}");
    click(&mut h, "Add drive…");
    add_home_drive(&mut h, &s);
    assert!(s.saved().get("Home").is_ok(), "the new file is written");
    let kept = s.drives_path().with_file_name("drives.toml.unreadable");
    assert_eq!(
        std::fs::read_to_string(kept).expect("backup"),
        broken,
        "the old text is kept"
    );
}

#[test]
fn free_drive_letters_are_offered_and_a_letter_taken_meanwhile_is_reported_at_start() {
    let s = Setup::new();
    let mut h = s.harness();
    // What Windows reports (GetLogicalDrives); Linux offers a folder instead.
    h.state_mut().free_letters = || Some(vec!["Q:".into(), "R:".into()]);
    click(&mut h, "Add drive…");
    assert!(h.query_by_label("Mount point").is_none(), "a letter, not a folder");
    type_into(&mut h, "Name", "Home");
    type_into(&mut h, "Bucket", "corp-home-folders");
    open_profile_picker(&mut h, &s);
    click(&mut h, "home — IAM Identity Center (SSO)");
    h.get_by_role_and_label(Role::ComboBox, "Drive letter").click();
    h.run();
    click(&mut h, "R:");
    click(&mut h, "OK");
    assert_eq!(s.saved().get("Home").expect("saved").mount_point.as_deref(), Some("R:"));

    // R: was taken (a network share, say) before the drive starts.
    h.state_mut().free_letters = || Some(vec!["Q:".into()]);
    click(&mut h, "Start Home");
    let message = h.state().message.clone().unwrap_or_default();
    assert!(
        message.contains("R: is in use now") && message.contains("Edit the drive"),
        "{message}"
    );
    assert!(h.state().mounts.is_empty(), "nothing was started");
    assert!(h.query_by_label(&message).is_some(), "the window says so");
}
