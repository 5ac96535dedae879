//! Direct writes (`O_DIRECT`) for downloads of 1 MiB and more: the bytes go from our buffer to
//! the disk, not through the page cache.
//!
//! Why: a download is only done when its file is durable (the commit's sync), so every byte must
//! reach the disk before the job ends anyway. Through the page cache that costs a copy into
//! freshly allocated page-cache pages, their writeback, and the allocator's work to find them —
//! on this project's 2-core benchmark machine, writing 2 GiB through the page cache and
//! syncing it took 2.7–4.5 CPU seconds of kernel time (`dd bs=1M conv=fdatasync`), the same
//! with `O_DIRECT` 0.26 s, and the direct write finished first (1.3–1.6 s against 3.8–5.6 s).
//! The same holds for many 1 MiB files, once the blocks sit on huge pages ([`Region`]): 1000 ×
//! 1 MiB used 19 % less CPU written direct than through the page cache (docs/benchmarks.md).
//! What it gives up: the file is not in the page cache afterwards, so a reader right after the
//! download reads it from the disk (that is what happens after the next reboot anyway, and it
//! leaves the user's other cached files where they were). Files under 1 MiB keep the page cache.
//!
//! The rules `O_DIRECT` imposes: the buffer's address, the file offset and the length must be
//! multiples of the device's block size. [`ALIGN`] (4 KiB) covers 512-byte and 4 KiB devices;
//! [`Block`] is a buffer aligned to it. Only a file's last few bytes (its size is rarely a
//! multiple of 4 KiB) go through the ordinary handle.
//!
//! Only on local disk filesystems known to do it well: ext4 and XFS ([`DIRECT_FILESYSTEMS`]).
//! On a network filesystem (NFS, SMB, FUSE mounts of object stores) every direct write is a
//! synchronous round trip with no write-behind, and on copy-on-write ones (btrfs, ZFS) direct
//! I/O has had its own caveats; those keep the page cache. A filesystem that refuses
//! `O_DIRECT` at open (or at the first write, `EINVAL`) is written through the page cache too.

use rustix::fs::{Mode, OFlags};
use std::fs::File;
use std::sync::{Arc, Mutex};

/// Alignment of offsets, lengths and buffer addresses for direct writes.
pub const ALIGN: usize = 4096;

/// Bytes a range collects before one direct write. 1 MiB: at queue depth one, `dd` writes
/// 1.3–1.6 GB/s with 1 MiB blocks here (4 MiB gains little, and each in-flight range holds one).
pub const BLOCK: usize = 1 << 20;

/// Memory for two blocks: 2 MiB at an address that is a multiple of 2 MiB, so that the kernel
/// can back it with one transparent huge page (asked for with `MADV_HUGEPAGE`, which Linux's
/// default THP mode, "madvise", honours).
///
/// Why: an `O_DIRECT` write pins every page of its buffer for the device; with 4 KiB pages
/// that is 256 pins per block — ~7 % of a 2 GiB download's CPU in `gup_fast_fallback` — with
/// a huge page it is one, and the copy into the block misses the TLB less. Measured on a 2 GiB
/// download (perf, 2 runs each): the process's CPU samples fell by ~20 % against blocks from
/// the heap (docs/benchmarks.md, "Direct-write blocks on huge pages"). Where the mapping
/// fails, or the kernel gives no huge page, the block is ordinary memory and works the same.
struct Region {
    base: *mut u8,
    /// `None`: `base` starts our own mapping of [`REGION`] bytes (unmapped on drop); `Some`:
    /// the heap allocation that holds the region when mapping failed.
    heap: Option<Vec<u8>>,
}

/// Two blocks.
const REGION: usize = 2 * BLOCK;

// SAFETY: a region is plain memory owned by this value; any thread may use and free it.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Region {
    fn new() -> Region {
        Region::mapped().unwrap_or_else(|| {
            let mut heap = vec![0u8; REGION + ALIGN];
            let at = heap.as_ptr().align_offset(ALIGN);
            Region { base: heap[at..].as_mut_ptr(), heap: Some(heap) }
        })
    }

    /// A fresh anonymous mapping of twice [`REGION`], trimmed to the [`REGION`] bytes that start
    /// at a multiple of [`REGION`] (where a huge page can sit).
    #[cfg(target_os = "linux")]
    fn mapped() -> Option<Region> {
        let len = 2 * REGION;
        // SAFETY: a new private anonymous mapping touches no existing memory; the two munmaps
        // remove only the parts of it outside the aligned window, which nothing refers to.
        unsafe {
            let map = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
            if map == libc::MAP_FAILED {
                return None;
            }
            let start = map as usize;
            let base = start.next_multiple_of(REGION);
            if base > start {
                libc::munmap(map, base - start);
            }
            libc::munmap((base + REGION) as *mut libc::c_void, start + len - base - REGION);
            // Advice only: refused (THP off, an old kernel), the pages are ordinary ones.
            libc::madvise(base as *mut libc::c_void, REGION, libc::MADV_HUGEPAGE);
            Some(Region { base: base as *mut u8, heap: None })
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn mapped() -> Option<Region> {
        None
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if self.heap.is_none() {
            // SAFETY: `base` is the start of our own REGION-byte mapping (see `mapped`), and no
            // block refers to it any more (each holds the region's `Arc`).
            unsafe { libc::munmap(self.base as *mut libc::c_void, REGION) };
        }
    }
}

/// A [`BLOCK`]-byte buffer whose start is [`ALIGN`]-aligned, filled from the front: one half of
/// a [`Region`], taken from a file's [`Blocks`].
pub struct Block {
    /// Held, not read: keeps the region's memory alive while this block uses it.
    _region: Arc<Region>,
    /// The first byte of this block's half of the region.
    start: *mut u8,
    len: usize,
}

// SAFETY: a block is the only user of its half of the region ([`Blocks::take`] makes each half
// into one block), and the region lives as long as its blocks.
unsafe impl Send for Block {}

impl Block {
    fn in_region(region: Arc<Region>, half: usize) -> Block {
        // SAFETY: `half` is 0 or 1, so the window lies inside the region's REGION bytes.
        let start = unsafe { region.base.add(half * BLOCK) };
        Block { _region: region, start, len: 0 }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether it is full.
    pub fn is_full(&self) -> bool {
        self.len == BLOCK
    }

    /// Copies as much of `data` as fits; returns how much that was.
    pub fn fill(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(BLOCK - self.len);
        // SAFETY: this block's window — BLOCK bytes at `start` inside the live region — is used by
        // no one else, and `&mut self` makes this the only borrow of it.
        let window = unsafe { std::slice::from_raw_parts_mut(self.start, BLOCK) };
        window[self.len..self.len + n].copy_from_slice(&data[..n]);
        self.len += n;
        n
    }

    /// The bytes held (aligned at their start).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: as in `fill`; the first `len` bytes have been written.
        unsafe { std::slice::from_raw_parts(self.start, self.len) }
    }

    /// Empties it.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Whether two blocks share a region (for tests).
    #[cfg(test)]
    fn shares_region_with(&self, other: &Block) -> bool {
        Arc::ptr_eq(&self._region, &other._region)
    }
}

/// The blocks of one transfer job's direct writers. A new region makes two blocks — one for the
/// writer that asked, one kept for the next — and a writer that ends gives its block back for
/// the next to reuse, so a job holds about one block per GET in flight (rounded up to a region),
/// all freed with the job.
#[derive(Default)]
pub struct Blocks {
    spare: Mutex<Vec<Block>>,
}

impl Blocks {
    /// A block, empty.
    pub fn take(&self) -> Block {
        let mut spare = self.spare.lock().unwrap_or_else(|p| p.into_inner());
        spare.pop().unwrap_or_else(|| {
            let region = Arc::new(Region::new());
            spare.push(Block::in_region(region.clone(), 1));
            Block::in_region(region, 0)
        })
    }

    /// Keeps `block` for the next [`Self::take`].
    pub fn give_back(&self, mut block: Block) {
        block.clear();
        self.spare.lock().unwrap_or_else(|p| p.into_inner()).push(block);
    }
}

/// Filesystems written direct (`statfs` magic numbers): ext4 (also ext2/3) and XFS.
pub const DIRECT_FILESYSTEMS: [u64; 2] = [0xEF53, 0x5846_5342];

/// Opens a second, direct handle on the file `name` in folder `dir` that `same_as` already has
/// open, or `None` where the filesystem is not one of [`DIRECT_FILESYSTEMS`] or refuses direct
/// I/O. It is checked to be the same file (device and inode), so a name swapped in the meantime
/// is never written through.
pub fn open(dir: &impl std::os::fd::AsFd, name: &std::ffi::OsStr, same_as: &File) -> Option<File> {
    let kind = rustix::fs::fstatfs(same_as).ok()?.f_type as u64;
    if !DIRECT_FILESYSTEMS.contains(&kind) {
        return None;
    }
    let flags = OFlags::WRONLY | OFlags::DIRECT | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = rustix::fs::openat(dir, name, flags, Mode::empty()).ok()?;
    let (a, b) = (rustix::fs::fstat(&fd).ok()?, rustix::fs::fstat(same_as).ok()?);
    (a.st_dev == b.st_dev && a.st_ino == b.st_ino).then(|| File::from(fd))
}

/// Writes `data` at `offset` (both aligned, `data` from an aligned buffer) through the direct
/// handle `direct`, except a last piece shorter than [`ALIGN`], which goes through the ordinary
/// handle `buffered`. `Err(EINVAL)` from the first direct write means the device wants a larger
/// alignment: the caller falls back to buffered writes.
pub fn write_at(direct: &File, buffered: &File, offset: u64, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let aligned = data.len() / ALIGN * ALIGN;
    if aligned > 0 {
        direct.write_all_at(&data[..aligned], offset)?;
    }
    if aligned < data.len() {
        super::write_in_pieces(buffered, offset + aligned as u64, [&data[aligned..]])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_aligned_and_fill_up_to_their_size() {
        let mut b = Blocks::default().take();
        assert_eq!(b.bytes().as_ptr() as usize % ALIGN, 0);
        let data = vec![7u8; BLOCK + 10];
        assert_eq!(b.fill(&data[..100]), 100);
        assert_eq!(b.fill(&data), BLOCK - 100);
        assert!(b.is_full());
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn a_region_makes_two_separate_blocks_and_a_block_given_back_is_reused_empty() {
        let blocks = Blocks::default();
        let (mut a, mut b) = (blocks.take(), blocks.take());
        assert!(a.shares_region_with(&b));
        a.fill(&vec![1u8; BLOCK]);
        b.fill(&vec![2u8; BLOCK]);
        assert!(a.bytes().iter().all(|&x| x == 1) && b.bytes().iter().all(|&x| x == 2));
        let at = a.bytes().as_ptr();
        blocks.give_back(a);
        let c = blocks.take();
        assert_eq!((c.bytes().as_ptr(), c.len()), (at, 0));
        let d = blocks.take();
        assert!(!d.shares_region_with(&c));
        assert_eq!(d.bytes().as_ptr() as usize % ALIGN, 0);
    }

    #[test]
    fn a_direct_write_with_an_unaligned_tail_lands_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let buffered = File::options().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        let folder = rustix::fs::openat(rustix::fs::CWD, dir.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        // Not on ext4/XFS (a tmpfs /tmp): then there is nothing to test here.
        let Some(direct) = open(&folder, std::ffi::OsStr::new("f"), &buffered) else { return };
        let mut b = Blocks::default().take();
        let data: Vec<u8> = (0..(ALIGN * 3 + 123)).map(|i| (i % 251) as u8).collect();
        b.fill(&data);
        write_at(&direct, &buffered, ALIGN as u64, b.bytes()).unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), ALIGN + data.len());
        assert_eq!(&got[ALIGN..], &data[..]);
    }

    #[test]
    fn another_file_at_the_name_is_not_opened() {
        let dir = tempfile::tempdir().unwrap();
        let a = File::create(dir.path().join("a")).unwrap();
        File::create(dir.path().join("b")).unwrap();
        let folder = rustix::fs::openat(rustix::fs::CWD, dir.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        assert!(open(&folder, std::ffi::OsStr::new("b"), &a).is_none());
    }
}
