//! The drives file: `[[drive]]` tables in `<config dir>/pail/drives.toml`
//! (`PAIL_DRIVES_FILE` overrides the path).
//!
//! ```toml
//! [[drive]]
//! name = "home"
//! bucket = "corp-home-folders"
//! prefix = "${aws:userid}"
//! mount_point = "P:"
//! sse_kms_key_id = "arn:aws:kms:eu-west-1:111122223333:key/…"
//! mount_at_start = true
//! [drive.auth]
//! kind = "profile"
//! profile = "home"
//! config_file = "C:\\ProgramData\\pail\\aws-config"
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How a drive signs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriveAuth {
    /// A profile of an AWS config file ("Use AWS Profile").
    Profile {
        /// The profile name.
        profile: String,
        /// The config file; absent means `AWS_CONFIG_FILE` or `~/.aws/config`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        config_file: Option<PathBuf>,
    },
    /// Access keys; the secret is in the secret store, never in this file.
    Keys {
        /// The access key id.
        access_key_id: String,
    },
    /// The environment or the SDK's default chain.
    Default,
}

/// One drive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drive {
    /// Unique name; the volume label on Windows.
    pub name: String,
    /// The bucket.
    pub bucket: String,
    /// Folder in the bucket; may use `${aws:userid}` ("My folder") and `${aws:accountid}`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// A folder (Linux) or a drive letter like `P:` (Windows); absent: the next free letter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_point: Option<String>,
    /// Region of the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// S3-compatible endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Accept a plain-http endpoint on a host other than this machine (a network the user
    /// trusts); otherwise only https is used.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
    /// How it signs in.
    pub auth: DriveAuth,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// SSE-KMS key sent with every write; absent: no SSE header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_kms_key_id: Option<String>,
    /// On-disk cache bound, e.g. `10GiB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_size: Option<String>,
    /// Mount when the app starts.
    #[serde(default)]
    pub mount_at_start: bool,
}

impl Drive {
    /// `bucket` or `bucket/prefix`.
    pub fn target(&self) -> String {
        let prefix = self.prefix.trim_matches('/');
        if prefix.is_empty() {
            self.bucket.clone()
        } else {
            format!("{}/{prefix}", self.bucket)
        }
    }
}

/// Every drive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrivesFile {
    /// The drives, in the order the user added them.
    pub drives: Vec<Drive>,
    /// Drives this version cannot read (a key it does not know, a value of the wrong type):
    /// reported, not served, and written back exactly as read, so saving never drops them.
    pub unreadable: Vec<UnreadableDrive>,
    /// Top-level keys other than `drive`, written back as read.
    others: toml::Table,
}

/// A `[[drive]]` table that does not read as a [`Drive`].
#[derive(Debug, Clone, PartialEq)]
pub struct UnreadableDrive {
    /// Its `name`, when it has one.
    pub name: Option<String>,
    /// What is wrong with it.
    pub reason: String,
    table: toml::Table,
}

impl UnreadableDrive {
    /// One line for the user: which drive, what is wrong, and what to do.
    pub fn message(&self, path: &Path) -> String {
        let which = match &self.name {
            Some(n) => format!("drive {n:?}"),
            None => "a drive without a name".to_owned(),
        };
        format!(
            "{which} in {} cannot be read ({}); it is kept as it is: fix it there, or remove it",
            path.display(),
            self.reason
        )
    }
}

/// Reading or writing the drives file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DrivesError {
    /// The file could not be read or written.
    #[error("cannot use the drives file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not parse; the message names the line.
    #[error("the drives file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// No drive of that name.
    /// A drive's secret could not be kept or read.
    #[error("the secret of drive {name:?}: {message}")]
    Secret {
        /// The drive.
        name: String,
        /// Why (from the secret store; says what to do).
        message: String,
    },
    #[error("no drive named {name:?}; drives: {}", if known.is_empty() { "(none)".to_owned() } else { known.join(", ") })]
    NoSuchDrive {
        /// The name asked for.
        name: String,
        /// The names that exist.
        known: Vec<String>,
    },
    /// A drive's settings are not acceptable.
    #[error("drive {name:?}: {reason}")]
    BadDrive {
        /// The drive.
        name: String,
        /// What is wrong.
        reason: String,
    },
}

/// `PAIL_DRIVES_FILE`, else `<config dir>/pail/drives.toml` (`~/.config` on Linux,
/// `%APPDATA%` on Windows).
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PAIL_DRIVES_FILE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("pail")
        .join("drives.toml")
}

impl DrivesFile {
    /// Reads `path`; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<Self, DrivesError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(DrivesError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let invalid = |message: String| DrivesError::Invalid {
            path: path.to_owned(),
            message: message.trim().replace('\n', " "),
        };
        // A file that is not TOML at all is refused as a whole (the message names the line);
        // within a good file, each drive stands on its own.
        let mut others: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let tables = match others.remove("drive") {
            None => Vec::new(),
            Some(toml::Value::Array(a)) => a,
            Some(_) => return Err(invalid("`drive` must be a list of [[drive]] tables".into())),
        };
        let mut file = Self {
            others,
            ..Self::default()
        };
        for table in tables {
            let toml::Value::Table(table) = table else {
                return Err(invalid("`drive` must be a list of [[drive]] tables".into()));
            };
            match toml::Value::Table(table.clone()).try_into::<Drive>() {
                Ok(d) => file.drives.push(d),
                Err(e) => file.unreadable.push(UnreadableDrive {
                    name: table.get("name").and_then(|n| n.as_str()).map(str::to_owned),
                    reason: e.message().trim().replace('\n', " "),
                    table,
                }),
            }
        }
        file.check()?;
        Ok(file)
    }

    /// The file's text: the drives, then those that could not be read, as read.
    fn to_text(&self) -> Result<String, String> {
        let mut out = self.others.clone();
        let mut list = Vec::with_capacity(self.drives.len() + self.unreadable.len());
        for d in &self.drives {
            list.push(toml::Value::try_from(d).map_err(|e| e.to_string())?);
        }
        list.extend(self.unreadable.iter().map(|u| toml::Value::Table(u.table.clone())));
        out.insert("drive".into(), toml::Value::Array(list));
        toml::to_string_pretty(&out).map_err(|e| e.to_string())
    }

    /// Writes `path` atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), DrivesError> {
        self.check()?;
        let io = |source| DrivesError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let text = self.to_text().map_err(|message| DrivesError::Invalid {
            path: path.to_owned(),
            message,
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".drives")
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    fn check(&self) -> Result<(), DrivesError> {
        for (i, d) in self.drives.iter().enumerate() {
            let bad = |reason: &str| DrivesError::BadDrive {
                name: d.name.clone(),
                reason: reason.to_owned(),
            };
            if d.name.trim().is_empty() {
                return Err(bad("the name is empty"));
            }
            if d.bucket.trim().is_empty() || d.bucket.contains('/') {
                return Err(bad("the bucket must be a bucket name, without '/'"));
            }
            let unreadable = self.unreadable.iter().filter_map(|u| u.name.as_deref());
            if self.drives[..i].iter().any(|o| o.name == d.name) || unreadable.into_iter().any(|n| n == d.name) {
                return Err(bad("two drives have this name"));
            }
        }
        Ok(())
    }

    /// The drive named `name`.
    pub fn get(&self, name: &str) -> Result<&Drive, DrivesError> {
        if let Some(d) = self.drives.iter().find(|d| d.name == name) {
            return Ok(d);
        }
        if let Some(u) = self.unreadable.iter().find(|u| u.name.as_deref() == Some(name)) {
            return Err(DrivesError::BadDrive {
                name: name.to_owned(),
                reason: format!(
                    "its settings cannot be read ({}): fix them in the drives file",
                    u.reason
                ),
            });
        }
        Err(DrivesError::NoSuchDrive {
            name: name.to_owned(),
            known: self.drives.iter().map(|d| d.name.clone()).collect(),
        })
    }

    /// Adds `drive`, replacing one of the same name.
    pub fn upsert(&mut self, drive: Drive) {
        match self.drives.iter_mut().find(|d| d.name == drive.name) {
            Some(d) => *d = drive,
            None => self.drives.push(drive),
        }
    }

    /// Removes the drive named `name`; `false` when there was none.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.drives.len();
        self.drives.retain(|d| d.name != name);
        self.drives.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drive(name: &str) -> Drive {
        Drive {
            name: name.into(),
            bucket: "corp-home-folders".into(),
            prefix: "${aws:userid}".into(),
            mount_point: Some("P:".into()),
            region: None,
            endpoint_url: None,
            allow_http: false,
            auth: DriveAuth::Profile {
                profile: "home".into(),
                config_file: None,
            },
            read_only: false,
            sse_kms_key_id: None,
            cache_size: None,
            mount_at_start: true,
        }
    }

    #[test]
    fn round_trips_and_replaces_by_name() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("pail/drives.toml");
        let mut file = DrivesFile::load(&path).expect("missing is empty");
        file.upsert(drive("home"));
        file.upsert(drive("team"));
        file.upsert(Drive {
            read_only: true,
            ..drive("team")
        });
        file.save(&path).expect("save");
        let again = DrivesFile::load(&path).expect("load");
        assert_eq!(again, file);
        assert_eq!(again.drives.len(), 2);
        assert_eq!(
            again.get("home").expect("home").target(),
            "corp-home-folders/${aws:userid}"
        );
        assert!(
            again
                .get("nope")
                .expect_err("unknown")
                .to_string()
                .contains("drives: home, team")
        );
    }

    #[test]
    fn a_drive_with_an_unknown_key_is_kept_as_written_and_the_others_still_work() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("drives.toml");
        let text = "note = \"kept\"\n\n[[drive]]\nname = \"new\"\nbucket = \"b\"\ncolour = \"teal\"\n\n[drive.auth]\nkind = \"default\"\n";
        std::fs::write(&path, text).expect("write");
        let mut file = DrivesFile::load(&path).expect("one bad drive does not spoil the file");
        assert!(file.drives.is_empty());
        assert_eq!(file.unreadable.len(), 1);
        let message = file.unreadable[0].message(&path);
        assert!(
            message.contains("drive \"new\"") && message.contains("colour"),
            "{message}"
        );
        let err = file.get("new").expect_err("not served");
        assert!(err.to_string().contains("colour"), "{err}");
        file.upsert(drive("home"));
        file.save(&path).expect("save");
        let again = DrivesFile::load(&path).expect("load");
        assert_eq!(again.drives, [drive("home")]);
        assert_eq!(again.unreadable, file.unreadable, "written back as read");
        let saved = std::fs::read_to_string(&path).expect("saved");
        assert!(
            saved.contains("colour = \"teal\"") && saved.contains("note = \"kept\""),
            "{saved}"
        );
        file.upsert(drive("new"));
        assert!(file.save(&path).is_err(), "a second drive of that name is refused");
    }

    #[test]
    fn a_bad_file_names_the_line_and_is_not_overwritten() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("drives.toml");
        std::fs::write(&path, "[[drive]]\nname = \"x\"\nbucket = \n").expect("write");
        let err = DrivesFile::load(&path).expect_err("invalid");
        assert!(err.to_string().contains("line 3"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("kept"),
            "[[drive]]\nname = \"x\"\nbucket = \n"
        );
    }
}
