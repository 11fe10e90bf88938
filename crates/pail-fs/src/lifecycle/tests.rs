use super::*;

fn file(writer: bool) -> FileState {
    FileState::new(
        VfsPath::new("a.txt"),
        "p/a.txt".into(),
        0,
        SystemTime::UNIX_EPOCH,
        Expect::Absent,
        writer,
    )
}

fn etag(s: &str) -> ETag {
    ETag::new(s)
}

#[test]
fn a_written_file_goes_open_closed_uploading_uploaded() {
    let mut f = file(true);
    f.changed();
    assert_eq!(f.phase(), Phase::Open);
    assert_eq!(
        f.begin_upload(false).expect_err("no upload"),
        NoUpload::Busy,
        "a writer has it open"
    );
    f.unhold(true);
    assert_eq!(f.phase(), Phase::Closed);
    let a = f.begin_upload(false).expect("an upload");
    assert_eq!(f.phase(), Phase::Uploading);
    assert_eq!(f.landed(&a, &etag("e1"), a.mtime), None);
    f.end_upload();
    assert_eq!(f.phase(), Phase::Uploaded);
    assert_eq!(f.begin_upload(false).expect_err("no upload"), NoUpload::Nothing);
    assert_eq!(
        f.expect,
        Expect::Match(etag("e1")),
        "the next upload replaces what it sent"
    );
}

#[test]
fn a_write_during_an_upload_stays_pending_after_it_lands() {
    let mut f = file(false);
    f.wrote(10);
    let a = f.begin_upload(false).expect("an upload");
    f.wrote(20);
    assert_eq!(f.landed(&a, &etag("e1"), a.mtime), None);
    f.end_upload();
    assert_eq!(f.phase(), Phase::Closed, "the newer bytes still go up");
    let b = f.begin_upload(false).expect("an upload");
    assert_ne!(b.token, a.token, "a new version has a new token");
    assert_eq!(b.expect, Expect::Match(etag("e1")));
}

#[test]
fn a_delete_during_an_upload_deletes_what_lands_and_never_uploads_again() {
    let mut f = file(false);
    f.wrote(10);
    let a = f.begin_upload(false).expect("an upload");
    let (remote, _) = f.left_on_s3();
    assert_eq!(remote, None, "nothing of it was on S3 yet");
    f.unlink();
    assert_eq!(f.landed(&a, &etag("e1"), a.mtime), Some("p/a.txt".into()));
    f.end_upload();
    assert_eq!(f.phase(), Phase::Deleted);
    f.wrote(30);
    assert!(
        !f.needs_upload(),
        "a deleted file takes writes through open handles only"
    );
    assert_eq!(f.begin_upload(true).expect_err("no upload"), NoUpload::Nothing);
}

#[test]
fn a_rename_during_an_upload_lands_under_the_new_name_only() {
    let mut f = file(false);
    f.wrote(10);
    let a = f.begin_upload(false).expect("an upload");
    assert_eq!(f.left_on_s3(), (None, None));
    f.renamed(VfsPath::new("b.txt"), "p/b.txt".into(), false);
    assert_eq!(
        f.landed(&a, &etag("e1"), a.mtime),
        Some("p/a.txt".into()),
        "what landed under the old name is deleted"
    );
    f.end_upload();
    let b = f.begin_upload(false).expect("an upload");
    assert_eq!((b.key.as_str(), b.expect), ("p/b.txt", Expect::Absent));
}

#[test]
fn a_rename_after_an_upload_hands_the_old_key_to_delete() {
    let mut f = file(false);
    f.wrote(10);
    let a = f.begin_upload(false).expect("an upload");
    f.landed(&a, &etag("e1"), a.mtime);
    f.end_upload();
    assert_eq!(f.left_on_s3().0, Some("p/a.txt".into()));
    f.renamed(VfsPath::new("b.txt"), "p/b.txt".into(), true);
    let b = f.begin_upload(false).expect("an upload");
    assert_eq!(
        (b.key.as_str(), b.expect),
        ("p/b.txt", Expect::Any),
        "it replaces the object there"
    );
    assert_eq!(
        f.left_on_s3().0,
        Some("p/b.txt".into()),
        "the replaced object is an earlier version"
    );
}

#[test]
fn an_upload_of_unknown_outcome_is_looked_for_by_its_token_when_the_file_goes() {
    let mut f = file(false);
    f.wrote(10);
    let a = f.begin_upload(false).expect("an upload");
    f.outcome_unknown();
    f.end_upload();
    let (remote, maybe) = f.left_on_s3();
    assert_eq!(remote, None);
    assert_eq!(maybe, Some(("p/a.txt".into(), a.token)));
    f.unlink();
    assert_eq!(
        f.left_on_s3(),
        (None, None),
        "an unlinked file leaves nothing to look for"
    );
}

#[test]
fn a_conflict_saved_ends_the_file_unless_it_was_written_meanwhile() {
    let mut f = file(false);
    f.wrote(10);
    let a = f.begin_upload(false).expect("an upload");
    f.conflict_named(VfsPath::new("a (conflict).txt"));
    assert_eq!(f.phase(), Phase::Conflicted);
    f.conflict_saved(a.generation);
    f.end_upload();
    assert_eq!(f.phase(), Phase::Deleted, "the server's version shows at the path");

    let mut g = file(false);
    g.wrote(10);
    let a = g.begin_upload(false).expect("an upload");
    g.conflict_named(VfsPath::new("a (conflict).txt"));
    g.wrote(20);
    g.conflict_saved(a.generation);
    g.end_upload();
    assert_eq!(g.phase(), Phase::Closed);
    assert_eq!(
        g.begin_upload(false).expect("an upload").expect,
        Expect::Any,
        "the newest version replaces the server's"
    );
}

#[test]
fn the_journal_is_written_once_per_generation_and_a_token_adopted_only_by_its_own() {
    let mut f = file(false);
    f.wrote(10);
    let g = f.to_journal().expect("to journal");
    f.journaled_at(g);
    assert_eq!(f.to_journal(), None);
    assert_eq!(
        f.adopt_token(g, 7),
        Some(true),
        "journaled: the record is written again"
    );
    assert_eq!(f.begin_upload(false).expect("an upload").token, 7);
    f.end_upload();
    f.wrote(20);
    assert_eq!(f.adopt_token(g, 8), None, "changed since");
    assert_eq!(f.to_journal(), Some(g + 1));
}

#[test]
fn one_upload_task_at_a_time_and_another_when_changed_meanwhile() {
    let mut f = file(false);
    f.wrote(1);
    assert!(f.claim_schedule());
    assert!(!f.claim_schedule(), "one task per file");
    let a = f.begin_upload(false).expect("an upload");
    f.landed(&a, &etag("e"), a.mtime);
    f.end_upload();
    f.wrote(2);
    assert!(f.schedule_ended(), "changed meanwhile: schedule again");
    assert!(f.claim_schedule());
}

#[test]
fn a_resumed_file_is_closed_and_maybe_landed() {
    let f = FileState::resumed(Resumed {
        path: VfsPath::new("a.txt"),
        key: "p/a.txt".into(),
        size: 3,
        mtime: SystemTime::UNIX_EPOCH,
        expect: Expect::Any,
        token: 9,
        conflict_copy: None,
        attributes: 0,
        created: None,
    });
    assert_eq!(f.phase(), Phase::Closed);
    assert_eq!(f.maybe_ours(), Some(("p/a.txt".into(), 9)));
    assert_eq!(f.to_journal(), None, "its record is what it came from");
}
