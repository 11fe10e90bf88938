//! What the WinFsp test binaries share (`winfsp_tests.rs`, `winfsp_dirctl_tests.rs`,
//! `windows_defects.rs`): the model of the WinFsp driver, its rules, and the Win32 calls the
//! original tests make. Each binary uses its own part of them.

pub mod driver;
pub mod rules;
pub mod win32;
