//! What the app's end-to-end tests share: the `pail` binary they start, the environment its
//! mounts run in, and waiting for a state without sleeping.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use egui_kittest::Harness;
use pail_app::App;

/// The `pail` binary cargo built for the workspace (`target/<profile>/pail`).
pub fn pail_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let pail = dir.join("pail");
    assert!(
        pail.exists(),
        "{} is missing: build it first (cargo build -p pail-cli; cargo test --workspace does)",
        pail.display()
    );
    pail
}

/// The environment of the mounts the app starts: `home` as their home and cache, and no
/// instance metadata service to ask.
pub fn mount_env(home: &Path) -> Vec<(String, String)> {
    let home = home.display().to_string();
    vec![
        ("HOME".into(), home.clone()),
        ("XDG_CACHE_HOME".into(), format!("{home}/.cache")),
        ("XDG_RUNTIME_DIR".into(), home),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
    ]
}

/// Waits (without sleeping) until `rx` satisfies `done`, for up to a minute.
pub fn wait<T: Clone>(h: &Harness<'_, App>, mut rx: tokio::sync::watch::Receiver<T>, done: impl Fn(&T) -> bool) -> T {
    h.state().runtime().block_on(async {
        tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|v| done(v)))
            .await
            .expect("the state changes in time")
            .expect("the state is still followed")
            .clone()
    })
}
