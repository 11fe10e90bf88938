//! Changes to a folder while its files are still uploading (issue 17): what is deleted stays
//! deleted, what is moved lands only under its new name, whatever the interleaving. The
//! emulator answers with a little latency so uploads are in flight throughout; the programs
//! run right after the files are closed, without waiting.
//!
//! The defect these catch: a listing loaded while uploads landed missed the files that landed
//! meanwhile, so `rm -rf` never saw them and failed with "Directory not empty" (and they stayed
//! in S3); a folder move left them behind.

use std::fs;
use std::process::Command;
use std::time::Duration;

use pail_emulator::Faults;
use pail_tests::{BUCKET, DriveOptions, TestDrive};

const FILES: usize = 1050;

/// A drive whose uploads start as files close, on a server answering in a few milliseconds,
/// holding `FILES` empty files in `d/`, closed just now.
fn drive_with_files_uploading() -> TestDrive {
    let drive = TestDrive::start_with(DriveOptions::writable(), |_| {});
    drive.emu.set_faults(Faults {
        latency: Duration::from_millis(5),
        ..Faults::default()
    });
    fs::create_dir(drive.path("d")).expect("mkdir");
    for i in 0..FILES {
        fs::write(drive.path(&format!("d/f{i:04}")), b"").expect("create");
    }
    drive
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rm_rf_of_a_folder_whose_files_are_uploading_leaves_nothing_behind() {
    let drive = drive_with_files_uploading();
    run(Command::new("rm").arg("-rf").arg(drive.path("d")));
    drive.drain();
    assert!(!drive.path("d").exists());
    assert_eq!(drive.emu.keys(BUCKET, ""), Vec::<String>::new());
}

#[test]
fn a_folder_moved_while_its_files_upload_lands_only_under_its_new_name() {
    let drive = drive_with_files_uploading();
    run(Command::new("mv").arg(drive.path("d")).arg(drive.path("e")));
    drive.drain();
    assert_eq!(
        drive.emu.keys(BUCKET, "d"),
        Vec::<String>::new(),
        "nothing left under the old name"
    );
    let moved = drive.emu.keys(BUCKET, "e/");
    assert_eq!(moved.len(), FILES + 1, "every file and the folder marker");
    assert_eq!(fs::read_dir(drive.path("e")).expect("list").count(), FILES);
}

#[test]
fn files_overwritten_while_they_upload_end_with_their_last_version() {
    let drive = drive_with_files_uploading();
    for i in 0..FILES {
        fs::write(drive.path(&format!("d/f{i:04}")), format!("second {i}")).expect("overwrite");
    }
    drive.drain();
    assert_eq!(
        drive.emu.keys(BUCKET, "d/").len(),
        FILES + 1,
        "every file and the folder marker"
    );
    for i in 0..FILES {
        let key = format!("d/f{i:04}");
        assert_eq!(
            drive.object(&key).expect("there"),
            format!("second {i}").as_bytes(),
            "{key}"
        );
    }
    assert!(drive.vfs.writeback_status().conflicts.is_empty());
}

/// Issue 19: a folder move whose keys are still moving (every copy held back) answers `mv` at
/// once, shows the folder under its new name only, and goes on after a restart from its
/// journal record: the restarted drive shows it moved before the keys have, and S3 ends with
/// every key under the new name only.
#[test]
fn a_folder_move_under_way_shows_moved_and_resumes_after_a_restart() {
    let mut drive = TestDrive::start_with(DriveOptions::writable(), |emu| {
        for i in 0..30 {
            emu.put(BUCKET, &format!("old/{i:02}.txt"), format!("{i}").into_bytes())
                .expect("seed");
        }
    });
    let held = drive.emu.hold(pail_emulator::S3Op::CopyObject);
    fs::rename(drive.path("old"), drive.path("new")).expect("mv answers while the copies wait");
    assert!(held.wait_arrived(1, Duration::from_secs(30)), "the move started");
    let names = |drive: &TestDrive| {
        let mut n: Vec<String> = fs::read_dir(drive.path(""))
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&drive), ["new"]);
    assert!(drive.vfs.writeback_status().moving_folders[0].contains("old"));
    // A restart with the move half done: the journal record carries it on.
    drive.remount(true);
    assert_eq!(names(&drive), ["new"], "shown moved before its keys are");
    held.release();
    drive.drain();
    let keys = drive.emu.keys(BUCKET, "");
    assert_eq!(keys.len(), 30, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("new/")), "{keys:?}");
    assert_eq!(fs::read(drive.path("new/07.txt")).expect("read"), b"7");
}
