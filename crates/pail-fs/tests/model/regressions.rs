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

/// A resumed upload landed with its answer lost (and the HEAD that would tell failed), then
/// the file was moved: its old name stayed on S3. A move or delete of a file whose upload may
/// have landed removes the object there when it carries the upload's token.
#[test]
fn a_file_moved_after_an_upload_of_unknown_outcome_leaves_nothing_at_its_old_name() {
    let ops = vec![
        Op::Open {
            slot: 0,
            file: 1,
            truncate: false,
        },
        Op::Open {
            slot: 0,
            file: 0,
            truncate: false,
        },
        Op::Open {
            slot: 0,
            file: 0,
            truncate: false,
        },
        Op::Open {
            slot: 0,
            file: 0,
            truncate: false,
        },
        Op::Mkdir { dir: 2 },
        Op::Write {
            slot: 0,
            offset: 0,
            len: 1,
            byte: 0,
        },
        Op::Open {
            slot: 2,
            file: 3,
            truncate: false,
        },
        Op::Write {
            slot: 0,
            offset: 0,
            len: 1,
            byte: 0,
        },
        Op::Open {
            slot: 0,
            file: 0,
            truncate: false,
        },
        Op::Drain,
        Op::Open {
            slot: 1,
            file: 0,
            truncate: false,
        },
        Op::Fsync { slot: 2 },
        Op::Write {
            slot: 1,
            offset: 0,
            len: 1,
            byte: 0,
        },
        Op::Write {
            slot: 1,
            offset: 0,
            len: 1,
            byte: 0,
        },
        Op::Open {
            slot: 0,
            file: 0,
            truncate: false,
        },
        Op::Crash,
        Op::Open {
            slot: 2,
            file: 6,
            truncate: false,
        },
        Op::WriteBig { slot: 2, byte: 0 },
        Op::Rename { from: 0, to: 6 },
    ];
    run(&ops, 5061858184210863035);
}
