//! The app's three screens against pail-emulator, for a look without AWS and for the user
//! guide's screenshots: `cargo run -p pail-app --example tour -- list|dialog|sign-in`.
//! Two drives (an IAM Identity Center profile with "My folder", and access keys); `sign-in`
//! starts the first one's sign-in, so the panel shows the emulator's page and code.

use std::sync::Arc;

use pail_app::{App, DriveEditor};
use pail_drives::{Drive, DriveAuth, DrivesFile};

fn drive(name: &str, bucket: &str, prefix: &str, mount_point: &str, auth: DriveAuth) -> Drive {
    Drive {
        name: name.into(),
        bucket: bucket.into(),
        prefix: prefix.into(),
        mount_point: Some(mount_point.into()),
        region: Some("eu-west-1".into()),
        endpoint_url: None,
        allow_http: false,
        auth,
        read_only: false,
        sse_kms_key_id: None,
        cache_size: None,
        mount_at_start: false,
    }
}

fn main() -> eframe::Result {
    let screen = std::env::args().nth(1).unwrap_or_else(|| "list".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let emu = rt
        .block_on(pail_emulator::Emulator::start_with_buckets(&["corp-home-folders"]))
        .expect("emulator");
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("aws-config");
    std::fs::write(&config, pail_emulator::sso_config("home")).expect("config");
    let mut drives = DrivesFile::default();
    drives.upsert(drive(
        "Home",
        "corp-home-folders",
        pail_app::MY_FOLDER,
        "P:",
        DriveAuth::Profile {
            profile: "home".into(),
            config_file: Some(config),
        },
    ));
    drives.upsert(drive(
        "Team",
        "team-share",
        "projects",
        "T:",
        DriveAuth::Keys {
            access_key_id: "AKIAEXAMPLEKEY".into(),
        },
    ));
    let path = dir.path().join("drives.toml");
    drives.save(&path).expect("drives file");
    let mut app = App::load(path);
    app.autostart = pail_app::Autostart::for_this_app();
    let identity = emu.identity_endpoint();
    app.endpoints = pail_auth::Endpoints {
        sso_oidc: Some(identity.clone()),
        sso: Some(identity.clone()),
        sts: Some(identity),
    };
    app.token_cache_dir = Some(dir.path().join("sso-cache"));
    app.open_url = Arc::new(|url| eprintln!("the browser would open {url}"));
    match screen.as_str() {
        "dialog" => {
            let home = app.drives.get("Home").expect("Home").clone();
            app.editor = Some(DriveEditor::edit(&home));
        }
        "sign-in" => app.sign_in("Home"),
        _ => {}
    }
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("pail")
            .with_inner_size(pail_app::WINDOW_SIZE),
        ..Default::default()
    };
    let result = eframe::run_native("pail", options, Box::new(|_| Ok(Box::new(app))));
    drop(emu);
    result
}
