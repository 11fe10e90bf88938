//! The app's screens against pail-emulator, for a look without AWS and for the user guide's
//! screenshots: `cargo run -p pail-app --example tour -- list|dialog|sign-in|mounted|activity`.
//! Two drives (an IAM Identity Center profile with "My folder", and access keys); `sign-in`
//! starts the first one's sign-in, so the panel shows the emulator's page and code.
//!
//! `mounted` mounts two key drives (`pail` beside the example's folder, or `PAIL_BINARY`) and
//! leaves them idle: what docs/performance.md's idle-CPU figure measures. `activity` also
//! writes a large file whose completion the emulator holds (an upload in progress), makes a
//! conflict copy (another client's change to a file being edited), and mounts a third drive
//! through Identity Center (the example approves as the browser) whose session then ends, so
//! the list shows a mounted, an uploading and an expired drive.

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
    app.endpoints = pail_auth::Endpoints::all_at(identity);
    app.token_cache_dir = Some(dir.path().join("sso-cache"));
    app.open_url = Arc::new(|url| eprintln!("the browser would open {url}"));
    if matches!(screen.as_str(), "mounted" | "activity") {
        return mounted(&rt, &emu, screen == "activity", app.open_url.clone());
    }
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

/// Two key drives mounted on the emulator (and, for `activity`, an upload in progress and a
/// conflict copy), shown in the window until it closes.
fn mounted(
    rt: &tokio::runtime::Runtime,
    emu: &pail_emulator::Emulator,
    activity: bool,
    open_url: pail_app::OpenUrl,
) -> eframe::Result {
    emu.create_bucket("team-share").expect("bucket");
    emu.put("team-share", "plan.txt", &b"the plan"[..]).expect("seed");
    let dir = tempfile::tempdir().expect("dir");
    let mut drives = DrivesFile::default();
    let mut points = Vec::new();
    for (name, bucket) in [("Home", "corp-home-folders"), ("Team", "team-share")] {
        let point = dir.path().join(name);
        std::fs::create_dir_all(&point).expect("mount point");
        let mut d = drive(
            name,
            bucket,
            "",
            &point.display().to_string(),
            DriveAuth::Keys {
                access_key_id: pail_emulator::DEFAULT_ACCESS_KEY.into(),
            },
        );
        d.endpoint_url = Some(emu.endpoint());
        d.region = Some(pail_emulator::REGION.into());
        d.mount_at_start = true;
        drives.upsert(d);
        points.push(point);
    }
    let projects = activity.then(|| expiring_drive(emu, &mut drives, dir.path()));
    let path = dir.path().join("drives.toml");
    drives.save(&path).expect("drives file");
    for name in ["Home", "Team"] {
        pail_drives::store_secret(&path, name, pail_emulator::DEFAULT_SECRET_KEY).expect("secret");
    }
    let mut app = App::load(path);
    app.open_url = open_url;
    app.pail_binary = std::env::var_os("PAIL_BINARY").map_or_else(
        || {
            let exe = std::env::current_exe().expect("exe");
            exe.parent().and_then(|d| d.parent()).expect("target dir").join("pail")
        },
        std::path::PathBuf::from,
    );
    let home = dir.path().display().to_string();
    app.mount_env = vec![
        ("HOME".into(), home.clone()),
        ("XDG_CACHE_HOME".into(), format!("{home}/.cache")),
        ("XDG_RUNTIME_DIR".into(), home),
    ];
    let held = activity.then(|| emu.hold(pail_emulator::S3Op::CompleteMultipartUpload));
    if projects.is_some() {
        sign_in_as_the_browser(rt, emu, &mut app, dir.path());
    }
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("pail")
            .with_inner_size(pail_app::WINDOW_SIZE),
        ..Default::default()
    };
    let result = std::thread::scope(|scope| {
        if activity {
            let (home_dir, team_dir) = (&points[0], &points[1]);
            // Once both are mounted: a 48 MiB video whose upload waits at its completion, and
            // a file edited here while another client replaced it.
            scope.spawn(move || {
                let mounted = |d: &std::path::Path| {
                    std::fs::read_to_string("/proc/self/mounts")
                        .is_ok_and(|m| m.lines().any(|l| l.split(' ').nth(1) == Some(&*d.to_string_lossy())))
                };
                // An example may poll; tests never do.
                while !(mounted(home_dir) && mounted(team_dir)) {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                std::fs::write(home_dir.join("holiday.mp4"), vec![9u8; 48 << 20]).expect("write");
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(team_dir.join("plan.txt"))
                    .expect("open");
                std::io::Write::write_all(&mut f, b"my plan").expect("write");
                emu.put("team-share", "plan.txt", &b"their plan"[..]).expect("theirs");
            });
            if let Some(point) = &projects {
                // Once mounted, the company ends the session; a file saved then waits.
                scope.spawn(move || {
                    while !std::fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
                        m.lines()
                            .any(|l| l.split(' ').nth(1) == Some(&*point.to_string_lossy()))
                    }) {
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                    let mut notes = std::fs::File::create(point.join("notes.txt")).expect("create");
                    emu.identity().end_sessions();
                    // Saved once the credentials have run out: its upload waits for the user.
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    std::io::Write::write_all(&mut notes, b"written after the session ended").expect("write");
                });
            }
        }
        eframe::run_native(
            "pail",
            options,
            Box::new(|cc| {
                let ctx = cc.egui_ctx.clone();
                app.wake = std::sync::Arc::new(move || ctx.request_repaint());
                app.start_marked();
                Ok(Box::new(app))
            }),
        )
    });
    drop(held);
    let _ = rt;
    result
}

/// A third drive, "Projects", signing in through the emulator's Identity Center with role
/// credentials that last 3 s, so its mount notices soon when the session ends. Returns its
/// mount point.
fn expiring_drive(
    emu: &pail_emulator::Emulator,
    drives: &mut DrivesFile,
    home: &std::path::Path,
) -> std::path::PathBuf {
    emu.create_bucket("projects").expect("bucket");
    emu.identity().set_lifetimes(pail_emulator::Lifetimes {
        role_credentials: std::time::Duration::from_secs(3),
        ..pail_emulator::Lifetimes::default()
    });
    let config = home.join("aws-config");
    std::fs::write(&config, pail_emulator::sso_config("projects")).expect("config");
    let point = home.join("Projects");
    std::fs::create_dir_all(&point).expect("mount point");
    let mut d = drive(
        "Projects",
        "projects",
        "",
        &point.display().to_string(),
        DriveAuth::Profile {
            profile: "projects".into(),
            config_file: Some(config),
        },
    );
    d.endpoint_url = Some(emu.endpoint());
    d.region = Some(pail_emulator::REGION.into());
    drives.upsert(d);
    point
}

/// Starts "Projects": the app signs in, and this approves the page as the browser would.
fn sign_in_as_the_browser(
    rt: &tokio::runtime::Runtime,
    emu: &pail_emulator::Emulator,
    app: &mut App,
    home: &std::path::Path,
) {
    let identity = emu.identity_endpoint();
    app.endpoints = pail_auth::Endpoints::all_at(identity);
    // Where the mount (HOME is `home`) finds the sign-in, as the AWS CLI does.
    app.token_cache_dir = Some(home.join(".aws/sso/cache"));
    app.start("Projects");
    let mut rx = app.sessions.get("Projects").expect("a sign-in").watch();
    rt.spawn(async move {
        let waiting = match rx
            .wait_for(|st| matches!(st, pail_app::SignInState::Waiting { .. }))
            .await
        {
            Ok(st) => st.clone(),
            Err(_) => return,
        };
        if let pail_app::SignInState::Waiting { url, .. } = waiting {
            let _ = pail_emulator::browser::decide(&url, Some("alice@example.com")).await;
        }
    });
}
