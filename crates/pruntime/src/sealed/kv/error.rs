//! Why the store could not be opened or changed.

use std::{
    io,
    path::{Path, PathBuf},
};

use super::codec::{MAX_FRAME_LEN, MAX_KEY_LEN, MAX_VALUE_LEN};

/// Why the store could not be opened or changed.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// A filesystem operation failed.
    #[error("cannot {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A log frame that is not the last one is corrupt or was tampered with.
    #[error("{path}: frame {frame} at byte {offset} is corrupt or tampered with: {reason}")]
    CorruptFrame {
        /// The log file.
        path: PathBuf,
        /// Sequence number of the frame.
        frame: u64,
        /// Byte offset of its length prefix.
        offset: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// The manifest is corrupt, from another store, code or identity, or the files it names
    /// are missing.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key in the batch is longer than [MAX_KEY_LEN].
    #[error("key of {len} bytes exceeds the {MAX_KEY_LEN}-byte limit")]
    KeyTooLong {
        /// Its length.
        len: usize,
    },
    /// A value in the batch is longer than [MAX_VALUE_LEN].
    #[error("value of {len} bytes exceeds the {MAX_VALUE_LEN}-byte limit")]
    ValueTooLong {
        /// Its length.
        len: usize,
    },
    /// The sealed batch would exceed [MAX_FRAME_LEN]; split it.
    #[error("batch of {len} sealed bytes exceeds the {MAX_FRAME_LEN}-byte frame limit")]
    BatchTooLarge {
        /// Its sealed length.
        len: usize,
    },
    /// An earlier failure left the files in an unknown state; reopen the store.
    #[error("an earlier write failure left the store's files in an unknown state; reopen it")]
    Poisoned,
}

pub(super) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> KvError {
    let path = path.to_path_buf();
    move |source| KvError::Io { op, path, source }
}
