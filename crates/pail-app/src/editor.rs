//! The Add/Edit drive dialog: name, where it mounts, bucket and folder ("My folder" is
//! `${aws:userid}`), and how it signs in — "Use AWS Profile" with a config file (Browse…) and a
//! profile picker showing each profile's kind, or access keys whose secret goes to the secret
//! store, never to the drives file.

use std::path::PathBuf;

use eframe::egui;
use pail_auth::{ProfileInfo, ProfileKind};
use pail_drives::{Drive, DriveAuth};

use crate::buckets::BucketList;

/// The folder variable that gives each employee their own folder.
pub const MY_FOLDER: &str = "${aws:userid}";

/// What the dialog asks its owner to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditorAction {
    /// Save the drive.
    Save,
    /// Close without saving.
    Cancel,
    /// Check what works with these settings.
    Test,
    /// List the buckets these credentials may see.
    BrowseBuckets,
    /// A bucket was picked from that list (now in `bucket`): the list can close.
    BucketPicked,
}

/// The dialog's state.
#[derive(Debug, Clone, Default)]
pub struct DriveEditor {
    /// Drive name.
    pub name: String,
    /// Folder or drive letter.
    pub mount_point: String,
    /// Bucket.
    pub bucket: String,
    /// Folder in the bucket (ignored when `my_folder`).
    pub prefix: String,
    /// Use the signed-in user's own folder.
    pub my_folder: bool,
    /// Region (optional).
    pub region: String,
    /// Endpoint of an S3-compatible store (optional).
    pub endpoint_url: String,
    /// Plain http to a non-loopback endpoint is allowed (kept from the drives file; no control).
    pub allow_http: bool,
    /// Sign in with a profile rather than keys.
    pub use_aws_profile: bool,
    /// The config file profiles are read from.
    pub config_file: String,
    /// Its profiles, as last read.
    pub profiles: Vec<ProfileInfo>,
    /// The chosen profile (index into `profiles`).
    pub profile: Option<usize>,
    /// Access key id (keys sign-in).
    pub access_key_id: String,
    /// OK was pressed for a drive that signs in in the browser: it signs in, offers the
    /// buckets, and is saved once one is chosen (the seed's flow).
    pub finishing: bool,
    /// Secret access key (masked; stored in the secret store on save).
    pub secret: String,
    /// Mount read-only.
    pub read_only: bool,
    /// SSE-KMS key (optional).
    pub sse_kms_key_id: String,
    /// On-disk cache bound, e.g. `10GiB` (optional).
    pub cache_size: String,
    /// Mount when the app starts.
    pub mount_at_start: bool,
    /// The drive letters to offer (Windows: those free now); `None`: a folder is typed or
    /// chosen instead.
    pub letters: Option<Vec<String>>,
    /// What is wrong with the input, shown above the buttons.
    pub error: Option<String>,
    /// The name of the drive being edited (`None`: a new drive).
    pub editing: Option<String>,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl DriveEditor {
    /// A dialog for a new drive, reading profiles from the default config file.
    pub fn new() -> Self {
        let mut e = Self {
            config_file: pail_auth::default_config_file().display().to_string(),
            use_aws_profile: true,
            my_folder: true,
            ..Self::default()
        };
        e.read_profiles();
        e
    }

    /// A dialog editing `d`.
    pub fn edit(d: &Drive) -> Self {
        let mut e = Self {
            name: d.name.clone(),
            mount_point: d.mount_point.clone().unwrap_or_default(),
            bucket: d.bucket.clone(),
            my_folder: d.prefix == MY_FOLDER,
            prefix: if d.prefix == MY_FOLDER {
                String::new()
            } else {
                d.prefix.clone()
            },
            region: d.region.clone().unwrap_or_default(),
            endpoint_url: d.endpoint_url.clone().unwrap_or_default(),
            allow_http: d.allow_http,
            read_only: d.read_only,
            sse_kms_key_id: d.sse_kms_key_id.clone().unwrap_or_default(),
            cache_size: d.cache_size.clone().unwrap_or_default(),
            mount_at_start: d.mount_at_start,
            editing: Some(d.name.clone()),
            config_file: pail_auth::default_config_file().display().to_string(),
            ..Self::default()
        };
        match &d.auth {
            DriveAuth::Profile { profile, config_file } => {
                e.use_aws_profile = true;
                if let Some(f) = config_file {
                    e.config_file = f.display().to_string();
                }
                e.read_profiles();
                e.profile = e.profiles.iter().position(|p| &p.name == profile);
            }
            DriveAuth::Keys { access_key_id } => e.access_key_id = access_key_id.clone(),
            DriveAuth::Default => {}
        }
        e
    }

    /// Reads the profiles of the config file; a problem is shown, not fatal.
    pub fn read_profiles(&mut self) {
        let creds = pail_auth::default_credentials_file();
        match pail_auth::list_profiles(std::path::Path::new(self.config_file.trim()), Some(&creds)) {
            Ok(p) => {
                self.profiles = p;
                self.profile = None;
                self.error = None;
            }
            Err(e) => {
                self.profiles.clear();
                self.profile = None;
                self.error = Some(e.to_string());
            }
        }
    }

    /// The drive the dialog describes, or what to fix. The secret is returned apart.
    pub fn to_drive(&self) -> Result<(Drive, Option<String>), String> {
        opt(&self.name).ok_or("Give the drive a name")?;
        opt(&self.bucket).ok_or("Bucket is required")?;
        self.sign_in_settings()
    }

    /// The drive as far as signing in goes: name and bucket may still be empty (Browse
    /// buckets runs before a bucket is chosen).
    pub fn sign_in_settings(&self) -> Result<(Drive, Option<String>), String> {
        let name = self.name.trim().to_owned();
        let bucket = self.bucket.trim().to_owned();
        let (auth, secret) = if self.use_aws_profile {
            let p = self
                .profile
                .and_then(|i| self.profiles.get(i))
                .ok_or("Pick a profile (read them from the config file first)")?;
            let auth = DriveAuth::Profile {
                profile: p.name.clone(),
                config_file: opt(&self.config_file).map(PathBuf::from),
            };
            (auth, None)
        } else {
            let id = opt(&self.access_key_id).ok_or("Access key ID is required")?;
            let secret = opt(&self.secret);
            if secret.is_none() && self.editing.is_none() {
                return Err("Secret access key is required".into());
            }
            (DriveAuth::Keys { access_key_id: id }, secret)
        };
        if let Some(size) = opt(&self.cache_size) {
            pail_drives::parse_size(&size).map_err(|e| format!("Cache size: {e}"))?;
        }
        let prefix = if self.my_folder {
            MY_FOLDER.to_owned()
        } else {
            self.prefix.trim().trim_matches('/').to_owned()
        };
        let drive = Drive {
            name,
            bucket,
            prefix,
            mount_point: opt(&self.mount_point),
            region: opt(&self.region),
            endpoint_url: opt(&self.endpoint_url),
            allow_http: self.allow_http,
            auth,
            read_only: self.read_only,
            sse_kms_key_id: opt(&self.sse_kms_key_id),
            cache_size: opt(&self.cache_size),
            mount_at_start: self.mount_at_start,
        };
        Ok((drive, secret))
    }

    /// Whether the chosen profile signs in in the browser (IAM Identity Center or a company
    /// IdP): OK then signs in first and offers the buckets to pick from.
    pub fn signs_in_in_browser(&self) -> bool {
        self.use_aws_profile
            && self
                .profile
                .and_then(|i| self.profiles.get(i))
                .is_some_and(|p| matches!(p.kind, ProfileKind::Sso | ProfileKind::Federated))
    }

    /// The required fields still empty, by label: Save stays disabled until there are none.
    /// A drive that signs in in the browser may leave its bucket for after the sign-in.
    pub fn missing(&self) -> Vec<&'static str> {
        let empty = |s: &str| s.trim().is_empty();
        let mut out = Vec::new();
        if empty(&self.name) {
            out.push("Name");
        }
        if empty(&self.bucket) && !self.signs_in_in_browser() {
            out.push("Bucket");
        }
        if self.use_aws_profile {
            if self.profile.and_then(|i| self.profiles.get(i)).is_none() {
                out.push("Profile");
            }
        } else {
            if empty(&self.access_key_id) {
                out.push("Access key ID");
            }
            if empty(&self.secret) && self.editing.is_none() {
                out.push("Secret access key");
            }
        }
        out
    }

    fn field(ui: &mut egui::Ui, label: &str, value: &mut String) {
        ui.horizontal(|ui| {
            let l = ui.label(label);
            ui.text_edit_singleline(value).labelled_by(l.id);
        });
    }

    /// A required field, marked while it is empty.
    fn required(ui: &mut egui::Ui, label: &str, value: &mut String) {
        ui.horizontal(|ui| {
            let l = ui.label(label);
            ui.text_edit_singleline(value).labelled_by(l.id);
            if value.trim().is_empty() {
                ui.colored_label(egui::Color32::RED, "required");
            }
        });
    }

    /// Where the drive mounts: a drive letter from those free (Windows) or a folder.
    fn mount_point_field(&mut self, ui: &mut egui::Ui) {
        let Some(letters) = &self.letters else {
            ui.horizontal(|ui| {
                let l = ui.label("Mount point");
                ui.text_edit_singleline(&mut self.mount_point).labelled_by(l.id);
                if ui.button("Choose folder…").clicked()
                    && let Some(dir) = rfd::FileDialog::new().set_title("Mount the drive at").pick_folder()
                {
                    self.mount_point = dir.display().to_string();
                }
            });
            return;
        };
        const NEXT: &str = "next free letter";
        let mut offered = letters.clone();
        // The drive's own letter stays on offer: it is "in use" by the drive itself.
        if !self.mount_point.is_empty() && !offered.iter().any(|l| l.eq_ignore_ascii_case(&self.mount_point)) {
            offered.insert(0, self.mount_point.clone());
        }
        let shown = if self.mount_point.is_empty() {
            NEXT
        } else {
            &self.mount_point
        };
        egui::ComboBox::from_label("Drive letter")
            .selected_text(shown.to_owned())
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.mount_point, String::new(), NEXT);
                for l in offered {
                    ui.selectable_value(&mut self.mount_point, l.clone(), l);
                }
            });
    }

    /// The bucket field with its Browse buckets button, and the list once there is one.
    fn bucket_field(&mut self, ui: &mut egui::Ui, buckets: Option<&BucketList>) -> Option<EditorAction> {
        let mut action = None;
        ui.horizontal(|ui| {
            let l = ui.label("Bucket");
            ui.text_edit_singleline(&mut self.bucket).labelled_by(l.id);
            if self.bucket.trim().is_empty() && self.signs_in_in_browser() {
                ui.label("or pick one after signing in (OK)");
            } else if self.bucket.trim().is_empty() {
                ui.colored_label(egui::Color32::RED, "required");
            }
            if ui.button("Browse buckets").clicked() {
                action = Some(EditorAction::BrowseBuckets);
            }
        });
        match buckets {
            None => {}
            Some(BucketList::Listing) => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Listing buckets…");
                });
            }
            Some(BucketList::Found(names)) => {
                ui.horizontal_wrapped(|ui| {
                    ui.label("Pick a bucket:");
                    for name in names {
                        if ui.selectable_label(self.bucket == *name, name).clicked() {
                            self.bucket.clone_from(name);
                            action = Some(EditorAction::BucketPicked);
                        }
                    }
                });
            }
            Some(BucketList::Failed(why)) => {
                ui.colored_label(egui::Color32::RED, why);
            }
        }
        action
    }

    /// Draws the dialog (with the bucket list of Browse buckets, if any); returns what the user
    /// asked for.
    pub fn ui(&mut self, ui: &mut egui::Ui, buckets: Option<&BucketList>) -> Option<EditorAction> {
        ui.heading(if self.editing.is_some() {
            "Edit drive"
        } else {
            "Add drive"
        });
        Self::required(ui, "Name", &mut self.name);
        self.mount_point_field(ui);
        let mut action = self.bucket_field(ui, buckets);
        ui.checkbox(&mut self.my_folder, "My folder (${aws:userid})");
        if !self.my_folder {
            Self::field(ui, "Folder", &mut self.prefix);
        }
        Self::field(ui, "Region", &mut self.region);
        Self::field(ui, "Endpoint URL", &mut self.endpoint_url);
        ui.separator();
        ui.checkbox(&mut self.use_aws_profile, "Use AWS Profile");
        if self.use_aws_profile {
            Self::field(ui, "Config file", &mut self.config_file);
            ui.horizontal(|ui| {
                if ui.button("Browse…").clicked()
                    && let Some(path) = rfd::FileDialog::new().set_title("AWS config file").pick_file()
                {
                    self.config_file = path.display().to_string();
                    self.read_profiles();
                }
                if ui.button("Read profiles").clicked() {
                    self.read_profiles();
                }
            });
            let label = |p: &ProfileInfo| format!("{} — {}", p.name, p.kind.label());
            let selected = self
                .profile
                .and_then(|i| self.profiles.get(i))
                .map_or_else(|| "(choose)".to_owned(), label);
            egui::ComboBox::from_label("Profile")
                .selected_text(selected)
                .show_ui(ui, |ui| {
                    for (i, p) in self.profiles.iter().enumerate() {
                        ui.selectable_value(&mut self.profile, Some(i), label(p));
                    }
                });
        } else {
            Self::required(ui, "Access key ID", &mut self.access_key_id);
            ui.horizontal(|ui| {
                let l = ui.label("Secret access key");
                ui.add(egui::TextEdit::singleline(&mut self.secret).password(true))
                    .labelled_by(l.id);
            });
        }
        ui.separator();
        ui.horizontal(|ui| {
            ui.checkbox(&mut self.read_only, "Read-only");
            ui.checkbox(&mut self.mount_at_start, "Mount when pail starts");
        });
        ui.horizontal(|ui| {
            Self::field(ui, "SSE-KMS key", &mut self.sse_kms_key_id);
            Self::field(ui, "Cache size", &mut self.cache_size);
        });
        if let Some(e) = &self.error {
            ui.colored_label(egui::Color32::RED, e);
        }
        if self.finishing && self.bucket.trim().is_empty() {
            ui.label("Sign in, then pick a bucket to finish.");
        }
        let missing = self.missing();
        if !missing.is_empty() {
            ui.colored_label(egui::Color32::RED, format!("Required: {}", missing.join(", ")));
        }
        ui.horizontal(|ui| {
            if ui.add_enabled(missing.is_empty(), egui::Button::new("OK")).clicked() {
                action = Some(EditorAction::Save);
            }
            if ui.button("Cancel").clicked() {
                action = Some(EditorAction::Cancel);
            }
            if ui
                .add_enabled(
                    missing.is_empty() || self.editing.is_some(),
                    egui::Button::new("Test connection"),
                )
                .clicked()
            {
                action = Some(EditorAction::Test);
            }
        });
        action
    }
}
