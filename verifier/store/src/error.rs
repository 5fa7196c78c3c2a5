//! [`StoreError`]: every way the store can fail, each message naming the file and saying what a
//! person can do about it.

use std::path::PathBuf;

/// Every failure of the store. Each message names the store's file; none is ever a panic.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file could not be opened or created, or is not an SQLite database.
    #[error(
        "cannot open the store {}: {source}; check the directory exists and is writable and \
         that the file is an SQLite database",
        path.display()
    )]
    Open {
        /// The store's file.
        path: PathBuf,
        /// SQLite's reason.
        source: rusqlite::Error,
    },

    /// The file opened, but cannot be used as a store as this build requires.
    #[error("cannot open the store {}: {reason}", path.display())]
    Unusable {
        /// The store's file.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },

    /// A read-only open of a file that does not exist.
    #[error(
        "the store {} does not exist; run the validator service (`verifier run`) once to \
         create it, or pass the path of the existing store",
        path.display()
    )]
    Missing {
        /// The path that was asked for.
        path: PathBuf,
    },

    /// The file is an SQLite database, but not one this store wrote.
    #[error(
        "the file {} is not a gpuproof validator store ({reason}); pass the path of the \
         store, or move the file away",
        path.display()
    )]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },

    /// The file was written by a newer version of this program; it is left untouched.
    #[error(
        "the store {} was written by a newer version (schema {found} > {supported} \
         supported); run the newer binary, or point this one at another file",
        path.display()
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// The newest schema this binary knows.
        supported: u32,
    },

    /// A read-only open found an older schema (a read-only open never migrates).
    #[error(
        "the store {} has schema {found}, older than the schema {supported} this binary \
         reads; start the validator service (`verifier run`) once to migrate it",
        path.display()
    )]
    TooOld {
        /// The file.
        path: PathBuf,
        /// Its schema version.
        found: u32,
        /// The schema this binary reads.
        supported: u32,
    },

    /// A migration failed; its transaction was rolled back, so the file is still at `from`.
    #[error(
        "migrating the store {} from schema {from} to {to} failed: {source}; the file was \
         left at schema {from} (check the disk has space and the file is writable)",
        path.display()
    )]
    Migrate {
        /// The file.
        path: PathBuf,
        /// The schema it is still at.
        from: u32,
        /// The schema the failed migration would have reached.
        to: u32,
        /// SQLite's reason.
        source: rusqlite::Error,
    },

    /// A query or write failed (the store is unchanged by a failed write: each is one
    /// transaction).
    #[error("store {}: {context} failed: {source}{}", path.display(), hint(source))]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// What was being done.
        context: String,
        /// SQLite's reason.
        source: rusqlite::Error,
    },

    /// A round that the store has no record of.
    #[error(
        "store {}: round {round_id} does not exist (rounds are opened with `open_round`)",
        path.display()
    )]
    NoSuchRound {
        /// The file.
        path: PathBuf,
        /// The round asked for.
        round_id: i64,
    },

    /// A record the caller built that the store refuses to write (a bug in the caller: nothing
    /// was written).
    #[error("store {}: refusing to record {what}: {reason}", path.display())]
    InvalidRecord {
        /// The file.
        path: PathBuf,
        /// What was being recorded.
        what: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A stored value this version cannot read back (the file was edited by hand, or damaged).
    #[error(
        "store {}: {table}.{column} of row {row} cannot be read: {reason}; the file was edited \
         by hand or is damaged (see `PRAGMA integrity_check`)",
        path.display()
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The row's id.
        row: i64,
        /// Why it cannot be read.
        reason: String,
    },
}

/// A hint for the SQLite failures a person can act on.
fn hint(source: &rusqlite::Error) -> &'static str {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            " (another process held the store's lock for more than 5 s: is a second validator \
             service using this file?)"
        }
        Some(rusqlite::ErrorCode::ReadOnly) => {
            " (the store was opened read-only, or the file or its directory is not writable)"
        }
        Some(rusqlite::ErrorCode::DiskFull) => " (the disk is full)",
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::SystemIoFailure) => {
            " (check the file and its directory are readable and writable)"
        }
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            " (the file is damaged; see `PRAGMA integrity_check`)"
        }
        _ => "",
    }
}
