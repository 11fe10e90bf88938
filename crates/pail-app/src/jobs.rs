//! What the dialog runs in the background with its settings' credentials — Test connection and
//! Browse buckets: a profile that signs in in the browser signs in first (the sign-in panel
//! shows the page and code), then the job runs and its result lands in a `watch` channel the
//! dialog draws.

use std::future::Future;
use std::sync::Arc;

use pail_auth::Auth;
use pail_drives::{Drive, DriveAuth};
use tokio::sync::watch;

use crate::buckets::{BucketList, list_buckets};
use crate::check::{CheckLine, test_connection};
use crate::{App, SignInState};

/// A background job's result: `None` before one, `Some` of its progress or outcome.
pub type JobResult<T> = Arc<watch::Sender<Option<T>>>;

impl App {
    /// Test connection for the drive in the dialog: signs in first when its profile needs it,
    /// then reports sign-in, list, read and write line by line.
    pub fn test_connection(&mut self) {
        if let Some(ed) = &mut self.editor
            && let Err(e) = ed.to_drive()
        {
            ed.error = Some(e);
            return;
        }
        let out = self.check.clone();
        self.signed_in_job(
            out,
            Vec::new(),
            |why| vec![CheckLine::failed_sign_in(why)],
            |drive, auth, secret| async move { test_connection(&drive, auth.as_ref(), secret).await },
        );
    }

    /// Browse buckets for the drive in the dialog: signs in first when needed, then lists the
    /// buckets the credentials may see (or says why not, so the user types the name).
    pub fn browse_buckets(&mut self) {
        let out = self.buckets.clone();
        self.signed_in_job(
            out,
            BucketList::Listing,
            |why| BucketList::Failed(format!("Sign-in failed: {why}")),
            |drive, auth, secret| async move { list_buckets(&drive, auth.as_ref(), secret).await },
        );
    }

    /// Runs `job` with the dialog's drive and credentials once signed in: `running` is shown
    /// meanwhile, `failed` says why the sign-in did not complete.
    fn signed_in_job<T, F, Fut>(&mut self, out: JobResult<T>, running: T, failed: fn(String) -> T, job: F)
    where
        T: Send + Sync + 'static,
        F: FnOnce(Drive, Option<Auth>, Option<String>) -> Fut + Send + 'static,
        Fut: Future<Output = T> + Send + 'static,
    {
        let Some(editor) = &self.editor else { return };
        let (drive, secret) = match editor.sign_in_settings() {
            Ok(d) => d,
            Err(e) => {
                out.send_replace(Some(failed(e)));
                return;
            }
        };
        let secret = secret.or_else(|| pail_drives::load_secret(&self.drives_path, &drive.name).ok());
        let session = match &drive.auth {
            // The dialog's settings may differ from the saved drive's: a session of its own.
            DriveAuth::Profile { .. } => match self.open_session(&drive) {
                Ok(s) => {
                    s.sign_in();
                    Some(s)
                }
                Err(e) => {
                    out.send_replace(Some(failed(e)));
                    return;
                }
            },
            _ => None,
        };
        out.send_replace(Some(running));
        self.runtime().spawn(async move {
            let auth = match &session {
                None => None,
                Some(s) => {
                    let mut rx = s.watch();
                    let state = rx
                        .wait_for(|st| matches!(st, SignInState::SignedIn | SignInState::Failed(_)))
                        .await
                        .map(|st| st.clone());
                    match state {
                        Ok(SignInState::SignedIn) => Some(s.auth().clone()),
                        Ok(SignInState::Failed(why)) => {
                            out.send_replace(Some(failed(why)));
                            return;
                        }
                        _ => {
                            out.send_replace(Some(failed("the sign-in stopped".into())));
                            return;
                        }
                    }
                }
            };
            out.send_replace(Some(job(drive, auth, secret).await));
        });
    }
}
