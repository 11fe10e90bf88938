//! "Browse buckets" in the dialog: the buckets the drive's credentials may list, to pick one
//! instead of typing it. A company's per-user policy usually denies ListBuckets; then the
//! dialog says so and the user types the bucket name their administrator gave them.

use pail_auth::Auth;
use pail_drives::Drive;
use pail_store::StoreErrorKind;

use crate::check;

/// Where the dialog's bucket list stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketList {
    /// Signing in and listing.
    Listing,
    /// The buckets, by name.
    Found(Vec<String>),
    /// Why there is no list, and what to do instead.
    Failed(String),
}

/// Lists the buckets `drive`'s credentials may see: `auth` for a profile (already signed in),
/// `secret` for keys.
pub async fn list_buckets(drive: &Drive, auth: Option<&Auth>, secret: Option<String>) -> BucketList {
    let signed = match check::credentials(drive, auth, secret).await {
        Ok(s) => s,
        Err(e) => return BucketList::Failed(format!("Sign-in failed: {e}")),
    };
    let listed = match check::store(drive, "", signed.credentials).await {
        Ok(store) => store.list_buckets().await,
        Err(e) => Err(e),
    };
    match listed {
        Ok(names) if names.is_empty() => BucketList::Failed("No buckets are visible with these credentials; type the bucket name".into()),
        Ok(names) => BucketList::Found(names),
        Err(e) if e.kind() == StoreErrorKind::AccessDenied => BucketList::Failed(
            "These credentials may not list buckets (usual with a per-user folder policy); type the bucket name your administrator gave you".into(),
        ),
        Err(e) => BucketList::Failed(format!("Cannot list buckets: {}", check::explain(&e, "?"))),
    }
}
