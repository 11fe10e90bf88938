//! `pail drives` and `pail mount <drive-name>` as a user runs them: the drives file and the
//! secret store in a temporary home, the drive mounted from the emulator with stored keys.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use pail_emulator::Emulator;

const BUCKET: &str = "cli-drives";

fn pail(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pail"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PAIL_DRIVES_FILE", home.join("pail/drives.toml"));
    cmd
}

#[test]
fn a_saved_drive_mounts_by_name_with_its_stored_keys() {
    assert!(
        Path::new("/dev/fuse").exists(),
        "/dev/fuse is missing: this test needs FUSE"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let emu = rt.block_on(Emulator::start_with_buckets(&[BUCKET])).expect("emulator");
    emu.put(BUCKET, "docs/hello.txt", &b"hello"[..]).expect("seed");
    let (ak, sk) = emu.credentials();
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("dir");

    let add = pail(home.path())
        .env("PAIL_SECRET_ACCESS_KEY", sk)
        .args(["drives", "add", "docs", &format!("{BUCKET}/docs"), "--mount-point"])
        .arg(dir.path())
        .args([
            "--access-key-id",
            ak,
            "--endpoint-url",
            &emu.endpoint(),
            "--region",
            "us-east-1",
        ])
        .output()
        .expect("add");
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let file = std::fs::read_to_string(home.path().join("pail/drives.toml")).expect("drives file");
    assert!(file.contains("name = \"docs\"") && !file.contains(sk), "{file}");
    use std::os::unix::fs::PermissionsExt;
    let secret = home.path().join("pail/secrets/docs.secret");
    assert_eq!(
        std::fs::metadata(&secret).expect("secret").permissions().mode() & 0o777,
        0o600
    );

    let list = pail(home.path()).args(["drives", "list"]).output().expect("list");
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.starts_with(&format!("docs\ts3://{BUCKET}/docs\t")), "{text}");

    let mut child = pail(home.path())
        .args(["mount", "docs"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mount");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    assert!(first.starts_with(&format!("Mounted s3://{BUCKET}/docs/")), "{first}");
    let drain = std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    assert_eq!(std::fs::read(dir.path().join("hello.txt")).expect("read"), b"hello");
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill")
            .success()
    );
    assert!(child.wait().expect("wait").success());
    drain.join().expect("drain");

    let remove = pail(home.path())
        .args(["drives", "remove", "docs"])
        .output()
        .expect("remove");
    assert!(remove.status.success());
    assert!(!secret.exists(), "the secret is forgotten with the drive");
    let unknown = pail(home.path())
        .args(["mount", "docs"])
        .output()
        .expect("mount unknown");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no drive named \"docs\""));
}
