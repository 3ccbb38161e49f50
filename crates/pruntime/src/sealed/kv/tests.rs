use super::*;
use proptest::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

const ROOT: &[u8] = b"test sealing root";
const MEAS: &[u8] = b"measurement A";
const ID: &[u8] = b"identity A";

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "veil-kv-{name}-{}-{}-{:08x}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            rand::rng().random::<u32>()
        ));
        let _ = fs::remove_dir_all(&path);
        Self(path)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

type Dump = Vec<(Vec<u8>, Vec<u8>)>;

fn open(dir: &Path) -> SealedKv {
    SealedKv::open(dir, ROOT, MEAS, ID).unwrap()
}

fn dump(kv: &SealedKv) -> Dump {
    kv.iter_prefix(&[])
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

fn put_all(kv: &mut SealedKv, pairs: &[(&[u8], &[u8])]) {
    let mut b = Batch::new();
    for (k, v) in pairs {
        b.put(*k, v.to_vec());
    }
    kv.commit(b).unwrap();
}

fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for e in fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn log_of(dir: &Path, generation: u64) -> PathBuf {
    dir.join(log_name(generation))
}

/// Splits a log into whole frames (length prefix included).
fn split_frames(log: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = log;
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        out.push(rest[..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every frame of every log in the store's directory, decrypted with the store's own key.
fn decrypted_frames(kv: &SealedKv) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out = Vec::new();
    for name in file_names(&kv.dir) {
        let Some(g) = parse_log_name(&name) else {
            continue;
        };
        let bytes = fs::read(kv.dir.join(&name)).unwrap();
        for (seq, frame) in split_frames(&bytes).iter().enumerate() {
            let aad = kv.frame_aad(g, seq as u64);
            out.push(kv.log_key.open(&aad, &frame[4..]).unwrap());
        }
    }
    out
}

fn assert_corrupt_frame(result: Result<SealedKv, KvError>, expected_frame: u64) {
    match result {
        Err(KvError::CorruptFrame { frame, path, .. }) => {
            assert_eq!(frame, expected_frame, "wrong frame reported");
            assert!(parse_log_name(path.file_name().unwrap().to_str().unwrap()).is_some());
        }
        other => panic!("expected a corrupt frame error, got {other:?}"),
    }
}

#[test]
fn round_trip_across_reopen() {
    let tmp = TempDir::new("roundtrip");
    let mut kv = open(&tmp.0);
    assert!(kv.is_empty());
    assert_eq!(file_names(&tmp.0), ["kv-0.log", "kv-manifest"]);
    put_all(
        &mut kv,
        &[(b"a/1", b"one"), (b"a/2", b"two"), (b"b", b"bee")],
    );
    assert_eq!(kv.get(b"a/1"), Some(&b"one"[..]));
    assert_eq!(kv.sequence(), 1);

    // Empty batch: nothing written.
    let len = fs::metadata(log_of(&tmp.0, 0)).unwrap().len();
    kv.commit(Batch::new()).unwrap();
    assert_eq!(kv.sequence(), 1);
    assert_eq!(fs::metadata(log_of(&tmp.0, 0)).unwrap().len(), len);

    // Overwrite, delete, delete of a missing key, and a put then delete in one batch.
    let mut b = Batch::new();
    b.put(b"a/1".to_vec(), b"uno".to_vec())
        .delete(b"b".to_vec())
        .delete(b"missing".to_vec())
        .put(b"tmp".to_vec(), b"x".to_vec())
        .delete(b"tmp".to_vec());
    assert_eq!(b.len(), 5);
    kv.commit(b).unwrap();
    let expected: Dump = vec![
        (b"a/1".to_vec(), b"uno".to_vec()),
        (b"a/2".to_vec(), b"two".to_vec()),
    ];
    assert_eq!(dump(&kv), expected);
    assert_eq!(kv.live_bytes, 3 + 3 + 3 + 3);
    drop(kv);

    let kv = open(&tmp.0);
    assert_eq!(dump(&kv), expected);
    assert_eq!(kv.len(), 2);
    assert!(kv.contains(b"a/2") && !kv.contains(b"b") && !kv.contains(b"tmp"));
    assert_eq!(kv.get(b"b"), None);
    assert_eq!(kv.iter_prefix(b"a/").count(), 2);
    assert_eq!(kv.iter_prefix(b"b").count(), 0);
    assert_eq!((kv.generation(), kv.sequence()), (0, 2));
    assert_eq!(kv.live_bytes, 12);
}

#[test]
fn limits_are_errors_and_leave_memory_unchanged() {
    let tmp = TempDir::new("limits");
    let mut kv = open(&tmp.0);
    put_all(&mut kv, &[(b"k", b"v")]);
    let before = (dump(&kv), kv.sequence(), kv.log_len);

    let mut b = Batch::new();
    b.put(b"ok".to_vec(), b"v".to_vec())
        .put(vec![0u8; MAX_KEY_LEN + 1], b"v".to_vec());
    assert!(matches!(kv.commit(b), Err(KvError::KeyTooLong { len }) if len == MAX_KEY_LEN + 1));
    let mut b = Batch::new();
    b.delete(b"k".to_vec())
        .put(b"big".to_vec(), vec![0u8; MAX_VALUE_LEN + 1]);
    assert!(matches!(kv.commit(b), Err(KvError::ValueTooLong { .. })));
    assert_eq!((dump(&kv), kv.sequence(), kv.log_len), before);

    // Largest key and value are fine.
    let mut b = Batch::new();
    b.put(vec![7u8; MAX_KEY_LEN], vec![1u8; MAX_VALUE_LEN]);
    kv.commit(b).unwrap();
    drop(kv);
    let kv = open(&tmp.0);
    assert_eq!(
        kv.get(&[7u8; MAX_KEY_LEN]).map(<[u8]>::len),
        Some(MAX_VALUE_LEN)
    );
}

#[test]
fn debug_does_not_print_values() {
    let tmp = TempDir::new("debug");
    let mut kv = open(&tmp.0);
    let mut b = Batch::new();
    b.put(b"key".to_vec(), b"SECRETVALUE".to_vec());
    let batch_debug = format!("{b:?}");
    kv.commit(b).unwrap();
    let kv_debug = format!("{kv:?}");
    for d in [batch_debug, kv_debug] {
        assert!(!d.contains("SECRETVALUE"), "{d}");
        assert!(!d.contains("83, 69, 67"), "{d}");
    }
}

#[test]
fn torn_tail_recovers_exactly_the_acknowledged_batches() {
    let tmp = TempDir::new("torn");
    let base = tmp.join("base");
    let mut kv = open(&base);
    put_all(&mut kv, &[(b"a", b"1"), (b"b", b"2"), (b"c", b"3")]);
    let after_a = dump(&kv);
    let end_a = kv.log_len;
    let mut b = Batch::new();
    b.put(b"a".to_vec(), b"one".to_vec())
        .delete(b"b".to_vec())
        .put(b"d".to_vec(), b"4".to_vec())
        .put(b"e".to_vec(), vec![5u8; 100]);
    kv.commit(b).unwrap();
    let after_b = dump(&kv);
    let end_b = kv.log_len;
    assert_eq!(end_b, fs::metadata(log_of(&base, 0)).unwrap().len());
    drop(kv);

    for cut in end_a..=end_b {
        let dir = tmp.join(&format!("cut-{cut}"));
        copy_dir(&base, &dir);
        let f = OpenOptions::new()
            .write(true)
            .open(log_of(&dir, 0))
            .unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        let mut kv = open(&dir);
        let (expected, seq) = if cut == end_b {
            (&after_b, 2)
        } else {
            (&after_a, 1)
        };
        assert_eq!(&dump(&kv), expected, "cut at {cut}");
        assert_eq!(kv.sequence(), seq);
        let len = if cut == end_b { end_b } else { end_a };
        assert_eq!(fs::metadata(log_of(&dir, 0)).unwrap().len(), len);

        // The store keeps working and the new commit survives another reopen.
        put_all(&mut kv, &[(b"f", b"after crash")]);
        let expected_after = dump(&kv);
        drop(kv);
        let kv = open(&dir);
        assert_eq!(dump(&kv), expected_after);
        assert_eq!(kv.get(b"f"), Some(&b"after crash"[..]));
        drop(kv);
        fs::remove_dir_all(&dir).unwrap();
    }
}

/// A store with one frame per batch: `batches` frames in generation 0.
fn store_with_frames(dir: &Path, id: &[u8], meas: &[u8], batches: usize) -> Vec<Dump> {
    let mut kv = SealedKv::open(dir, ROOT, meas, id).unwrap();
    let mut states = vec![dump(&kv)];
    for i in 0..batches {
        let k = format!("key-{i}");
        let v = format!("value-{i}");
        put_all(&mut kv, &[(k.as_bytes(), v.as_bytes())]);
        states.push(dump(&kv));
    }
    states
}

#[test]
fn tampered_middle_frames_are_reported() {
    let tmp = TempDir::new("tamper");
    let base = tmp.join("base");
    store_with_frames(&base, ID, MEAS, 4);
    let log = fs::read(log_of(&base, 0)).unwrap();
    let frames = split_frames(&log);
    assert_eq!(frames.len(), 4);
    let write = |name: &str, frames: &[&Vec<u8>]| {
        let dir = tmp.join(name);
        copy_dir(&base, &dir);
        fs::write(
            log_of(&dir, 0),
            frames
                .iter()
                .flat_map(|f| f.iter().copied())
                .collect::<Vec<u8>>(),
        )
        .unwrap();
        dir
    };
    let [f0, f1, f2, f3] = [&frames[0], &frames[1], &frames[2], &frames[3]];

    // A flipped byte inside a middle frame.
    let mut flipped = f1.clone();
    flipped[20] ^= 0x40;
    let dir = write("flip", &[f0, &flipped, f2, f3]);
    assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 1);
    // Nothing was truncated or deleted on failure.
    assert_eq!(fs::read(log_of(&dir, 0)).unwrap().len(), log.len());

    // Swapped frames.
    let dir = write("swap", &[f0, f2, f1, f3]);
    assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 1);
    let dir = write("swap-first", &[f1, f0, f2, f3]);
    assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 0);

    // A dropped middle frame.
    let dir = write("drop", &[f0, f2, f3]);
    assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 1);

    // A duplicated frame in the middle.
    let dir = write("dup", &[f0, f1, f1, f2]);
    assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 2);
}

#[test]
fn oversized_length_prefix_is_corrupt_unless_torn_tail() {
    let tmp = TempDir::new("oversize");
    let states = store_with_frames(&tmp.0, ID, MEAS, 1);
    let path = log_of(&tmp.0, 0);
    let good = fs::metadata(&path).unwrap().len();
    let huge = (MAX_FRAME_LEN as u32 + 1).to_be_bytes();

    // At the tail and running past the end of the file: a torn length prefix.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&huge).unwrap();
    f.write_all(b"short").unwrap();
    drop(f);
    let kv = open(&tmp.0);
    assert_eq!(dump(&kv), states[1]);
    assert_eq!(fs::metadata(&path).unwrap().len(), good);
    drop(kv);

    // Followed by more bytes than it claims (a sparse file): corruption.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&huge).unwrap();
    f.set_len(good + 4 + MAX_FRAME_LEN as u64 + 100).unwrap();
    drop(f);
    assert_corrupt_frame(SealedKv::open(&tmp.0, ROOT, MEAS, ID), 1);
}

/// Puts `foreign` (a frame with sequence number 1 or 3 in its own log) into the log of the
/// 3-frame store in `dir` and checks it is refused or cut off, never applied.
fn check_foreign_frames(
    tmp: &TempDir,
    name: &str,
    target: &Path,
    generation: u64,
    foreign: &[Vec<u8>],
) {
    let log = fs::read(log_of(target, generation)).unwrap();
    let frames = split_frames(&log);
    assert_eq!(frames.len(), 3);
    let expected = dump(&open(target));

    // In the middle, at the right sequence number: corruption.
    let dir = tmp.join(&format!("{name}-middle"));
    copy_dir(target, &dir);
    let middle = [&frames[0], &foreign[1], &frames[2]];
    fs::write(
        log_of(&dir, generation),
        middle.map(|f| f.as_slice()).concat(),
    )
    .unwrap();
    assert_corrupt_frame(SealedKv::open(&dir, ROOT, MEAS, ID), 1);

    // Appended at the right sequence number: cut off as a torn tail, never applied.
    let dir = tmp.join(&format!("{name}-tail"));
    copy_dir(target, &dir);
    let mut tail = log.clone();
    tail.extend_from_slice(&foreign[3]);
    fs::write(log_of(&dir, generation), &tail).unwrap();
    let kv = open(&dir);
    assert_eq!(dump(&kv), expected);
    assert_eq!(kv.sequence(), 3);
    assert_eq!(fs::read(log_of(&dir, generation)).unwrap(), log);
}

#[test]
fn frames_from_other_stores_or_generations_are_refused() {
    let tmp = TempDir::new("foreign");
    let target = tmp.join("target");
    store_with_frames(&target, ID, MEAS, 3);

    // Another identity and another measurement, same sealing root.
    for (name, id, meas) in [
        ("identity", &b"identity B"[..], MEAS),
        ("measurement", ID, &b"measurement B"[..]),
    ] {
        let other = tmp.join(name);
        store_with_frames(&other, id, meas, 4);
        let frames = split_frames(&fs::read(log_of(&other, 0)).unwrap());
        check_foreign_frames(&tmp, name, &target, 0, &frames);
    }

    // Another generation of the same store.
    let gens = tmp.join("generations");
    store_with_frames(&gens, ID, MEAS, 4);
    let old = split_frames(&fs::read(log_of(&gens, 0)).unwrap());
    let mut kv = open(&gens);
    kv.compact().unwrap();
    assert_eq!(kv.sequence(), 1);
    put_all(&mut kv, &[(b"x", b"1")]);
    put_all(&mut kv, &[(b"y", b"2")]);
    drop(kv);
    check_foreign_frames(&tmp, "generation", &gens, 1, &old);
}

#[test]
fn manifest_is_bound_to_identity_measurement_and_root() {
    let tmp = TempDir::new("manifest");
    let a = tmp.join("a");
    let b = tmp.join("b");
    store_with_frames(&a, ID, MEAS, 1);
    store_with_frames(&b, b"identity B", MEAS, 1);
    let corrupt = |r: Result<SealedKv, KvError>| matches!(r, Err(KvError::Corrupt { .. }));

    assert!(corrupt(SealedKv::open(&a, ROOT, MEAS, b"identity B")));
    assert!(corrupt(SealedKv::open(&a, ROOT, b"measurement B", ID)));
    assert!(corrupt(SealedKv::open(&a, b"other root", MEAS, ID)));

    // B's manifest in A's directory.
    fs::copy(b.join(MANIFEST), a.join(MANIFEST)).unwrap();
    assert!(corrupt(SealedKv::open(&a, ROOT, MEAS, ID)));
    assert_eq!(file_names(&a), ["kv-0.log", "kv-manifest"]);

    // A missing manifest beside a non-empty log is refused, not reset.
    fs::remove_file(a.join(MANIFEST)).unwrap();
    assert!(corrupt(SealedKv::open(&a, ROOT, MEAS, ID)));
    // A manifest naming a missing log is refused.
    fs::copy(b.join(MANIFEST), a.join(MANIFEST)).unwrap();
    fs::remove_file(log_of(&b, 0)).unwrap();
    assert!(corrupt(SealedKv::open(&b, ROOT, MEAS, b"identity B")));
    // A crash while creating the store (empty log, no manifest) starts afresh.
    let c = tmp.join("c");
    fs::create_dir_all(&c).unwrap();
    fs::write(log_of(&c, 0), b"").unwrap();
    fs::write(c.join(MANIFEST_TMP), b"partial").unwrap();
    assert!(open(&c).is_empty());
    assert_eq!(file_names(&c), ["kv-0.log", "kv-manifest"]);
}

#[test]
fn compaction_keeps_contents_and_erases_deleted_values() {
    let tmp = TempDir::new("compact");
    let mut kv = open(&tmp.0);
    let mut secret = b"ROOT-KEY-SECRET-".to_vec();
    secret.extend((0..16).map(|_| b'a' + rand::rng().random_range(0..26u8)));
    let values: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("visible-value-{i:04}").into_bytes())
        .collect();
    let all_plain: Vec<&[u8]> = values
        .iter()
        .map(Vec::as_slice)
        .chain([secret.as_slice()])
        .collect();
    let no_plaintext_on_disk = || {
        for name in file_names(&tmp.0) {
            let bytes = fs::read(tmp.join(&name)).unwrap();
            for p in &all_plain {
                assert!(!contains(&bytes, p), "plaintext in {name}");
            }
        }
    };

    let mut b = Batch::new();
    b.put(b"keys/root".to_vec(), secret.clone());
    for (i, v) in values.iter().enumerate() {
        b.put(format!("data/{i:04}").into_bytes(), v.clone());
    }
    kv.commit(b).unwrap();
    no_plaintext_on_disk();
    let mut b = Batch::new();
    b.delete(b"keys/root".to_vec())
        .put(b"data/0000".to_vec(), b"changed".to_vec());
    kv.commit(b).unwrap();
    no_plaintext_on_disk();
    assert!(!kv.contains(b"keys/root"));
    // Before compaction the deleted secret is still in the (sealed) log.
    assert!(decrypted_frames(&kv).iter().any(|f| contains(f, &secret)));

    let (root, data_root, contents) = (kv.root(), kv.prefix_root(b"data/"), dump(&kv));
    kv.roots.lock().unwrap().clear();
    kv.compact().unwrap();
    no_plaintext_on_disk();
    assert_eq!(kv.generation(), 1);
    assert_eq!(kv.sequence(), 1);
    assert_eq!(file_names(&tmp.0), ["kv-1.log", "kv-manifest"]);
    assert!(!decrypted_frames(&kv).iter().any(|f| contains(f, &secret)));
    assert!(
        decrypted_frames(&kv)
            .iter()
            .any(|f| contains(f, &values[5]))
    );
    assert_eq!(
        (kv.root(), kv.prefix_root(b"data/"), dump(&kv)),
        (root, data_root, contents.clone())
    );

    // Commits after compaction go to the new generation and everything survives reopen.
    put_all(&mut kv, &[(b"data/new", b"fresh")]);
    drop(kv);
    let mut kv = open(&tmp.0);
    assert_eq!((kv.generation(), kv.sequence()), (1, 2));
    assert_eq!(kv.get(b"data/new"), Some(&b"fresh"[..]));
    kv.compact().unwrap();
    kv.compact().unwrap();
    assert_eq!(file_names(&tmp.0), ["kv-3.log", "kv-manifest"]);
    drop(kv);
    let kv = open(&tmp.0);
    let mut expected = contents;
    expected.push((b"data/new".to_vec(), b"fresh".to_vec()));
    expected.sort();
    assert_eq!(dump(&kv), expected);
    no_plaintext_on_disk();

    // An empty store compacts to an empty log.
    let empty = TempDir::new("compact-empty");
    let mut kv = open(&empty.0);
    kv.compact().unwrap();
    assert_eq!((kv.generation(), kv.sequence(), kv.log_len), (1, 0, 0));
    drop(kv);
    assert!(open(&empty.0).is_empty());
}

#[test]
fn crash_mid_compaction_recovers_and_removes_leftovers() {
    let tmp = TempDir::new("crash-compact");
    let orig = tmp.join("orig");
    store_with_frames(&orig, ID, MEAS, 3);
    let expected = dump(&open(&orig));

    // Crash before the manifest switch: a new-generation log (whole or partial) and a
    // temporary manifest are left behind.
    let compacted = tmp.join("compacted");
    copy_dir(&orig, &compacted);
    let mut kv = open(&compacted);
    kv.compact().unwrap();
    drop(kv);
    for partial in [false, true] {
        let dir = tmp.join(&format!("before-switch-{partial}"));
        copy_dir(&orig, &dir);
        let mut new_log = fs::read(log_of(&compacted, 1)).unwrap();
        if partial {
            new_log.truncate(new_log.len() / 2);
        }
        fs::write(log_of(&dir, 1), new_log).unwrap();
        fs::write(dir.join(MANIFEST_TMP), b"half a manifest").unwrap();
        let mut kv = open(&dir);
        assert_eq!(kv.generation(), 0);
        assert_eq!(dump(&kv), expected);
        assert_eq!(file_names(&dir), ["kv-0.log", "kv-manifest"]);
        // Compacting again reuses generation 1 cleanly.
        kv.compact().unwrap();
        drop(kv);
        let kv = open(&dir);
        assert_eq!((kv.generation(), dump(&kv)), (1, expected.clone()));
    }

    // Crash after the switch but before the old log was deleted.
    let dir = tmp.join("after-switch");
    copy_dir(&compacted, &dir);
    fs::copy(log_of(&orig, 0), log_of(&dir, 0)).unwrap();
    let kv = open(&dir);
    assert_eq!(kv.generation(), 1);
    assert_eq!(dump(&kv), expected);
    assert_eq!(file_names(&dir), ["kv-1.log", "kv-manifest"]);

    // Unrelated files in the directory are left alone.
    fs::write(dir.join("other.sealed"), b"x").unwrap();
    drop(kv);
    let _kv = open(&dir);
    assert_eq!(
        file_names(&dir),
        ["kv-1.log", "kv-manifest", "other.sealed"]
    );
}

#[test]
fn roots_are_canonical_and_scoped() {
    let tmp = TempDir::new("roots");
    let mut a = open(&tmp.join("a"));
    let mut b = open(&tmp.join("b"));
    assert_eq!(a.root(), merkle::empty_root());
    assert_eq!(a.prefix_root(b"x"), merkle::empty_root());

    let pairs: [(&[u8], &[u8]); 5] = [
        (b"acct/1", b"10"),
        (b"acct/2", b"20"),
        (b"code/1", b"wasm"),
        (b"acct/3", b"30"),
        (b"z", b""),
    ];
    put_all(&mut a, &pairs);
    for p in pairs.iter().rev() {
        put_all(&mut b, &[*p]);
    }
    assert_eq!(a.root(), b.root());
    assert_eq!(a.prefix_root(b"acct/"), b.prefix_root(b"acct/"));
    assert_ne!(a.root(), merkle::empty_root());

    // The root is merkle::root over `u32 key length ‖ key ‖ value`, sorted by key.
    let leaves = |kv: &SealedKv, prefix: &[u8]| -> Vec<Vec<u8>> {
        kv.iter_prefix(prefix)
            .map(|(k, v)| [&(k.len() as u32).to_be_bytes()[..], k, v].concat())
            .collect()
    };
    assert_eq!(a.root(), merkle::root(&leaves(&a, b"")));
    assert_eq!(a.prefix_root(b"acct/"), merkle::root(&leaves(&a, b"acct/")));
    assert_eq!(leaves(&a, b"acct/").len(), 3);

    // Any value change changes the root and the roots of prefixes covering it, only those.
    let (root, acct, code) = (a.root(), a.prefix_root(b"acct/"), a.prefix_root(b"code/"));
    put_all(&mut a, &[(b"acct/2", b"21")]);
    assert_ne!(a.root(), root);
    assert_ne!(a.prefix_root(b"acct/"), acct);
    assert_eq!(a.prefix_root(b"code/"), code);
    put_all(&mut a, &[(b"acct/2", b"20")]);
    assert_eq!((a.root(), a.prefix_root(b"acct/")), (root, acct));
    // A commit invalidates only the cached roots of prefixes it touches.
    put_all(&mut a, &[(b"code/1", b"wasm2")]);
    {
        let cache = a.roots.lock().unwrap();
        assert!(cache.contains_key(&b"acct/"[..]));
        assert!(!cache.contains_key(&b"code/"[..]) && !cache.contains_key(&b""[..]));
    }
    assert_ne!(a.prefix_root(b"code/"), code);
    assert_eq!(a.prefix_root(b"acct/"), acct);

    // Cached roots match a freshly computed one, also after reopen.
    let cached = (a.root(), a.prefix_root(b"acct/"));
    a.roots.lock().unwrap().clear();
    assert_eq!((a.root(), a.prefix_root(b"acct/")), cached);
    drop(a);
    let a = open(&tmp.join("a"));
    assert_eq!((a.root(), a.prefix_root(b"acct/")), cached);

    // Deleting back to empty gives the empty root; key/value boundaries are unambiguous.
    let mut c = open(&tmp.join("c"));
    put_all(&mut c, &[(b"ab", b"c")]);
    let mut d = open(&tmp.join("d"));
    put_all(&mut d, &[(b"a", b"bc")]);
    assert_ne!(c.root(), d.root());
    let mut del = Batch::new();
    del.delete(b"ab".to_vec());
    c.commit(del).unwrap();
    assert_eq!(c.root(), merkle::empty_root());
}

#[test]
fn scale_smoke_and_bounded_log_growth() {
    let tmp = TempDir::new("scale");
    let mut kv = open(&tmp.0);
    let mut rng = rand::rng();
    let mut spot = Vec::new();
    let mut logical = 0u64;
    let dir_size = || -> u64 {
        file_names(&tmp.0)
            .iter()
            .map(|n| fs::metadata(tmp.join(n)).unwrap().len())
            .sum()
    };
    for pass in 0..3u32 {
        for batch in 0..50u32 {
            let mut b = Batch::new();
            for j in 0..1000u32 {
                let i = batch * 1000 + j;
                let mut v = vec![0u8; 390 + (i % 20) as usize];
                rng.fill_bytes(&mut v);
                if i % 997 == 0 {
                    spot.retain(|(k, _): &(u32, Vec<u8>)| *k != i);
                    spot.push((i, v.clone()));
                }
                b.put(format!("acct/{i:08}").into_bytes(), v);
            }
            let before = kv.log_len;
            let generation = kv.generation();
            kv.commit(b).unwrap();
            if kv.generation() == generation {
                logical += kv.log_len - before;
            }
            // After every commit the log is within the compaction threshold.
            assert!(kv.log_len <= COMPACT_MIN_LOG.max(2 * kv.live_bytes));
            assert!(dir_size() <= kv.log_len + 1024);
        }
        if pass == 0 {
            // Insert only: about one byte written per live byte.
            assert!(
                kv.bytes_written < 3 * kv.live_bytes,
                "{} vs {}",
                kv.bytes_written,
                kv.live_bytes
            );
            assert_eq!(kv.generation(), 0);
        }
    }
    assert_eq!(kv.len(), 50_000);
    assert!(kv.live_bytes > 19_000_000);
    assert!(
        kv.generation() >= 1,
        "overwrites must have triggered compaction"
    );
    // Compaction at most doubles what commits wrote.
    assert!(
        kv.bytes_written < 3 * logical,
        "{} vs {logical}",
        kv.bytes_written
    );
    let root = kv.root();
    drop(kv);

    let kv = open(&tmp.0);
    assert_eq!(kv.len(), 50_000);
    for (i, v) in &spot {
        assert_eq!(
            kv.get(format!("acct/{i:08}").as_bytes()),
            Some(v.as_slice())
        );
    }
    assert_eq!(kv.root(), root);
    assert_eq!(file_names(&tmp.0).len(), 2);
}

fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(any::<u8>(), 0..400),
        // Plausible length prefixes followed by noise.
        (0u32..200, proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(len, rest)| [
            &len.to_be_bytes()[..],
            &rest
        ]
        .concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn garbage_files_never_panic(
        manifest in proptest::option::of(garbage()),
        logs in proptest::collection::vec((0u64..3, garbage()), 0..3),
    ) {
        let tmp = TempDir::new("garbage");
        fs::create_dir_all(&tmp.0).unwrap();
        if let Some(m) = &manifest {
            fs::write(tmp.join(MANIFEST), m).unwrap();
        }
        for (g, bytes) in &logs {
            fs::write(log_of(&tmp.0, *g), bytes).unwrap();
        }
        // Nothing here is authentic, so at best the store opens empty.
        if let Ok(kv) = SealedKv::open(&tmp.0, ROOT, MEAS, ID) {
            prop_assert!(kv.is_empty());
        }
    }

    #[test]
    fn damaged_logs_open_to_a_committed_state_or_fail(
        offset in 0usize..4096,
        damage in garbage(),
        mode in 0u8..3,
    ) {
        let tmp = TempDir::new("damage");
        let states = store_with_frames(&tmp.0, ID, MEAS, 3);
        let path = log_of(&tmp.0, 0);
        let mut log = fs::read(&path).unwrap();
        let at = offset % (log.len() + 1);
        match mode {
            0 => log.extend_from_slice(&damage),
            1 => log.truncate(at),
            _ => {
                for (i, b) in damage.iter().enumerate() {
                    if let Some(x) = log.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
        }
        fs::write(&path, &log).unwrap();
        match SealedKv::open(&tmp.0, ROOT, MEAS, ID) {
            Ok(kv) => prop_assert!(states.contains(&dump(&kv))),
            Err(e) => {
                prop_assert!(mode != 1, "a truncated log must open: {e}");
                prop_assert!(matches!(e, KvError::CorruptFrame { .. }), "{e}");
            }
        }
    }
}
