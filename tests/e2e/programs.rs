//! The save patterns of real programs, through the mount: Office's temp-and-rename save, an
//! editor's write-and-rename-over, `cp -r` of a 2,000-file tree, `mv` of a 500-file folder, and
//! `git init && git commit` — checked on S3 and again after a remount with an empty cache.

use std::fs;
use std::path::Path;
use std::process::Command;

use pail_tests::{BUCKET, DriveOptions, TestDrive, random_bytes, sha256_hex};

fn writable() -> TestDrive {
    TestDrive::start_with(DriveOptions::writable(), |_| {})
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn office_save_replaces_the_document_and_leaves_no_temporaries() {
    let drive = writable();
    let v1 = random_bytes(300_000, 1);
    fs::write(drive.path("Report.docx"), &v1).expect("first save");
    drive.drain();
    // Word: write the new version to a temp file, rename the original to a backup, rename the
    // temp file to the original name, delete the backup.
    let v2 = random_bytes(310_000, 2);
    fs::write(drive.path("~$Report.tmp"), &v2).expect("temp");
    fs::rename(drive.path("Report.docx"), drive.path("Report.docx.bak")).expect("backup");
    fs::rename(drive.path("~$Report.tmp"), drive.path("Report.docx")).expect("temp to original");
    fs::remove_file(drive.path("Report.docx.bak")).expect("delete backup");
    assert_eq!(fs::read(drive.path("Report.docx")).expect("read"), v2);
    drive.drain();
    assert_eq!(drive.emu.keys(BUCKET, ""), ["Report.docx"]);
    assert_eq!(drive.object("Report.docx").expect("object"), v2);
}

#[test]
fn editor_save_over_replaces_in_place() {
    let mut drive = writable();
    fs::write(drive.path("notes.txt"), b"draft").expect("write");
    drive.drain();
    // vim/gedit style: write a temp file next to it, rename it over the original.
    fs::write(drive.path(".notes.txt.swp"), b"final text").expect("temp");
    fs::rename(drive.path(".notes.txt.swp"), drive.path("notes.txt")).expect("rename over");
    drive.drain();
    assert_eq!(drive.emu.keys(BUCKET, ""), ["notes.txt"]);
    drive.remount(false);
    assert_eq!(fs::read(drive.path("notes.txt")).expect("read"), b"final text");
}

fn make_tree(root: &Path, files: usize) -> Vec<(String, String)> {
    let mut expected = Vec::new();
    for i in 0..files {
        let rel = format!("dir{:02}/sub{}/file{i:04}.txt", i % 20, i % 3);
        let data = random_bytes(100 + (i * 37) % 5000, i as u64);
        let path = root.join(&rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, &data).expect("write");
        expected.push((rel, sha256_hex(&data)));
    }
    expected
}

#[test]
fn cp_r_of_a_2000_file_tree_and_mv_of_a_500_file_folder() {
    let mut drive = writable();
    let src = tempfile::tempdir().expect("source");
    let expected = make_tree(src.path(), 2000);
    run(Command::new("cp").arg("-r").arg(src.path()).arg(drive.path("tree")));
    drive.drain();
    for (rel, sha) in &expected {
        let obj = drive
            .object(&format!("tree/{rel}"))
            .unwrap_or_else(|| panic!("{rel} uploaded"));
        assert_eq!(&sha256_hex(&obj), sha, "{rel}");
    }

    let moved = tempfile::tempdir().expect("source");
    let expected = make_tree(moved.path(), 500);
    run(Command::new("cp").arg("-r").arg(moved.path()).arg(drive.path("before")));
    drive.drain();
    run(Command::new("mv").arg(drive.path("before")).arg(drive.path("after")));
    // A large folder's keys may still be moving when `mv` returns; S3 has them once drained.
    drive.drain();
    assert!(
        drive.emu.keys(BUCKET, "before/").is_empty(),
        "nothing left at the old name"
    );
    drive.remount(false);
    for (rel, sha) in &expected {
        let data = fs::read(drive.path(&format!("after/{rel}"))).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(&sha256_hex(&data), sha, "{rel}");
    }
}

#[test]
fn git_init_and_commit_inside_the_drive() {
    let mut drive = writable();
    let repo = drive.path("repo");
    fs::create_dir(&repo).expect("mkdir");
    let git = |args: &[&str], dir: &Path| {
        let mut cmd = Command::new("git");
        cmd.args([
            "-c",
            "user.name=Pail Test",
            "-c",
            "user.email=test@pail.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir);
        run(&mut cmd);
    };
    git(&["init", "-q"], &repo);
    fs::write(repo.join("README.md"), b"# on S3\n").expect("write");
    fs::create_dir(repo.join("src")).expect("mkdir");
    fs::write(repo.join("src/main.rs"), b"fn main() {}\n").expect("write");
    git(&["add", "."], &repo);
    git(&["commit", "-q", "-m", "first commit"], &repo);
    fs::write(repo.join("README.md"), b"# on S3\n\nsecond\n").expect("write");
    git(&["commit", "-q", "-am", "second commit"], &repo);
    drive.drain();
    drive.remount(false);
    let repo = drive.path("repo");
    git(&["fsck", "--strict"], &repo);
    let out = Command::new("git")
        .args(["log", "--format=%s"])
        .current_dir(&repo)
        .env("HOME", &repo)
        .output()
        .expect("git log");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "second commit\nfirst commit\n");
}
