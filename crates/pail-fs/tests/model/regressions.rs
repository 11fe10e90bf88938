//! Failures the reference model found, shrunk by proptest, kept by name.

use super::{Op, run};

/// A file created and still open when write-back drains, then closed: it must land once.
#[test]
fn a_file_open_across_a_drain_lands_when_closed() {
    let open = Op::Open {
        slot: 0,
        file: 0,
        truncate: false,
    };
    run(&[open.clone(), Op::Drain, open], 0);
}

/// A file created, closed, then the process dies before its upload: the resumed drive sends it.
#[test]
fn a_file_closed_just_before_a_crash_lands_after_the_resume() {
    run(
        &[
            Op::Open {
                slot: 0,
                file: 0,
                truncate: false,
            },
            Op::Crash,
        ],
        0,
    );
}

/// A file moved over another's, closed, the process dies, and the resumed file is deleted: the
/// delete must win over the resumed upload.
#[test]
fn a_resumed_upload_of_a_deleted_file_stays_deleted() {
    let ops = [
        Op::Mkdir { dir: 2 },
        Op::RemotePut {
            file: 1,
            len: 0,
            byte: 0,
        },
        Op::Open {
            slot: 0,
            file: 7,
            truncate: false,
        },
        Op::Rename { from: 7, to: 1 },
        Op::Crash,
        Op::Unlink { file: 1 },
    ];
    run(&ops, 0);
}
