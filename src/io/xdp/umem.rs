//! The UMEM's memory: one anonymous, page-aligned mapping of `frames` × [`FRAME`]
//! bytes, owned by one port and unmapped on drop.
//!
//! The kernel pins these pages when the area is registered (`XDP_UMEM_REG`) and reads
//! and writes frames that user space has handed to it (through the fill and tx rings).
//! Which frames user space owns at a given moment is the port's bookkeeping; the frame
//! accessors here are `unsafe` because only that bookkeeping can promise it.
#![allow(unsafe_code)]

use std::io;
use std::marker::PhantomData;
use std::ptr::NonNull;

use xdpilone::{Umem, UmemConfig};

use super::XdpError;
use crate::io::MAX_FRAME;

/// Bytes per UMEM frame (a chunk in the kernel's words).
pub(super) const FRAME: usize = MAX_FRAME;

/// The frames' memory.
pub(super) struct UmemArea {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the area is plain memory owned by this value alone (like a Box<[u8]>); no
// thread-local state is attached to it. Moving it to another thread moves the only
// user-space handle to it.
unsafe impl Send for UmemArea {}

impl UmemArea {
    /// Map `frames` frames of zeroed memory.
    pub(super) fn new(frames: u32) -> Result<UmemArea, XdpError> {
        let len = (frames as usize)
            .checked_mul(FRAME)
            .filter(|&len| len > 0 && len <= isize::MAX as usize)
            .ok_or_else(|| XdpError::Config(format!("{frames} frames do not fit in memory")))?;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // aliases nothing; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(XdpError::socket(
                "map the UMEM area",
                io::Error::last_os_error(),
            ));
        }
        let Some(base) = NonNull::new(ptr.cast::<u8>()) else {
            return Err(XdpError::socket(
                "map the UMEM area",
                io::Error::from_raw_os_error(libc::ENOMEM),
            ));
        };
        let area = UmemArea { base, len };
        // Keep the frames out of forked children (the kernel pins them for DMA-like
        // access; a child has no business with them). Failure only loses that nicety.
        // SAFETY: the range is exactly the mapping made above.
        let _ = unsafe { libc::madvise(ptr, len, libc::MADV_DONTFORK) };
        Ok(area)
    }

    /// Register the area with a new AF_XDP socket (`XDP_UMEM_REG`).
    pub(super) fn register(&self, config: UmemConfig) -> Result<Umem, XdpError> {
        let area = NonNull::slice_from_raw_parts(self.base, self.len);
        // SAFETY: the area is a page-aligned mapping of `len` bytes (mmap returns page
        // aligned addresses) that lives as long as `self`. The port that owns `self`
        // drops its sockets and rings (declared before the area) first, and the kernel
        // holds its own pin on the pages for as long as the socket lives.
        unsafe { Umem::new(config, area) }
            .map_err(|errno| XdpError::socket_errno("register the UMEM", &errno))
    }

    /// The area as two views that cannot overlap: the receive frames, below
    /// `boundary` (octets from the start), to read, and the transmit frames, from
    /// `boundary` on, to write. Both live as long as the borrow of the area, so a
    /// received frame can be read while a reply is built into a transmit frame.
    pub(super) fn split(&mut self, boundary: usize) -> (RxArea<'_>, TxArea<'_>) {
        let boundary = boundary.min(self.len);
        (
            RxArea {
                base: self.base,
                end: boundary,
                _area: PhantomData,
            },
            TxArea {
                base: self.base,
                start: boundary,
                end: self.len,
                _area: PhantomData,
            },
        )
    }
}

/// The receive frames of a [`UmemArea`] (`0..end`), to read ([`UmemArea::split`]).
pub(super) struct RxArea<'a> {
    base: NonNull<u8>,
    end: usize,
    _area: PhantomData<&'a UmemArea>,
}

impl RxArea<'_> {
    /// Bytes `offset..offset + len`, if they lie inside the receive frames.
    ///
    /// # Safety
    ///
    /// User space must own the frame holding these bytes (the kernel returned it on the
    /// rx ring and it has not been given back) for as long as the slice lives.
    pub(super) unsafe fn bytes(&self, offset: u64, len: u32) -> Option<&[u8]> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(len as usize)?;
        if end > self.end {
            return None;
        }
        // SAFETY: start..end lies inside the mapping's receive part (checked above),
        // which is initialised memory that no TxArea of the same split reaches (it
        // starts at `self.end` or later); the caller promises the kernel does not
        // write it while the shared borrow lives.
        Some(unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(start), end - start) })
    }
}

/// The transmit frames of a [`UmemArea`] (`start..end`), to write
/// ([`UmemArea::split`]).
pub(super) struct TxArea<'a> {
    base: NonNull<u8>,
    start: usize,
    end: usize,
    _area: PhantomData<&'a mut UmemArea>,
}

impl TxArea<'_> {
    /// The whole frame that starts at `offset`, if it is one of the transmit frames.
    ///
    /// # Safety
    ///
    /// User space must own the frame (it is on the port's free stack: never given to
    /// the kernel, or returned on the completion ring) for as long as the slice lives.
    pub(super) unsafe fn frame_mut(&mut self, offset: u64) -> Option<&mut [u8]> {
        let start = usize::try_from(offset).ok()?;
        if start % FRAME != 0 || start < self.start || start.checked_add(FRAME)? > self.end {
            return None;
        }
        // SAFETY: the frame lies inside the mapping's transmit part (checked above),
        // which no RxArea of the same split reaches (it ends at `self.start` or
        // earlier); `&mut self` excludes other borrows made through this view (and
        // the split's borrow of the area, any made through the area); the caller
        // promises the kernel does not touch the frame while the borrow lives.
        Some(unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(start), FRAME) })
    }
}

impl Drop for UmemArea {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`; no borrow of it outlives `self`.
        // Should a socket still hold the pages, the kernel's pin keeps them alive.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.len);
        }
    }
}
