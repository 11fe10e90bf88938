//! The desktop notification of an ended sign-in: when a drive's session expires, pail says so
//! once (a Windows toast, or a freedesktop notification on Linux) with a "Sign in again"
//! button that opens the sign-in page; the drive list and the tray show the same state until
//! the user has signed in again. Uploads wait meanwhile; nothing fails.

use std::sync::Arc;

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The drive whose sign-in ended.
    pub drive: String,
    /// The page to sign in again at.
    pub url: String,
    /// The code the page shows (empty for a company IdP).
    pub code: String,
}

impl Notice {
    /// The headline.
    pub fn title(&self) -> String {
        format!("pail: sign in again to {}", self.drive)
    }

    /// The text under it.
    pub fn body(&self) -> String {
        let code = if self.code.is_empty() {
            String::new()
        } else {
            format!(" The page shows the code {}.", self.code)
        };
        format!(
            "Your sign-in for drive {} has ended. Files wait to upload until you sign in again; nothing is lost.{code}",
            self.drive
        )
    }
}

/// How the app shows a notice (tests record them instead).
pub type Notify = Arc<dyn Fn(&Notice) + Send + Sync>;

/// The platform's notifications: the button (or a click on the notice) opens the page with
/// `open_url`. Failing to notify is logged; the drive list still shows the state.
pub fn desktop(open_url: crate::OpenUrl) -> Notify {
    Arc::new(move |notice: &Notice| {
        let mut n = notify_rust::Notification::new();
        n.appname("pail")
            .summary(&notice.title())
            .body(&notice.body())
            .action("sign-in", "Sign in again");
        // freedesktop: a click on the notice itself is its "default" action (not a button).
        #[cfg(all(unix, not(target_os = "macos")))]
        n.action("default", "Sign in again");
        let shown = n.show();
        match shown {
            Ok(handle) => {
                let (open, url) = (open_url.clone(), notice.url.clone());
                // Waiting for the click blocks: a thread per notice, which ends with it.
                std::thread::spawn(move || {
                    handle.wait_for_action(|action| {
                        // "" is a click on a Windows toast's body.
                        if matches!(action, "" | "default" | "sign-in") {
                            open(&url);
                        }
                    });
                });
            }
            Err(e) => tracing::warn!(error = %e, drive = %notice.drive, "cannot show a notification"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_says_what_happened_and_that_nothing_is_lost() {
        let n = Notice {
            drive: "Home".into(),
            url: "https://device.sso.eu-west-1.amazonaws.com/?user_code=ABCD-EFGH".into(),
            code: "ABCD-EFGH".into(),
        };
        assert_eq!(n.title(), "pail: sign in again to Home");
        assert!(
            n.body().contains("nothing is lost") && n.body().contains("ABCD-EFGH"),
            "{}",
            n.body()
        );
        let idp = Notice {
            code: String::new(),
            ..n
        };
        assert!(!idp.body().contains("code"), "{}", idp.body());
    }
}
