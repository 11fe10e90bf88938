//! Reads and writes at an offset of a file, on every OS (`pread`/`pwrite` on Unix,
//! `seek_read`/`seek_write` on Windows), for the staging area, the sealed files and the
//! journal's slots.

use std::fs::File;
use std::io;

/// Reads up to `buf.len()` bytes at `offset`; fewer only at the end of the file.
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(file, &mut buf[done..], offset + done as u64)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(file, &mut buf[done..], offset + done as u64)?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(done)
}

/// Reads up to `len` bytes at `offset` into a new buffer; fewer only at the end of the file.
/// On Unix the bytes go straight into the buffer's spare capacity: zeroing it first cost the
/// mount 8 % of its CPU while it sent a large file (each 8 MiB part was memset, then read).
pub(crate) fn read_vec_at(file: &File, len: usize, offset: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len);
    #[cfg(unix)]
    while buf.len() < len {
        let at = offset + buf.len() as u64;
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
            Ok(0) => break,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    #[cfg(not(unix))]
    {
        buf.resize(len, 0);
        let n = read_at(file, &mut buf, offset)?;
        buf.truncate(n);
    }
    Ok(buf)
}

/// Writes all of `buf` at `offset`.
pub(crate) fn write_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let mut done = 0;
        while done < buf.len() {
            let n = std::os::windows::fs::FileExt::seek_write(file, &buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            done += n;
        }
        Ok(())
    }
}
