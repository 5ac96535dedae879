//! Writing downloads into the destination folder so that nothing can redirect or tear them.
//!
//! Both engines write every download the same way:
//!
//! 1. [`DestDir::open`] reaches the file's folder from the job's destination root one component
//!    at a time, each `openat(O_DIRECTORY | O_NOFOLLOW)` relative to the previous handle
//!    (creating missing folders with `mkdirat`). A symlink anywhere below the root — planted
//!    before the job or swapped in during it — fails the open instead of being followed.
//! 2. [`DestDir::create_temp`] creates a temp file `.<16 hex>.trainctl-part` in that folder with
//!    `O_CREAT | O_EXCL | O_NOFOLLOW`: the name is unique per writer (two processes, two jobs, or
//!    `Model.pt`/`model.pt` on a case-insensitive disk never share one), a planted file or link
//!    at the name makes the create fail rather than be reused, and the name is short whatever
//!    the target's length (a 255-byte file name still gets a valid temp name).
//! 3. The engine writes and verifies through the handle, then hands the temp file to the job's
//!    [`Committer`] ([`batch`]): its size is checked on the handle (`fstat`), the batch it joins
//!    is made durable with one `syncfs` (the native engine starts each file's writeback block by
//!    block as it writes, [`start_writeback`], so little is left to wait for), and only then is
//!    it renamed (`renameat`) onto the final name under an exclusive `flock` of the folder
//!    handle. After a crash the folder holds the old file or the complete new one (its data was
//!    on disk before the rename). [`TempFile::commit`] does the same for one file alone
//!    (`fdatasync`).
//! 4. At the end of the job every folder written into is fsynced once ([`Folders::sync_all`]),
//!    so the renames are durable when the job reports them done. (Once per folder rather than
//!    once per file: on ext4 each folder fsync is a journal commit, and a thousand of them cost
//!    seconds on a download of a thousand small files.)
//!
//! The lock serialises commits into one folder across processes (`flock` on the folder's own
//! handle, so no lock file is left in the user's folder). It is held only for the rename: the
//! bytes are written into private temp files, so parallel downloads into one folder stay
//! parallel; two writers of one name each commit a complete, verified file and the last rename
//! wins — never a torn one.
//!
//! A [`TempFile`] that is dropped without being committed (failure, cancellation, a dropped
//! future) removes itself, through the folder handle.

use crate::error::{Error, Result};
use crate::transfer::WriteIf;
use rustix::fs::{AtFlags, FlockOperation, Mode, OFlags, CWD};
use rustix::io::Errno;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

mod batch;
pub mod direct;
pub use batch::{Committer, BATCH_FILES};

/// Suffix of every temp file trainctl writes (the prefix is `.` and 16 random hex digits).
pub const TEMP_SUFFIX: &str = ".trainctl-part";

/// A folder under a download's destination root, held open by a handle reached without
/// following links.
#[derive(Debug)]
pub struct DestDir {
    fd: OwnedFd,
    path: PathBuf,
    /// The filesystem it is on (`st_dev`): a batch commit syncs each filesystem once.
    dev: u64,
    /// Whether it is on one of [`QUICK_FILESYSTEMS`].
    quick: bool,
}

/// Filesystems (`statfs` magic numbers) where a write into the page cache is a memory copy that
/// does not wait on a network or a user-space daemon: ext2/3/4, XFS, btrfs, F2FS and tmpfs.
/// There a download writes each received chunk on the task that received it, while its bytes
/// are still in the core's cache (`transfer::native::download`); anywhere else (NFS, SMB, FUSE,
/// or a filesystem not listed) every write goes to a blocking thread, so a slow mount cannot
/// stall the async workers that carry every connection.
pub const QUICK_FILESYSTEMS: [u64; 5] = [0xEF53, 0x5846_5342, 0x9123_683E, 0xF2F5_2010, 0x0102_1994];

impl DestDir {
    /// Opens `dir` (which must lie under `root`), creating missing folders. `root` itself is
    /// the user's choice and is created and opened as given (it may be a link); below it no
    /// link is followed: a symlinked folder is [`Error::UnsafeKey`], a file in the way
    /// [`Error::LocalKind`].
    pub fn open(root: &Path, dir: &Path) -> Result<DestDir> {
        let rel = dir.strip_prefix(root).map_err(|_| Error::UnsafeKey { key: dir.display().to_string(), reason: "path is outside the destination".into() })?;
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut fd = rustix::fs::openat(CWD, root, flags, Mode::empty()).map_err(|e| io(root, e))?;
        let mut path = root.to_path_buf();
        for comp in rel.components() {
            let Component::Normal(name) = comp else {
                return Err(Error::UnsafeKey { key: dir.display().to_string(), reason: "path has a component that is not a plain name".into() });
            };
            path.push(name);
            match rustix::fs::mkdirat(&fd, name, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io(&path, e)),
            }
            fd = match rustix::fs::openat(&fd, name, flags | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(next) => next,
                Err(Errno::LOOP | Errno::NOTDIR) => return Err(not_a_folder(&fd, name, &path)),
                Err(e) => return Err(io(&path, e)),
            };
        }
        let dev = rustix::fs::fstat(&fd).map_err(|e| io(&path, e))?.st_dev as u64;
        let quick = rustix::fs::fstatfs(&fd).is_ok_and(|st| QUICK_FILESYSTEMS.contains(&(st.f_type as u64)));
        Ok(DestDir { fd, path, dev, quick })
    }

    /// The folder's path (for messages; operations go through the handle).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a new, empty temp file with a unique name (see the module documentation).
    pub fn create_temp(self: &Arc<Self>) -> Result<TempFile> {
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for _ in 0..16 {
            let name = format!(".{:016x}{TEMP_SUFFIX}", fastrand::u64(..));
            match rustix::fs::openat(&self.fd, name.as_str(), flags, Mode::from_raw_mode(0o666)) {
                Ok(fd) => return Ok(TempFile { dir: self.clone(), name: name.into(), file: Arc::new(File::from(fd)), armed: true }),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(io(&self.path.join(name), e)),
            }
        }
        Err(Error::Internal(format!("no free temp file name in {}", self.path.display())))
    }

    /// Removes `name` from this folder (through the handle), ignoring "already gone".
    pub fn remove_quietly(&self, name: &OsStr) {
        let _ = rustix::fs::unlinkat(&self.fd, name, AtFlags::empty());
    }

    /// Names in this folder that start with `prefix` (read through the handle).
    pub fn names_starting_with(&self, prefix: &OsStr) -> Vec<OsString> {
        let Ok(dir) = rustix::fs::Dir::read_from(&self.fd) else { return Vec::new() };
        let prefix = prefix.as_encoded_bytes();
        dir.filter_map(|e| e.ok())
            .map(|e| OsString::from(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(e.file_name().to_bytes())))
            .filter(|n| n.as_encoded_bytes().starts_with(prefix))
            .collect()
    }
}

/// Why `name` could not be opened as a folder: a symlink (refused) or something else in the way.
fn not_a_folder(parent: &OwnedFd, name: &OsStr, path: &Path) -> Error {
    let is_link = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink);
    if is_link {
        Error::UnsafeKey { key: path.display().to_string(), reason: format!("{} is a symlink; refusing to write through it", path.display()) }
    } else {
        Error::LocalKind { path: path.to_path_buf(), expected: "directory (a file is in the way)" }
    }
}

fn io(path: &Path, e: Errno) -> Error {
    Error::io(path, std::io::Error::from(e))
}

/// The folders one job writes into, each opened once ([`DestDir::open`]) and fsynced once at
/// the end ([`Folders::sync_all`]).
#[derive(Debug, Default)]
pub struct Folders {
    open: std::sync::Mutex<std::collections::HashMap<PathBuf, Arc<DestDir>>>,
}

impl Folders {
    /// The handle of `dir` under `root`, opened on first use (see [`DestDir::open`]).
    pub fn open(&self, root: &Path, dir: &Path) -> Result<Arc<DestDir>> {
        if let Some(d) = self.open.lock().unwrap_or_else(|p| p.into_inner()).get(dir) {
            return Ok(d.clone());
        }
        let d = Arc::new(DestDir::open(root, dir)?);
        self.open.lock().unwrap_or_else(|p| p.into_inner()).insert(dir.to_path_buf(), d.clone());
        Ok(d)
    }

    /// Fsyncs every folder opened, so the renames into them are durable. Blocking.
    pub fn sync_all(&self) -> Result<()> {
        let dirs: Vec<Arc<DestDir>> = self.open.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        for d in dirs {
            rustix::fs::fsync(&d.fd).map_err(|e| io(&d.path, e))?;
        }
        Ok(())
    }

    /// [`sync_all`](Self::sync_all) on a blocking thread.
    pub async fn sync_all_async(self: &Arc<Self>) -> Result<()> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.sync_all()).await.map_err(|e| Error::Internal(format!("sync task: {e}")))?
    }
}

/// A private temp file in a [`DestDir`]; removed on drop unless committed.
#[derive(Debug)]
pub struct TempFile {
    dir: Arc<DestDir>,
    name: OsString,
    file: Arc<File>,
    armed: bool,
}

impl TempFile {
    /// The folder it is in.
    pub fn dir(&self) -> &Arc<DestDir> {
        &self.dir
    }

    /// The open handle: write and read through it.
    pub fn file(&self) -> &Arc<File> {
        &self.file
    }

    /// The temp file's name in its folder.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// A second handle on it for direct writes ([`direct`]), or `None` where the filesystem
    /// does not do direct I/O.
    pub fn open_direct(&self) -> Option<File> {
        direct::open(&self.dir.fd, &self.name, &self.file)
    }

    /// Whether writes into it through the page cache are quick enough to make on an async
    /// task ([`QUICK_FILESYSTEMS`]).
    pub fn writes_are_quick(&self) -> bool {
        self.dir.quick
    }

    /// Its path, for a child process that writes it (s5cmd) and for messages.
    pub fn path(&self) -> PathBuf {
        self.dir.path.join(&self.name)
    }

    /// Re-opens the name through the folder handle without following links, after another
    /// process (s5cmd) replaced the file at it: from then on the new file is what is verified
    /// and committed.
    pub fn reopen(&mut self) -> Result<()> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.dir.fd, self.name.as_os_str(), flags, Mode::empty()).map_err(|e| io(&self.path(), e))?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| Error::io(self.path(), e))?;
        if !meta.is_file() {
            return Err(Error::LocalKind { path: self.path(), expected: "regular file" });
        }
        self.file = Arc::new(file);
        Ok(())
    }

    /// Makes the temp file `final_name` in its folder on its own: `fdatasync`, size check on the
    /// handle, then `renameat` under the folder lock (the engines commit many files at once
    /// through a [`Committer`] instead, one sync per batch). The folder itself is fsynced once
    /// per job ([`Folders::sync_all`]), not once per file. Blocking (call it on a blocking
    /// thread). On error the temp file is removed.
    ///
    /// `fdatasync` rather than `fsync`: it flushes the data and the metadata needed to read it
    /// back (the size), which is what "complete after a crash" needs, without also forcing the
    /// timestamps out — one journal write less per file.
    pub fn commit(self, final_name: &OsStr, expected_size: u64) -> Result<()> {
        self.commit_if(final_name, expected_size, None)
    }

    /// [`commit`](TempFile::commit), and only if the destination name is still what `write_if`
    /// says (checked under the folder lock right before the rename; `Absent` renames with
    /// `RENAME_NOREPLACE` where the filesystem has it, so nothing can slip in between). A
    /// destination that changed is [`Error::LocalChanged`] and is left as it is.
    pub fn commit_if(self, final_name: &OsStr, expected_size: u64, write_if: Option<&WriteIf>) -> Result<()> {
        let shown = self.dir.path.join(final_name);
        self.file.sync_data().map_err(|e| Error::io(&shown, e))?;
        self.check_size(final_name, expected_size)?;
        let lock = FolderLock::acquire(&self.dir)?;
        self.rename_locked(final_name, write_if, &lock)
    }

    /// Whether the file on the handle has `expected_size` bytes ([`Error::Integrity`] if not).
    fn check_size(&self, final_name: &OsStr, expected_size: u64) -> Result<()> {
        let shown = self.dir.path.join(final_name);
        let actual = self.file.metadata().map_err(|e| Error::io(&shown, e))?.len();
        if actual != expected_size {
            let detail = format!("{actual} bytes on disk, object has {expected_size}");
            return Err(Error::Integrity { what: shown.display().to_string(), detail });
        }
        Ok(())
    }

    /// Renames it onto `final_name` (if `write_if` still holds) while `lock` — this folder's
    /// lock — is held. The caller has made the data durable first.
    fn rename_locked(mut self, final_name: &OsStr, write_if: Option<&WriteIf>, _lock: &FolderLock) -> Result<()> {
        let shown = self.dir.path.join(final_name);
        match write_if {
            None => rustix::fs::renameat(&self.dir.fd, self.name.as_os_str(), &self.dir.fd, final_name).map_err(|e| io(&shown, e))?,
            Some(cond) => self.rename_if(final_name, cond, &shown)?,
        }
        self.armed = false;
        Ok(())
    }

    /// The rename of [`commit_if`](TempFile::commit_if), under the folder lock.
    fn rename_if(&self, final_name: &OsStr, cond: &WriteIf, shown: &Path) -> Result<()> {
        let changed = || Error::LocalChanged { path: shown.to_path_buf() };
        let now = rustix::fs::statat(&self.dir.fd, final_name, AtFlags::SYMLINK_NOFOLLOW);
        match (cond, now) {
            (WriteIf::Absent, Err(Errno::NOENT)) => {
                match rustix::fs::renameat_with(&self.dir.fd, self.name.as_os_str(), &self.dir.fd, final_name, rustix::fs::RenameFlags::NOREPLACE) {
                    Ok(()) => Ok(()),
                    Err(Errno::EXIST) => Err(changed()),
                    // A filesystem without RENAME_NOREPLACE: the check above under the lock.
                    Err(Errno::INVAL | Errno::NOSYS) => rustix::fs::renameat(&self.dir.fd, self.name.as_os_str(), &self.dir.fd, final_name).map_err(|e| io(shown, e)),
                    Err(e) => Err(io(shown, e)),
                }
            }
            (WriteIf::FileIs { size, mtime_ns, ino }, Ok(st)) => {
                let st_mtime_ns = st.st_mtime * 1_000_000_000 + st.st_mtime_nsec as i64;
                let is_file = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile;
                if !(is_file && st.st_size as u64 == *size && st_mtime_ns == *mtime_ns && st.st_ino == *ino) {
                    return Err(changed());
                }
                rustix::fs::renameat(&self.dir.fd, self.name.as_os_str(), &self.dir.fd, final_name).map_err(|e| io(shown, e))
            }
            (_, Err(e)) if e != Errno::NOENT => Err(io(shown, e)),
            _ => Err(changed()),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            self.dir.remove_quietly(&self.name);
        }
    }
}

/// The largest single write into a file being written from the network. Why not more: ext4
/// sizes page-cache folios by the write (order 8 for 1 MiB), and on memory that has been up a
/// while (fragmented) each large folio runs direct compaction, migrating pages to make room —
/// 26 % of a 2 GiB download's CPU in one profile, where s5cmd, writing 32 KiB at a time, spent
/// none. 32 KiB is order 3, the largest order the page allocator treats as cheap.
pub const WRITE_PIECE: usize = 32 * 1024;

/// Writes `data` back to back into `file` from `offset`, [`WRITE_PIECE`] bytes per `pwrite` at
/// most (for writers that place their bytes by offset; [`SmallWrites`] is the same rule for a
/// sequential writer).
pub fn write_in_pieces<'a>(file: &File, mut offset: u64, data: impl IntoIterator<Item = &'a [u8]>) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    for piece in data.into_iter().flat_map(|d| d.chunks(WRITE_PIECE)) {
        file.write_all_at(piece, offset)?;
        offset += piece.len() as u64;
    }
    Ok(())
}

/// A writer that hands its inner writer at most [`WRITE_PIECE`] bytes per call (under a
/// `BufWriter`, whose large flushes would otherwise be single large writes).
pub struct SmallWrites<W>(pub W);

impl<W: std::io::Write> std::io::Write for SmallWrites<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(&buf[..buf.len().min(WRITE_PIECE)])
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to disk now, without
/// waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`). Downloads call it after each block they
/// write: the disk then works while the network does, and the `fdatasync` of [`TempFile::commit`]
/// only waits for the last blocks — instead of for the whole file, which on a 2 GiB checkpoint
/// is seconds of disk writes after the last byte arrived. Durability still comes from the
/// commit's `fdatasync`; this is only a hint, so errors are ignored (and it is a no-op outside
/// Linux).
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: sync_file_range(2) on a file descriptor we own, with plain integer arguments;
        // it does not touch memory.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset as libc::off64_t, len as libc::off64_t, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// An exclusive `flock` on a folder, through a handle of its own (a lock belongs to an open
/// file description, so each commit opens one: two jobs of one process exclude each other too).
struct FolderLock(OwnedFd);

impl FolderLock {
    fn acquire(dir: &DestDir) -> Result<FolderLock> {
        Self::acquire_raw(dir).map_err(|e| io(&dir.path, e))
    }

    fn acquire_raw(dir: &DestDir) -> rustix::io::Result<FolderLock> {
        let fd = rustix::fs::openat(&dir.fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        rustix::fs::flock(&fd, FlockOperation::LockExclusive)?;
        Ok(FolderLock(fd))
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        let _ = rustix::fs::flock(&self.0, FlockOperation::Unlock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn pieces_are_written_back_to_back_from_the_offset() {
        let dir = tempfile::tempdir().unwrap();
        let file = File::options().read(true).write(true).create(true).truncate(true).open(dir.path().join("f")).unwrap();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
        // Uneven parts, one larger than a piece, one empty.
        let parts: [&[u8]; 4] = [&data[..10], &[], &data[10..150_000], &data[150_000..]];
        write_in_pieces(&file, 7, parts).unwrap();
        let got = std::fs::read(dir.path().join("f")).unwrap();
        assert_eq!(got.len(), 7 + data.len());
        assert_eq!(&got[7..], &data[..]);
    }

    #[test]
    fn small_writes_hand_on_at_most_a_piece_per_call() {
        /// Records the size of every write it is given.
        struct Sizes(Vec<usize>, Vec<u8>);
        impl std::io::Write for Sizes {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.push(b.len());
                self.1.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
        let mut sink = Sizes(Vec::new(), Vec::new());
        {
            let mut w = std::io::BufWriter::with_capacity(1 << 20, SmallWrites(&mut sink));
            std::io::Write::write_all(&mut w, &data).unwrap();
            std::io::Write::flush(&mut w).unwrap();
        }
        assert_eq!(sink.1, data);
        assert!(sink.0.iter().all(|n| *n <= WRITE_PIECE), "{:?}", sink.0);
    }

    #[test]
    fn commit_renames_a_complete_temp_file_and_leaves_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let dir = Arc::new(DestDir::open(root.path(), &root.path().join("a/b")).unwrap());
        let temp = dir.create_temp().unwrap();
        assert!(temp.name().to_string_lossy().len() < 40, "short temp names: {:?}", temp.name());
        temp.file().write_all_at(b"hello", 0).unwrap();
        let long = "n".repeat(255);
        temp.commit(OsStr::new(&long), 5).unwrap();
        let names: Vec<_> = std::fs::read_dir(root.path().join("a/b")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![OsString::from(&long)]);
        assert_eq!(std::fs::read(root.path().join("a/b").join(&long)).unwrap(), b"hello");
    }

    #[test]
    fn a_short_file_is_not_committed_and_a_dropped_temp_removes_itself() {
        let root = tempfile::tempdir().unwrap();
        let dir = Arc::new(DestDir::open(root.path(), root.path()).unwrap());
        let temp = dir.create_temp().unwrap();
        temp.file().write_all_at(b"abc", 0).unwrap();
        assert!(matches!(temp.commit(OsStr::new("x"), 4), Err(Error::Integrity { .. })));
        drop(dir.create_temp().unwrap());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn symlinked_folders_below_the_root_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("link")).unwrap();
        let err = DestDir::open(root.path(), &root.path().join("link/sub")).unwrap_err();
        assert!(matches!(err, Error::UnsafeKey { .. }), "{err:?}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing created through the link");
        std::fs::write(root.path().join("file"), b"").unwrap();
        assert!(matches!(DestDir::open(root.path(), &root.path().join("file/sub")), Err(Error::LocalKind { .. })));
    }
}
