//! The real tray on Linux: tray-icon's StatusNotifierItem on a private D-Bus session bus
//! (dbus-daemon started by the test), read the way a desktop's tray host reads it
//! (`com.canonical.dbusmenu.GetLayout`), and a click sent the way the host sends it, which
//! reaches the app as a command.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use eframe::egui;
use pail_app::{App, TrayCommand};
use pail_drives::{Drive, DriveAuth, DrivesFile};

/// Kills the bus when the test ends, however it ends.
struct Bus(std::process::Child);

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dbus_send(args: &[&str]) -> String {
    let out = Command::new("dbus-send")
        .args(["--session", "--print-reply"])
        .args(args)
        .output()
        .expect("dbus-send (Debian package dbus)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The (id, label) of every item of a dbusmenu layout as dbus-send prints it.
fn menu_items(layout: &str) -> Vec<(i32, String)> {
    let lines: Vec<&str> = layout.lines().map(str::trim).collect();
    let mut items = Vec::new();
    let mut id = None;
    for (i, line) in lines.iter().enumerate() {
        if i > 0
            && lines[i - 1].ends_with("struct {")
            && let Some(n) = line.strip_prefix("int32 ")
        {
            id = n.parse().ok();
        }
        if *line == "string \"label\""
            && let (Some(id), Some(next)) = (id, lines.get(i + 1))
            && let Some(label) = next.split("string \"").nth(1)
        {
            items.push((id, label.trim_end_matches('"').to_owned()));
        }
    }
    items
}

#[test]
#[allow(unsafe_code)]
fn the_tray_menu_shows_the_drives_and_a_click_reaches_the_app() {
    let dir = tempfile::tempdir().expect("dir");
    let socket = dir.path().join("bus");
    let mut daemon = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--print-address=1"])
        .arg(format!("--address=unix:path={}", socket.display()))
        .stdout(Stdio::piped())
        .spawn()
        .expect("dbus-daemon (Debian package dbus)");
    let stdout = daemon.stdout.take().expect("stdout");
    let _bus = Bus(daemon);
    // The daemon prints its address once it listens.
    let address = BufReader::new(stdout)
        .lines()
        .next()
        .expect("an address")
        .expect("read");
    // SAFETY: the only test in this binary, before any other thread exists: nothing reads
    // the environment concurrently. ksni and dbus-send find the bus through it.
    unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &address) };

    let path = dir.path().join("drives.toml");
    let mut drives = DrivesFile::default();
    drives.upsert(Drive {
        name: "Home".into(),
        bucket: "corp-home-folders".into(),
        prefix: String::new(),
        mount_point: Some(dir.path().join("P").display().to_string()),
        region: None,
        endpoint_url: None,
        allow_http: false,
        auth: DriveAuth::Default,
        read_only: false,
        sse_kms_key_id: None,
        cache_size: None,
        mount_at_start: false,
    });
    drives.save(&path).expect("drives file");
    let mut app = App::load(path);
    let ctx = egui::Context::default();
    app.attach_tray(&ctx);
    let tray = app.tray.as_ref().expect("a tray icon on the session bus");

    let names = dbus_send(&["--dest=org.freedesktop.DBus", "/", "org.freedesktop.DBus.ListNames"]);
    let item = names
        .split('"')
        .find(|n| n.starts_with("org.kde.StatusNotifierItem-"))
        .unwrap_or_else(|| panic!("pail's item is on the bus: {names}"))
        .to_owned();
    let dest = format!("--dest={item}");
    let layout = dbus_send(&[
        &dest,
        "/MenuBar",
        "com.canonical.dbusmenu.GetLayout",
        "int32:0",
        "int32:-1",
        "array:string:label",
    ]);
    let items = menu_items(&layout);
    let labels: Vec<&str> = items.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        labels,
        ["Open pail", "Start Home", "Quit (waits for uploads)"],
        "{layout}"
    );

    let (start_id, _) = items.iter().find(|(_, l)| l == "Start Home").expect("Start Home");
    dbus_send(&[
        &dest,
        "/MenuBar",
        "com.canonical.dbusmenu.Event",
        &format!("int32:{start_id}"),
        "string:clicked",
        "variant:int32:0",
        "uint32:0",
    ]);
    assert_eq!(
        tray.next_command(Duration::from_secs(10)),
        Some(TrayCommand::Start("Home".into())),
        "the click reaches the app"
    );
}
