//! A model of what the WinFsp driver and its user-mode dispatcher decide around a file system's
//! callbacks, so Windows' rules hold in tests on Linux. Each rule cites the WinFsp source it
//! follows (winfsp 2.x: `src/sys/*.c` is the kernel driver, `src/dll/fsop.c` and
//! `src/dll/security.c` the user-mode side that calls the file system). The model calls
//! [`WinVolume`] exactly as pail's adapter (`pail_winfsp::PailContext`) does, and turns its
//! errors into NTSTATUS with the adapter's own [`pail_winfsp::to_ntstatus`].
//!
//! What it models: name validity and the trailing-backslash rule, generic-right mapping and the
//! access check (MAXIMUM_ALLOWED, read-only files), the create dispositions, FILE_DIRECTORY_FILE
//! / FILE_NON_DIRECTORY_FILE, share access between handles, delete-on-close and
//! delete-pending, the rename checks on open handles, the normalized-name rule, cleanup flags
//! and directory enumeration with a marker into a buffer that fills.

use std::collections::HashMap;
use std::sync::Mutex;

use pail_fs::{
    BasicInfo, CleanupFlags, FsErrorKind, WinFile, WinInfo, WinVolume, path_from_wide, same_ignoring_case, upcase,
    wide_name,
};
use pail_winfsp::to_ntstatus;

pub use super::rules::*;

/// An open handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(u64);

struct Open {
    file: WinFile,
    /// The upcased normalized name: the driver's FileNode key.
    key: Vec<u16>,
    access: u32,
    share: u32,
    delete_on_close: bool,
}

/// The driver's per-file state (`FSP_FILE_NODE`): open count, share access, delete pending.
#[derive(Default)]
struct Node {
    opens: u32,
    share: ShareAccess,
    delete_pending: bool,
}

fn nt(kind: FsErrorKind) -> i32 {
    to_ntstatus(kind)
}

/// The driver in front of one [`WinVolume`].
pub struct Driver {
    pub vol: WinVolume,
    state: Mutex<State>,
    /// Entries that fit in one ReadDirectory buffer, so every listing resumes after markers.
    pub dir_batch: usize,
}

#[derive(Default)]
struct State {
    next: u64,
    opens: HashMap<Handle, Open>,
    nodes: HashMap<Vec<u16>, Node>,
}

impl Driver {
    pub fn new(vol: WinVolume) -> Self {
        Self {
            vol,
            state: Mutex::new(State::default()),
            dir_batch: 3,
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// NtCreateFile. `name` is the volume-relative name (`\dir\file`).
    pub async fn nt_create(
        &self,
        name: &str,
        access: u32,
        share: u32,
        disposition: u32,
        options: u32,
        attributes: u32,
    ) -> NtResult<Handle> {
        let mut name = units(name);
        // A trailing backslash is allowed on a folder only (`FspFsvolCreateNoLock`,
        // src/sys/create.c).
        if name.len() >= 2 && name.last() == Some(&u16::from(b'\\')) {
            name.pop();
            if name.last() == Some(&u16::from(b'\\')) || options & FILE_DIRECTORY_FILE == 0 {
                return Err(OBJECT_NAME_INVALID);
            }
        }
        if !name_is_valid(&name) || name.len() > PATH_SIZE_MAX {
            return Err(OBJECT_NAME_INVALID);
        }
        if options & FILE_DELETE_ON_CLOSE != 0 && map_generic(access) & DELETE == 0 {
            return Err(INVALID_PARAMETER);
        }
        let key = pail_fs::upcase(&String::from_utf16_lossy(&name));
        if self.st().nodes.get(&key).is_some_and(|n| n.delete_pending) {
            return Err(DELETE_PENDING); // src/sys/create.c: FileNode->DeletePending
        }
        let path = path_from_wide(&name).map_err(|e| nt(e.kind()))?;
        let existing = match self.vol.attributes_of(&path).await {
            Ok(a) => Some(a),
            Err(e) if matches!(e.kind(), FsErrorKind::NotFound) => None,
            Err(e) => return Err(nt(e.kind())),
        };
        let access = map_generic(access);
        let (file, overwrite, access) = match (disposition, existing) {
            (FILE_CREATE, _) | (FILE_OPEN_IF | FILE_OVERWRITE_IF | FILE_SUPERSEDE, None) => {
                let (file, _) = self
                    .vol
                    .create(&path, options & FILE_DIRECTORY_FILE, attributes)
                    .await
                    .map_err(|e| nt(e.kind()))?;
                (file, false, access & !MAXIMUM_ALLOWED)
            }
            (FILE_OPEN | FILE_OVERWRITE, None) => return Err(OBJECT_NAME_NOT_FOUND),
            (_, None) => return Err(INVALID_PARAMETER),
            (_, Some(attrs)) => {
                let granted = access_check(access, attrs, options)?;
                let (file, _) = self.vol.open(&path, granted).await.map_err(|e| nt(e.kind()))?;
                let overwrite = matches!(disposition, FILE_OVERWRITE | FILE_OVERWRITE_IF | FILE_SUPERSEDE);
                (file, overwrite, granted)
            }
        };
        // src/sys/create.c, FspFsvolCreateComplete: the kind asked for, then the normalized
        // name (same name up to case, within the path limit), then share access.
        let refuse = |file: WinFile, status: i32| async move {
            let _ = self.vol.cleanup(&file, CleanupFlags::default()).await;
            self.vol.close(file);
            Err(status)
        };
        if options & FILE_DIRECTORY_FILE != 0 && !file.is_dir() {
            return refuse(file, NOT_A_DIRECTORY).await;
        }
        if options & FILE_NON_DIRECTORY_FILE != 0 && file.is_dir() {
            return refuse(file, FILE_IS_A_DIRECTORY).await;
        }
        let normalized = wide_name(&file.path());
        if normalized.len() > PATH_SIZE_MAX
            || !same_ignoring_case(&String::from_utf16_lossy(&normalized), &String::from_utf16_lossy(&name))
        {
            return refuse(file, OBJECT_NAME_INVALID).await;
        }
        // An overwrite writes, whatever access was asked for: its share check counts
        // FILE_WRITE_DATA (WinFsp issue #364, `FspFsvolCreateNoLock` in src/sys/create.c).
        let access = if overwrite { access | FILE_WRITE_DATA } else { access };
        let shared = {
            let mut st = self.st();
            let node = st.nodes.entry(key.clone()).or_default();
            node.share.check_and_add(access, share).map(|()| node.opens += 1)
        };
        if let Err(status) = shared {
            self.forget_node_if_unused(&key);
            return refuse(file, status).await;
        }
        if overwrite {
            let replace = disposition == FILE_SUPERSEDE;
            if let Err(e) = self.vol.overwrite(&file, attributes, replace).await {
                self.unregister(&key, access, share);
                return refuse(file, nt(e.kind())).await;
            }
        }
        let mut st = self.st();
        st.next += 1;
        let h = Handle(st.next);
        st.opens.insert(
            h,
            Open {
                file,
                key,
                access,
                share,
                delete_on_close: options & FILE_DELETE_ON_CLOSE != 0,
            },
        );
        Ok(h)
    }

    fn unregister(&self, key: &[u16], access: u32, share: u32) {
        let mut st = self.st();
        if let Some(node) = st.nodes.get_mut(key) {
            node.share.remove(access, share);
            node.opens -= 1;
        }
        drop(st);
        self.forget_node_if_unused(key);
    }

    fn forget_node_if_unused(&self, key: &[u16]) {
        let mut st = self.st();
        if st.nodes.get(key).is_some_and(|n| n.opens == 0) {
            st.nodes.remove(key);
        }
    }

    /// CloseHandle: Cleanup (with `FspCleanupDelete` on the last handle of a file whose
    /// delete is pending, `src/sys/cleanup.c`), then Close. Returns what the file system's
    /// cleanup answered, which Windows never shows (CloseHandle cannot fail).
    pub async fn close(&self, h: Handle) -> Result<(), FsErrorKind> {
        let (open, delete) = {
            let mut st = self.st();
            let open = st.opens.remove(&h).expect("an open handle");
            let node = st.nodes.get_mut(&open.key).expect("its node");
            node.share.remove(open.access, open.share);
            node.opens -= 1;
            node.delete_pending |= open.delete_on_close;
            let delete = node.delete_pending && node.opens == 0;
            if node.opens == 0 {
                st.nodes.remove(&open.key);
            }
            (open, delete)
        };
        let cleaned = self.vol.cleanup(&open.file, CleanupFlags { delete }).await;
        self.vol.close(open.file);
        cleaned.map_err(|e| e.kind())
    }

    fn with_open<T>(&self, h: Handle, need: u32, f: impl FnOnce(&Open) -> T) -> NtResult<T> {
        let st = self.st();
        let open = st.opens.get(&h).expect("an open handle");
        if need != 0 && open.access & need == 0 {
            return Err(ACCESS_DENIED); // the driver checks the handle's granted access
        }
        Ok(f(open))
    }

    /// Runs `op` on the open's WinFile. The state lock is not held across `op`: the handle
    /// stays registered, so the WinFile is borrowed from a second lookup after `op`'s
    /// preparation; here simply by taking it out and putting it back.
    async fn on_file<T, F>(&self, h: Handle, need: u32, op: F) -> NtResult<T>
    where
        F: AsyncFnOnce(&WinVolume, &WinFile) -> Result<T, pail_fs::FsError>,
    {
        self.with_open(h, need, |_| ())?;
        let open = self.st().opens.remove(&h).expect("an open handle");
        let result = op(&self.vol, &open.file).await;
        self.st().opens.insert(h, open);
        result.map_err(|e| nt(e.kind()))
    }

    pub async fn read(&self, h: Handle, offset: u64, len: u32) -> NtResult<Vec<u8>> {
        let data = self
            .on_file(h, FILE_READ_DATA, async |v, f| v.read(f, offset, len).await)
            .await?;
        if data.is_empty() && len > 0 {
            return Err(END_OF_FILE); // context.rs: read_async
        }
        Ok(data.to_vec())
    }

    pub async fn write(&self, h: Handle, offset: u64, data: &[u8]) -> NtResult<u32> {
        self.on_file(h, FILE_WRITE_DATA | FILE_APPEND_DATA, async |v, f| {
            v.write(f, data, offset, false, false).await.map(|(n, _)| n)
        })
        .await
    }

    pub async fn info(&self, h: Handle) -> NtResult<WinInfo> {
        self.on_file(h, 0, async |v, f| v.file_info(f)).await
    }

    /// Whether pail staged the file behind `h` (made a local copy to write to).
    pub fn is_staged(&self, h: Handle) -> bool {
        self.with_open(h, 0, |o| o.file.is_staged()).expect("no access needed")
    }

    /// The name GetFileInformationByHandleEx(FileNameInfo) shows: the normalized name.
    pub fn name(&self, h: Handle) -> String {
        self.with_open(h, 0, |o| String::from_utf16_lossy(&wide_name(&o.file.path())))
            .expect("no access needed")
    }

    pub async fn set_basic_info(&self, h: Handle, basic: BasicInfo) -> NtResult<WinInfo> {
        self.on_file(h, FILE_WRITE_ATTRIBUTES, async |v, f| v.set_basic_info(f, &basic).await)
            .await
    }

    pub async fn set_end_of_file(&self, h: Handle, size: u64) -> NtResult<WinInfo> {
        self.on_file(h, FILE_WRITE_DATA, async |v, f| v.set_file_size(f, size, false).await)
            .await
    }

    pub async fn flush(&self, h: Handle) -> NtResult<WinInfo> {
        self.on_file(h, 0, async |v, f| v.flush(f).await).await
    }

    /// FileDispositionInformation. A read-only file cannot be deleted (`src/dll/fsop.c`,
    /// `FspFileSystemOpSetInformation`: GetFileInfo first, STATUS_CANNOT_DELETE).
    pub async fn set_disposition(&self, h: Handle, delete: bool) -> NtResult<()> {
        if delete {
            let info = self.info(h).await?;
            self.with_open(h, DELETE, |_| ())?;
            if info.attributes & FILE_ATTRIBUTE_READONLY != 0 {
                return Err(CANNOT_DELETE);
            }
        }
        self.on_file(h, DELETE, async |v, f| v.set_delete(f, delete).await)
            .await?;
        let key = self.with_open(h, 0, |o| o.key.clone())?;
        if let Some(node) = self.st().nodes.get_mut(&key) {
            node.delete_pending = delete;
        }
        Ok(())
    }

    /// FileRenameInformation. `FspFileNodeRenameCheck` (src/sys/file.c) refuses a rename
    /// while a file under the source or the target folder, or the target itself, is open
    /// through another handle (no POSIX rename semantics on pail's volume).
    pub async fn rename(&self, h: Handle, new_name: &str, replace: bool) -> NtResult<()> {
        let mut new = units(new_name);
        if new.len() >= 2 && new.last() == Some(&u16::from(b'\\')) {
            new.pop(); // src/sys/fileinfo.c: FspFsvolSetRenameInformation
        }
        if !name_is_valid(&new) || new.len() > PATH_SIZE_MAX {
            return Err(OBJECT_NAME_INVALID);
        }
        let new_key = upcase(&String::from_utf16_lossy(&new));
        {
            let st = self.st();
            let open = st.opens.get(&h).expect("an open handle");
            if open.access & DELETE == 0 {
                return Err(ACCESS_DENIED);
            }
            let under = |key: &[u16], dir: &[u16]| {
                key.len() > dir.len() && key.starts_with(dir) && key[dir.len()] == u16::from(b'\\')
            };
            let busy = st.opens.iter().any(|(other, o)| {
                *other != h
                    && (under(&o.key, &open.key)
                        || under(&o.key, &new_key)
                        || (o.key == new_key && new_key != open.key))
            });
            if busy {
                return Err(ACCESS_DENIED);
            }
        }
        let to = path_from_wide(&new).map_err(|e| nt(e.kind()))?;
        self.on_file(h, DELETE, async |v, f| v.rename(f, &to, replace).await)
            .await?;
        // The file node is renamed, and every open of it follows (`FspFileNodeRename`).
        let mut st = self.st();
        let open = st.opens.get(&h).expect("an open handle");
        let (old, new_key) = (
            open.key.clone(),
            upcase(&String::from_utf16_lossy(&wide_name(&open.file.path()))),
        );
        for o in st.opens.values_mut().filter(|o| o.key == old) {
            o.key = new_key.clone();
        }
        if let Some(node) = st.nodes.remove(&old) {
            st.nodes.insert(new_key, node);
        }
        Ok(())
    }

    /// QueryDirectory: every entry matching `pattern`, fetched `dir_batch` at a time with the
    /// last name as the marker, as WinFsp asks when its buffer fills (`src/sys/dirctl.c`).
    pub async fn query_directory(&self, h: Handle, pattern: &str) -> NtResult<Vec<(String, WinInfo)>> {
        let pattern = units(pattern);
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let batch = self.dir_batch;
            let m = marker.clone();
            let entries = self
                .on_file(h, FILE_READ_DATA, async |v, f| v.read_directory(f, m.as_deref()).await)
                .await?;
            let page: Vec<_> = entries.into_iter().take(batch).collect();
            let Some(last) = page.last() else { break };
            marker = Some(last.name.clone());
            let full = page.len() == batch;
            out.extend(
                page.into_iter()
                    .filter(|e| name_in_expression(&pattern, &units(&e.name)))
                    .map(|e| (e.name, e.info)),
            );
            if !full {
                break;
            }
        }
        Ok(out)
    }
}
