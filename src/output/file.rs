//! The file `-o PATH` names, written so that nothing the user had is lost.
//!
//! Why: a result or report file is written under a temporary name and renamed into place
//! when complete, so a failed or cancelled run leaves the previous file. Renaming is right
//! for a regular file only: `-o /dev/stdout` or a named pipe must be written into, not
//! replaced by a regular file; a symbolic link (a report path kept in a dotfile folder) must
//! stay a link to the new content; an existing file keeps its permissions (a 0644 report
//! does not become 0600, the temporary file's mode).
//!
//! | `-o PATH` is | written |
//! |---|---|
//! | missing | a temporary file beside it (mode 0666 less the umask), renamed into place |
//! | a regular file | the same, the temporary file given the file's permissions first |
//! | a symbolic link | as its target (followed, even dangling), the link kept |
//! | a device, pipe or socket | opened and written into directly, never replaced |

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{IoContext, Result};

/// Symbolic links followed at most, as the kernel does (`ELOOP` past 40).
const MAX_LINKS: usize = 40;

/// An output file being written.
pub enum OutFile {
    /// A regular file: a temporary file in its directory, deleted when dropped unless
    /// committed.
    Atomic {
        /// The temporary file.
        temp: NamedTempFile,
        /// The path it is renamed to.
        path: PathBuf,
    },
    /// A device, pipe or socket, written into.
    Direct {
        /// The opened file.
        file: File,
        /// Its path.
        path: PathBuf,
    },
}

impl OutFile {
    /// Starts writing `path` (see the module's table).
    pub fn create(path: &Path) -> Result<OutFile> {
        let path = resolve(path)?;
        let existing = match fs::metadata(&path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e).ctx("inspect", &path),
        };
        if let Some(m) = &existing {
            let t = m.file_type();
            if t.is_char_device() || t.is_block_device() || t.is_fifo() || t.is_socket() {
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .ctx("open", &path)?;
                return Ok(OutFile::Direct { file, path });
            }
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .ctx("create a file in", dir)?;
        if let Some(m) = existing {
            let mode = Permissions::from_mode(m.permissions().mode() & 0o7777);
            fs::set_permissions(temp.path(), mode).ctx("set the mode of", temp.path())?;
        }
        Ok(OutFile::Atomic { temp, path })
    }

    /// The path being written (a link's target).
    pub fn path(&self) -> &Path {
        match self {
            OutFile::Atomic { path, .. } | OutFile::Direct { path, .. } => path,
        }
    }

    /// A handle to write the content through.
    pub fn writer(&self) -> Result<File> {
        match self {
            OutFile::Atomic { temp, .. } => temp.reopen().ctx("open", temp.path()),
            OutFile::Direct { file, path } => file.try_clone().ctx("open", path),
        }
    }

    /// Finishes: a regular file is synced and renamed into place.
    pub fn commit(self) -> Result<()> {
        match self {
            OutFile::Atomic { temp, path } => {
                temp.as_file().sync_all().ctx("sync", temp.path())?;
                temp.persist(&path)
                    .map_err(|e| e.error)
                    .ctx("rename into place", &path)?;
                Ok(())
            }
            OutFile::Direct { .. } => Ok(()),
        }
    }
}

/// `path` with every symbolic link of its last component followed (a dangling link gives
/// the path it points to).
fn resolve(path: &Path) -> Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&path).ctx("read the link", &path)?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(std::io::Error::other(format!(
        "more than {MAX_LINKS} symbolic links (a loop)"
    )))
    .ctx("follow the links of", &path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(path: &Path, text: &str) {
        let f = OutFile::create(path).unwrap();
        f.writer().unwrap().write_all(text.as_bytes()).unwrap();
        f.commit().unwrap();
    }

    #[test]
    fn an_existing_file_keeps_its_mode_and_a_new_one_gets_the_umasks() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("report.csv");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, Permissions::from_mode(0o640)).unwrap();
        write(&p, "new");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let fresh = d.path().join("fresh.csv");
        write(&fresh, "x");
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_ne!(mode, 0o600, "not the temporary file's own mode");
        assert_eq!(mode & 0o600, 0o600);
    }

    #[test]
    fn a_link_stays_a_link_to_the_new_content_and_a_device_is_written_into() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("real.json");
        std::fs::write(&target, "old").unwrap();
        let link = d.path().join("latest.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write(&link, "new");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // A dangling link: its target is created.
        let dangling = d.path().join("next.json");
        std::os::unix::fs::symlink("made.json", &dangling).unwrap();
        write(&dangling, "made");
        assert_eq!(
            std::fs::read_to_string(d.path().join("made.json")).unwrap(),
            "made"
        );
        // A link loop: an error, not a hang.
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::os::unix::fs::symlink("b", &a).unwrap();
        std::os::unix::fs::symlink("a", &b).unwrap();
        assert!(OutFile::create(&a).is_err());
        // /dev/null stays a device.
        write(Path::new("/dev/null"), "discarded");
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}
