//! The mounting user's SID, read from the process token.

use windows::Win32::Foundation::{CloseHandle, HANDLE};
use windows::Win32::Security::{GetLengthSid, GetTokenInformation, TOKEN_QUERY, TOKEN_USER, TokenUser};
use windows::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use crate::security::Sid;

/// The SID of the user this process runs as.
#[allow(unsafe_code)]
pub fn current_user() -> windows::core::Result<Sid> {
    let mut token = HANDLE::default();
    // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing; `token` is a
    // valid place for the opened handle.
    unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) }?;
    let sid = token_user(token);
    // SAFETY: `token` was opened above and is closed once.
    let _ = unsafe { CloseHandle(token) };
    sid
}

#[allow(unsafe_code)]
fn token_user(token: HANDLE) -> windows::core::Result<Sid> {
    let mut needed = 0u32;
    // SAFETY: a size query with no buffer; it fails with ERROR_INSUFFICIENT_BUFFER and sets
    // `needed`, which is all that is wanted from it.
    let _ = unsafe { GetTokenInformation(token, TokenUser, None, 0, &mut needed) };
    // u64 elements keep the buffer aligned for TOKEN_USER.
    let mut buf = vec![0u64; (needed as usize).div_ceil(8).max(1)];
    // SAFETY: `buf` is writable for `needed` bytes (rounded up) and outlives the call.
    unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            Some(buf.as_mut_ptr().cast()),
            (buf.len() * 8) as u32,
            &mut needed,
        )
    }?;
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID points into `buf`,
    // which is alive here; GetLengthSid reads only that SID.
    let bytes = unsafe {
        let user = &*buf.as_ptr().cast::<TOKEN_USER>();
        let len = GetLengthSid(user.User.Sid) as usize;
        std::slice::from_raw_parts(user.User.Sid.0.cast::<u8>(), len).to_vec()
    };
    // E_UNEXPECTED: Windows handed back something that is not a SID.
    Sid::from_bytes(&bytes)
        .map_err(|_| windows::core::Error::from_hresult(windows::core::HRESULT(0x8000_FFFF_u32 as i32)))
}
