//! The Add/Edit drive dialog: name, where it mounts, bucket and folder ("My folder" is
//! `${aws:userid}`), and how it signs in — "Use AWS Profile" with a config file (Browse…) and a
//! profile picker showing each profile's kind, or access keys whose secret goes to the secret
//! store, never to the drives file.

use std::path::PathBuf;

use eframe::egui;
use pail_auth::ProfileInfo;
use pail_drives::{Drive, DriveAuth};

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
    /// Secret access key (masked; stored in the secret store on save).
    pub secret: String,
    /// Mount read-only.
    pub read_only: bool,
    /// SSE-KMS key (optional).
    pub sse_kms_key_id: String,
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
            read_only: d.read_only,
            sse_kms_key_id: d.sse_kms_key_id.clone().unwrap_or_default(),
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
        let name = opt(&self.name).ok_or("Give the drive a name")?;
        let bucket = opt(&self.bucket).ok_or("Bucket is required")?;
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
            auth,
            read_only: self.read_only,
            sse_kms_key_id: opt(&self.sse_kms_key_id),
            cache_size: None,
            mount_at_start: false,
        };
        Ok((drive, secret))
    }

    /// The required fields still empty, by label: Save stays disabled until there are none.
    pub fn missing(&self) -> Vec<&'static str> {
        let empty = |s: &str| s.trim().is_empty();
        let mut out = Vec::new();
        if empty(&self.name) {
            out.push("Name");
        }
        if empty(&self.bucket) {
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

    /// Draws the dialog; returns what the user asked for.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<EditorAction> {
        ui.heading(if self.editing.is_some() {
            "Edit drive"
        } else {
            "Add drive"
        });
        Self::required(ui, "Name", &mut self.name);
        Self::field(ui, "Mount point", &mut self.mount_point);
        Self::required(ui, "Bucket", &mut self.bucket);
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
        ui.checkbox(&mut self.read_only, "Read-only");
        Self::field(ui, "SSE-KMS key", &mut self.sse_kms_key_id);
        if let Some(e) = &self.error {
            ui.colored_label(egui::Color32::RED, e);
        }
        let missing = self.missing();
        if !missing.is_empty() {
            ui.colored_label(egui::Color32::RED, format!("Required: {}", missing.join(", ")));
        }
        let mut action = None;
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
