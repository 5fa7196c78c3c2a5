//! Man pages for both binaries, from their clap definitions: one page for the program and one
//! per subcommand (`verifier-run.1`), as `clap_mangen` renders them.

use std::path::{Path, PathBuf};

/// Why the man pages could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ManPageError {
    /// The directory or a page could not be written.
    #[error("cannot write {path}: {source}; check the directory exists and is writable")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Writes `<name>.1` for `command` and `<name>-<sub>.1` for each (visible) subcommand into
/// `dir` (created if missing); returns the paths written.
pub fn write_man_pages(command: clap::Command, dir: &Path) -> Result<Vec<PathBuf>, ManPageError> {
    std::fs::create_dir_all(dir).map_err(|source| ManPageError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let command = command.disable_help_subcommand(true);
    let name = command.get_name().to_string();
    let mut pages = vec![(name.clone(), command.clone())];
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let page = format!("{name}-{}", sub.get_name());
        pages.push((page.clone(), sub.clone().name(page)));
    }
    let mut written = Vec::with_capacity(pages.len());
    for (page, cmd) in pages {
        let path = dir.join(format!("{page}.1"));
        let mut bytes = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut bytes)
            .map_err(|source| ManPageError::Write {
                path: path.clone(),
                source,
            })?;
        std::fs::write(&path, bytes).map_err(|source| ManPageError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}
