//! The `fuser::Filesystem` implementation (calls that change the drive are in `write`): a thin wrapper that resolves inodes to paths and
//! makes the matching [`Vfs`] call. What the core can answer from its caches (`*_cached`) is
//! answered on the session thread; anything that needs S3 runs on the tokio runtime and replies
//! from there, so the session thread never waits on S3 and slow calls run in parallel.
//!
//! Lock order: `inodes`, then `dirs`; neither is held across an `.await` or a reply.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::time::SystemTime;

use fuser::{
    FileAttr, FileType, Filesystem, KernelConfig, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow,
    consts,
};
use pail_fs::{Attr, FsError, FsErrorKind, HandleId, Listing, Vfs, VfsPath};
use tracing::Instrument;

use crate::errno::to_errno;
use crate::inodes::InodeTable;
use crate::write::SetAttr;

/// Owner and timing settings of a mount.
#[derive(Debug, Clone)]
pub struct FuseConfig {
    /// Owner shown for every file.
    pub uid: u32,
    /// Group shown for every file.
    pub gid: u32,
    /// How long the kernel may cache entries and attributes.
    pub ttl: Duration,
    /// Read-only mount: permissions drop the write bits.
    pub read_only: bool,
}

impl FuseConfig {
    /// Files owned by the user running pail, with the drive's TTL and read-only setting.
    pub fn for_drive(drive: &pail_fs::VfsConfig) -> Self {
        let (uid, gid) = crate::process_owner();
        Self {
            uid,
            gid,
            ttl: drive.metadata_ttl,
            read_only: drive.read_only,
        }
    }
}

/// `found`, or, for a name that is gone but still open (unlinked while open), the open file's
/// attributes: what fstat answers on a disk.
fn or_open_file(vfs: &Vfs, path: &VfsPath, found: Result<Attr, FsError>) -> Result<Attr, FsError> {
    match found {
        Err(e) if e.kind() == FsErrorKind::NotFound => vfs.open_file_attr(path).ok_or(e),
        other => other,
    }
}

/// The FUSE side of one mounted drive.
#[derive(Debug)]
pub struct PailFuse {
    pub(crate) vfs: Arc<Vfs>,
    pub(crate) rt: tokio::runtime::Handle,
    pub(crate) cfg: FuseConfig,
    pub(crate) inodes: Arc<Mutex<InodeTable>>,
    dirs: Arc<Mutex<HashMap<u64, Arc<Listing>>>>,
    next_dir: u64,
}

impl PailFuse {
    /// A file system over `vfs` whose calls run on `rt`.
    pub fn new(vfs: Arc<Vfs>, rt: tokio::runtime::Handle, cfg: FuseConfig) -> Self {
        Self {
            vfs,
            rt,
            cfg,
            inodes: Arc::default(),
            dirs: Arc::default(),
            next_dir: 1,
        }
    }

    pub(crate) fn path(&self, ino: u64) -> Option<VfsPath> {
        self.inodes.lock().unwrap_or_else(|e| e.into_inner()).path(ino)
    }

    pub(crate) fn child(&self, parent: u64, name: &OsStr) -> Result<VfsPath, i32> {
        let parent = self.path(parent).ok_or(libc::ENOENT)?;
        let name = name.to_str().ok_or(libc::ENOENT)?;
        Ok(parent.join(name))
    }
}

pub(crate) fn file_attr(cfg: &FuseConfig, ino: u64, attr: &Attr) -> FileAttr {
    let (kind, perm) = if attr.is_dir() {
        (FileType::Directory, 0o755)
    } else {
        (FileType::RegularFile, 0o644)
    };
    let perm = if cfg.read_only { perm & 0o555 } else { perm };
    FileAttr {
        ino,
        size: attr.size,
        blocks: attr.size.div_ceil(512),
        atime: attr.atime(),
        mtime: attr.mtime,
        ctime: attr.ctime(),
        crtime: attr.created.unwrap_or(attr.mtime),
        kind,
        perm,
        nlink: attr.nlink(),
        uid: cfg.uid,
        gid: cfg.gid,
        rdev: 0,
        blksize: 128 * 1024,
        flags: 0,
    }
}

pub(crate) fn log_error(op: &str, e: &FsError) -> i32 {
    let errno = to_errno(e.kind());
    match e.kind() {
        pail_fs::FsErrorKind::NotFound | pail_fs::FsErrorKind::Exists | pail_fs::FsErrorKind::NotEmpty => {
            tracing::debug!(op, error = %e, "refused")
        }
        _ => tracing::warn!(op, error = %e, errno, "operation failed"),
    }
    errno
}

impl Filesystem for PailFuse {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), libc::c_int> {
        // Unsupported capabilities are simply not enabled; the mount still works.
        let _ = config.add_capabilities(consts::FUSE_DO_READDIRPLUS | consts::FUSE_PARALLEL_DIROPS);
        let _ = config.set_max_readahead(1 << 20);
        let _ = config.set_max_background(64);
        let _ = config.set_congestion_threshold(48);
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        if let Some(result) = self.vfs.lookup_cached(&path) {
            return match result {
                Ok(attr) => {
                    let ino = self.inodes.lock().unwrap_or_else(|e| e.into_inner()).lookup(&path);
                    reply.entry(&self.cfg.ttl, &file_attr(&self.cfg, ino, &attr), 0);
                }
                Err(e) => reply.error(log_error("lookup", &e)),
            };
        }
        let (vfs, inodes, cfg) = (self.vfs.clone(), self.inodes.clone(), self.cfg.clone());
        let span = tracing::debug_span!("lookup", path = %path);
        self.rt.spawn(
            async move {
                match vfs.lookup(&path).await {
                    Ok(attr) => {
                        let ino = inodes.lock().unwrap_or_else(|e| e.into_inner()).lookup(&path);
                        reply.entry(&cfg.ttl, &file_attr(&cfg, ino, &attr), 0);
                    }
                    Err(e) => reply.error(log_error("lookup", &e)),
                }
            }
            .instrument(span),
        );
    }

    fn forget(&mut self, _req: &Request<'_>, ino: u64, nlookup: u64) {
        self.inodes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(ino, nlookup);
    }

    fn batch_forget(&mut self, _req: &Request<'_>, nodes: &[fuser::fuse_forget_one]) {
        let mut inodes = self.inodes.lock().unwrap_or_else(|e| e.into_inner());
        for n in nodes {
            inodes.forget(n.nodeid, n.nlookup);
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, fh: Option<u64>, reply: ReplyAttr) {
        // fstat, and the kernel's checks before reading an open file, come with the handle:
        // answered from it, so a file unlinked while open still answers.
        if let Some(attr) = fh.and_then(|fh| self.vfs.handle_attr(HandleId(fh)).ok()) {
            return reply.attr(&self.cfg.ttl, &file_attr(&self.cfg, ino, &attr));
        }
        let Some(path) = self.path(ino) else {
            return reply.error(libc::ENOENT);
        };
        if let Some(result) = self.vfs.lookup_cached(&path) {
            return match or_open_file(&self.vfs, &path, result) {
                Ok(attr) => reply.attr(&self.cfg.ttl, &file_attr(&self.cfg, ino, &attr)),
                Err(e) => reply.error(log_error("getattr", &e)),
            };
        }
        let (vfs, cfg) = (self.vfs.clone(), self.cfg.clone());
        let span = tracing::debug_span!("getattr", path = %path);
        self.rt.spawn(
            async move {
                match or_open_file(&vfs, &path, vfs.lookup(&path).await) {
                    Ok(attr) => reply.attr(&cfg.ttl, &file_attr(&cfg, ino, &attr)),
                    Err(e) => reply.error(log_error("getattr", &e)),
                }
            }
            .instrument(span),
        );
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let Some(path) = self.path(ino) else {
            return reply.error(libc::ENOENT);
        };
        if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0 {
            return self.open_for_write(path, flags & libc::O_TRUNC != 0, reply);
        }
        if let Some(result) = self.vfs.open_cached(&path) {
            return match result {
                Ok((h, _)) => reply.opened(h.0, 0),
                Err(e) => reply.error(log_error("open", &e)),
            };
        }
        let vfs = self.vfs.clone();
        let span = tracing::debug_span!("open", path = %path);
        self.rt.spawn(
            async move {
                match vfs.open(&path).await {
                    Ok((h, _)) => reply.opened(h.0, 0),
                    Err(e) => reply.error(log_error("open", &e)),
                }
            }
            .instrument(span),
        );
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        // Cached data is answered here, without a hop to the runtime; prefetches it starts
        // are spawned on the runtime.
        let cached = {
            let _rt = self.rt.enter();
            self.vfs.read_cached(HandleId(fh), offset.max(0) as u64, size)
        };
        if let Some(result) = cached {
            return match result {
                Ok(data) => reply.data(&data),
                Err(e) => reply.error(log_error("read", &e)),
            };
        }
        let vfs = self.vfs.clone();
        let span = tracing::trace_span!("read", fh, offset, size);
        self.rt.spawn(
            async move {
                match vfs.read(HandleId(fh), offset.max(0) as u64, size).await {
                    Ok(data) => reply.data(&data),
                    Err(e) => reply.error(log_error("read", &e)),
                }
            }
            .instrument(span),
        );
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, fh: u64, _lock_owner: u64, reply: ReplyEmpty) {
        self.do_flush(fh, reply);
    }

    fn fsync(&mut self, _req: &Request<'_>, _ino: u64, fh: u64, _datasync: bool, reply: ReplyEmpty) {
        self.do_fsync(fh, reply);
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        self.do_write(fh, offset, data, reply);
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        self.do_create(parent, name, flags, reply);
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let set = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        self.do_setattr(ino, set, reply);
    }

    fn mkdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, _mode: u32, _umask: u32, reply: ReplyEntry) {
        self.do_mkdir(parent, name, reply);
    }

    fn mknod(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        self.do_mknod(parent, name, mode, reply);
    }

    // S3 holds no extended attributes. ENOSYS tells the kernel so once (programs then see
    // EOPNOTSUPP and the kernel stops asking, e.g. for `security.capability` before a write);
    // fuser's defaults answer the same but log a warning in the user's terminal.
    fn getxattr(&mut self, _req: &Request<'_>, _ino: u64, _name: &OsStr, _size: u32, reply: ReplyXattr) {
        reply.error(libc::ENOSYS);
    }

    fn listxattr(&mut self, _req: &Request<'_>, _ino: u64, _size: u32, reply: ReplyXattr) {
        reply.error(libc::ENOSYS);
    }

    fn setxattr(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(libc::ENOSYS);
    }

    fn removexattr(&mut self, _req: &Request<'_>, _ino: u64, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(libc::ENOSYS);
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.do_remove(parent, name, false, reply);
    }

    fn rmdir(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.do_remove(parent, name, true, reply);
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        self.do_rename((parent, name), (newparent, newname), flags, reply);
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.vfs.release(HandleId(fh));
        reply.ok();
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        let Some(path) = self.path(ino) else {
            return reply.error(libc::ENOENT);
        };
        let fh = self.next_dir;
        self.next_dir += 1;
        let (vfs, dirs) = (self.vfs.clone(), self.dirs.clone());
        let span = tracing::debug_span!("opendir", path = %path);
        self.rt.spawn(
            async move {
                match vfs.read_dir(&path).await {
                    Ok(listing) => {
                        dirs.lock().unwrap_or_else(|e| e.into_inner()).insert(fh, listing);
                        reply.opened(fh, 0);
                    }
                    Err(e) => reply.error(log_error("opendir", &e)),
                }
            }
            .instrument(span),
        );
    }

    fn readdir(&mut self, _req: &Request<'_>, ino: u64, fh: u64, offset: i64, mut reply: ReplyDirectory) {
        let Some(listing) = self.dirs.lock().unwrap_or_else(|e| e.into_inner()).get(&fh).cloned() else {
            return reply.error(libc::EBADF);
        };
        let Some(dir) = self.path(ino) else {
            return reply.error(libc::ENOENT);
        };
        let inodes = self.inodes.lock().unwrap_or_else(|e| e.into_inner());
        let mut i = offset.max(0) as usize;
        loop {
            let full = match i {
                0 => reply.add(ino, 1, FileType::Directory, "."),
                1 => reply.add(ino, 2, FileType::Directory, ".."),
                _ => {
                    let Some(e) = listing.entries.get(i - 2) else { break };
                    // d_ino is informational; entries the kernel has not looked up get a
                    // number that is not registered (FUSE readdir does not count lookups).
                    let child = inodes.peek(&dir.join(&e.name)).unwrap_or(u64::MAX - i as u64);
                    let kind = if e.attr.is_dir() {
                        FileType::Directory
                    } else {
                        FileType::RegularFile
                    };
                    reply.add(child, i as i64 + 1, kind, &e.name)
                }
            };
            if full {
                break;
            }
            i += 1;
        }
        reply.ok();
    }

    fn readdirplus(&mut self, _req: &Request<'_>, ino: u64, fh: u64, offset: i64, mut reply: ReplyDirectoryPlus) {
        let Some(listing) = self.dirs.lock().unwrap_or_else(|e| e.into_inner()).get(&fh).cloned() else {
            return reply.error(libc::EBADF);
        };
        let Some(dir) = self.path(ino) else {
            return reply.error(libc::ENOENT);
        };
        let mut inodes = self.inodes.lock().unwrap_or_else(|e| e.into_inner());
        let dir_attr = file_attr(&self.cfg, ino, &Attr::directory(std::time::SystemTime::UNIX_EPOCH));
        let mut i = offset.max(0) as usize;
        loop {
            let full = match i {
                // The kernel does not count lookups for "." and "..".
                0 => reply.add(ino, 1, ".", &Duration::ZERO, &dir_attr, 0),
                1 => reply.add(ino, 2, "..", &Duration::ZERO, &dir_attr, 0),
                _ => {
                    let Some(e) = listing.entries.get(i - 2) else { break };
                    let path = dir.join(&e.name);
                    let child = inodes.lookup(&path);
                    let full = reply.add(
                        child,
                        i as i64 + 1,
                        &e.name,
                        &self.cfg.ttl,
                        &file_attr(&self.cfg, child, &e.attr),
                        0,
                    );
                    if full {
                        // Not sent: the kernel will not count this lookup.
                        inodes.forget(child, 1);
                    }
                    full
                }
            };
            if full {
                break;
            }
            i += 1;
        }
        reply.ok();
    }

    fn releasedir(&mut self, _req: &Request<'_>, _ino: u64, fh: u64, _flags: i32, reply: ReplyEmpty) {
        self.dirs.lock().unwrap_or_else(|e| e.into_inner()).remove(&fh);
        reply.ok();
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let s = self.vfs.volume_stats();
        reply.statfs(
            s.blocks,
            s.free_blocks,
            s.free_blocks,
            s.files,
            s.free_files,
            s.block_size,
            s.max_name_len,
            s.block_size,
        );
    }

    fn access(&mut self, _req: &Request<'_>, ino: u64, mask: i32, reply: ReplyEmpty) {
        if self.path(ino).is_none() {
            return reply.error(libc::ENOENT);
        }
        if self.cfg.read_only && mask & libc::W_OK != 0 {
            return reply.error(libc::EROFS);
        }
        reply.ok();
    }
}
