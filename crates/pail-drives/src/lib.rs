//! pail-drives: the drives file — every drive a user has set up (bucket, folder, where it
//! mounts, how it signs in) — shared by `pail` (`pail drives …`, `pail mount <drive-name>`) and
//! the settings app. One TOML file in the user's config directory, written atomically, and a
//! secret store for access keys so secrets never sit in the drives file.
//!
//! # Layout
//! - `file` — [`Drive`], [`DrivesFile`], load and save.
//! - `secrets` — the access-key secret store.
//! - `size` — [`parse_size`]: `512MiB`, `4GiB`.

mod file;
mod secrets;
mod size;

pub use file::{Drive, DriveAuth, DrivesError, DrivesFile, UnreadableDrive, default_path};
pub use secrets::{key_store, load_secret, remove_secret, store_secret};
pub use size::{format_size, parse_size, percent};
