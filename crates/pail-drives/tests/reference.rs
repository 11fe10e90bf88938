//! docs/config-reference.md documents every key of the drives file.

use pail_drives::{Drive, DriveAuth, DrivesFile};

#[test]
fn every_drives_file_key_is_documented() {
    let full = Drive {
        name: "n".into(),
        bucket: "b".into(),
        prefix: "p".into(),
        mount_point: Some("P:".into()),
        region: Some("r".into()),
        endpoint_url: Some("e".into()),
        allow_http: false,
        auth: DriveAuth::Keys {
            access_key_id: "a".into(),
        },
        read_only: true,
        sse_kms_key_id: Some("k".into()),
        cache_size: Some("1GiB".into()),
        mount_at_start: true,
    };
    let mut file = DrivesFile::default();
    file.upsert(full);
    let dir = tempfile::tempdir().expect("dir");
    file.save(&dir.path().join("drives.toml")).expect("save");
    let toml = std::fs::read_to_string(dir.path().join("drives.toml")).expect("saved");
    // Read when the test runs, not when it is built: a build cache shared by two clones
    // must not send the test to the other clone's docs.
    let path = std::path::Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").expect("run by cargo test"))
        .join("../../docs/config-reference.md");
    let reference = std::fs::read_to_string(path).expect("docs/config-reference.md");
    for line in toml.lines() {
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        let key = key.trim();
        let documented = reference.contains(&format!("`{key}`")) || reference.contains(&format!("{key} = "));
        assert!(documented, "drives file key {key:?} is not in docs/config-reference.md");
    }
}
