//! The FUSE calls that change the drive: open for writing, create, write, flush, fsync,
//! setattr, mkdir, unlink, rmdir, rename, mknod. Each turns into one `Vfs` call on the tokio
//! runtime (writes that need neither S3 nor staging space are answered inline).
//!
//! What S3 cannot hold is refused with a clear errno: symbolic and hard links (`EPERM`, fuser's
//! default), device nodes and FIFOs (`EPERM`), setuid/setgid/sticky bits and changes of owner
//! (`EPERM`). Plain permission bits are not stored; chmod of them succeeds without effect, as
//! with rclone, so `cp -p`, `tar` and `git` work.

use std::ffi::OsStr;
use std::time::SystemTime;

use fuser::{ReplyAttr, ReplyCreate, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, TimeOrNow};
use pail_fs::{HandleId, VfsPath};
use tracing::Instrument;

use crate::fs::{PailFuse, file_attr, log_error};

/// What a `setattr` asks for.
#[derive(Debug)]
pub(crate) struct SetAttr {
    pub(crate) mode: Option<u32>,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
    pub(crate) size: Option<u64>,
    pub(crate) atime: Option<TimeOrNow>,
    pub(crate) mtime: Option<TimeOrNow>,
}

fn time_of(t: TimeOrNow) -> SystemTime {
    match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    }
}

impl PailFuse {
    /// Runs `f` on the runtime and answers with its result.
    fn spawn<F>(&self, span: tracing::Span, f: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.rt.spawn(f.instrument(span));
    }

    pub(crate) fn open_for_write(&self, path: VfsPath, truncate: bool, reply: ReplyOpen) {
        if self.cfg.read_only {
            return reply.error(libc::EROFS);
        }
        let vfs = self.vfs.clone();
        self.spawn(tracing::debug_span!("open_write", path = %path), async move {
            match vfs.open_write(&path, truncate).await {
                Ok((h, _)) => reply.opened(h.0, 0),
                Err(e) => reply.error(log_error("open", &e)),
            }
        });
    }

    pub(crate) fn do_create(&self, parent: u64, name: &OsStr, flags: i32, reply: ReplyCreate) {
        if self.cfg.read_only {
            return reply.error(libc::EROFS);
        }
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let exclusive = flags & libc::O_EXCL != 0;
        let truncate = flags & libc::O_TRUNC != 0;
        // A new name in a known folder is created here, without a hop to the runtime.
        if let Some(result) = self.vfs.create_now(&path, exclusive) {
            return match result {
                Ok((h, attr)) => {
                    let ino = self.inodes.lock().unwrap_or_else(|e| e.into_inner()).lookup(&path);
                    reply.created(&self.cfg.ttl, &file_attr(&self.cfg, ino, &attr), 0, h.0, 0);
                }
                Err(e) => reply.error(log_error("create", &e)),
            };
        }
        let (vfs, inodes, cfg) = (self.vfs.clone(), self.inodes.clone(), self.cfg.clone());
        self.spawn(tracing::debug_span!("create", path = %path), async move {
            match vfs.create(&path, exclusive, truncate).await {
                Ok((h, attr)) => {
                    let ino = inodes.lock().unwrap_or_else(|e| e.into_inner()).lookup(&path);
                    reply.created(&cfg.ttl, &file_attr(&cfg, ino, &attr), 0, h.0, 0);
                }
                Err(e) => reply.error(log_error("create", &e)),
            }
        });
    }

    pub(crate) fn do_write(&self, fh: u64, offset: i64, data: &[u8], reply: ReplyWrite) {
        let offset = offset.max(0) as u64;
        if let Some(result) = self.vfs.write_now(HandleId(fh), offset, data) {
            return match result {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(log_error("write", &e)),
            };
        }
        let vfs = self.vfs.clone();
        let data = data.to_vec();
        self.spawn(tracing::trace_span!("write", fh, offset), async move {
            match vfs.write(HandleId(fh), offset, &data).await {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(log_error("write", &e)),
            }
        });
    }

    pub(crate) fn do_flush(&self, fh: u64, reply: ReplyEmpty) {
        let vfs = self.vfs.clone();
        // The journal write fsyncs: keep it off the session thread and the async workers.
        self.rt.spawn_blocking(move || match vfs.flush(HandleId(fh)) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(log_error("flush", &e)),
        });
    }

    pub(crate) fn do_fsync(&self, fh: u64, reply: ReplyEmpty) {
        let vfs = self.vfs.clone();
        self.spawn(tracing::debug_span!("fsync", fh), async move {
            match vfs.fsync(HandleId(fh)).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(log_error("fsync", &e)),
            }
        });
    }

    pub(crate) fn do_setattr(&self, ino: u64, set: SetAttr, reply: ReplyAttr) {
        let Some(path) = self.path(ino) else {
            return reply.error(libc::ENOENT);
        };
        if set.mode.is_some_and(|m| m & 0o7000 != 0)
            || set.uid.is_some_and(|u| u != self.cfg.uid)
            || set.gid.is_some_and(|g| g != self.cfg.gid)
        {
            tracing::debug!(path = %path, ?set, "refusing setuid/setgid/sticky bits or a change of owner: S3 cannot hold them");
            return reply.error(libc::EPERM);
        }
        let changes = set.size.is_some() || set.mtime.is_some() || set.atime.is_some();
        if changes && self.cfg.read_only {
            return reply.error(libc::EROFS);
        }
        let (vfs, cfg) = (self.vfs.clone(), self.cfg.clone());
        self.spawn(tracing::debug_span!("setattr", path = %path), async move {
            let resized = match set.size {
                Some(size) => vfs.set_len(&path, size).await.map(drop),
                None => Ok(()),
            };
            // Every successful setattr (chmod included) moves the change time on; `set_times`
            // looks the path up, so a missing one answers ENOENT.
            let result = match resized {
                Ok(()) => {
                    vfs.set_times(&path, set.atime.map(time_of), set.mtime.map(time_of))
                        .await
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(attr) => reply.attr(&cfg.ttl, &file_attr(&cfg, ino, &attr)),
                Err(e) => reply.error(log_error("setattr", &e)),
            }
        });
    }

    pub(crate) fn do_mkdir(&self, parent: u64, name: &OsStr, reply: ReplyEntry) {
        if self.cfg.read_only {
            return reply.error(libc::EROFS);
        }
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let (vfs, inodes, cfg) = (self.vfs.clone(), self.inodes.clone(), self.cfg.clone());
        self.spawn(tracing::debug_span!("mkdir", path = %path), async move {
            match vfs.mkdir(&path).await {
                Ok(attr) => {
                    let ino = inodes.lock().unwrap_or_else(|e| e.into_inner()).lookup(&path);
                    reply.entry(&cfg.ttl, &file_attr(&cfg, ino, &attr), 0);
                }
                Err(e) => reply.error(log_error("mkdir", &e)),
            }
        });
    }

    pub(crate) fn do_remove(&self, parent: u64, name: &OsStr, dir: bool, reply: ReplyEmpty) {
        if self.cfg.read_only {
            return reply.error(libc::EROFS);
        }
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let vfs = self.vfs.clone();
        let span = tracing::debug_span!("remove", path = %path, dir);
        self.spawn(span, async move {
            let result = if dir {
                vfs.rmdir(&path).await
            } else {
                vfs.unlink(&path).await
            };
            match result {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(log_error(if dir { "rmdir" } else { "unlink" }, &e)),
            }
        });
    }

    pub(crate) fn do_rename(
        &self,
        (parent, name): (u64, &OsStr),
        (newparent, newname): (u64, &OsStr),
        flags: u32,
        reply: ReplyEmpty,
    ) {
        if self.cfg.read_only {
            return reply.error(libc::EROFS);
        }
        if flags & libc::RENAME_EXCHANGE != 0 {
            // S3 has no atomic swap of two keys.
            return reply.error(libc::EINVAL);
        }
        let (from, to) = match (self.child(parent, name), self.child(newparent, newname)) {
            (Ok(f), Ok(t)) => (f, t),
            (Err(e), _) | (_, Err(e)) => return reply.error(e),
        };
        let no_replace = flags & libc::RENAME_NOREPLACE != 0;
        let (vfs, inodes) = (self.vfs.clone(), self.inodes.clone());
        self.spawn(tracing::debug_span!("rename", from = %from, to = %to), async move {
            match vfs.rename(&from, &to, no_replace).await {
                Ok(()) => {
                    inodes.lock().unwrap_or_else(|e| e.into_inner()).rename(&from, &to);
                    reply.ok();
                }
                Err(e) => reply.error(log_error("rename", &e)),
            }
        });
    }

    pub(crate) fn do_mknod(&self, parent: u64, name: &OsStr, mode: u32, reply: ReplyEntry) {
        if mode & libc::S_IFMT != libc::S_IFREG {
            tracing::debug!(?name, mode, "refusing a device node, FIFO or socket: S3 cannot hold it");
            return reply.error(libc::EPERM);
        }
        if self.cfg.read_only {
            return reply.error(libc::EROFS);
        }
        let path = match self.child(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let (vfs, inodes, cfg) = (self.vfs.clone(), self.inodes.clone(), self.cfg.clone());
        self.spawn(tracing::debug_span!("mknod", path = %path), async move {
            let created = vfs.create(&path, true, false).await;
            let result = match created {
                Ok((h, attr)) => {
                    let flushed = vfs.flush(h);
                    vfs.release(h);
                    flushed.map(|()| attr)
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(attr) => {
                    let ino = inodes.lock().unwrap_or_else(|e| e.into_inner()).lookup(&path);
                    reply.entry(&cfg.ttl, &file_attr(&cfg, ino, &attr), 0);
                }
                Err(e) => reply.error(log_error("mknod", &e)),
            }
        });
    }
}
