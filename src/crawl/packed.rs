//! A walk's finished pages, kept compressed until the walk ends (issue 20).
//!
//! A walk holds every service's facts and fetch record until its last page is read, because
//! duplicate codes and site-wide signals are judged over the whole portal. As structs that was
//! ~4 KB a page, ~8 MB for a 2,000-service portal, and with 16 walks in flight it was the
//! largest part of a national run's peak memory. [`Packed`] keeps them as JSON lines
//! compressed with zstd a block at a time: a block holds a few dozen pages, so what repeats
//! from page to page (field names, the agency, URL prefixes, labels, evidence texts)
//! compresses away. They are decoded once, in the order they were pushed, when the walk ends.

use std::cell::RefCell;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// JSON bytes gathered before they are compressed as one block.
const BLOCK: usize = 64 * 1024;
/// The open block's allocation: a block ends with the line that passes [`BLOCK`].
const OPEN_CAPACITY: usize = BLOCK + BLOCK / 4;
/// zstd level 1: the fastest of the normal levels; the repetition between pages, not the
/// level, is what shrinks a block.
const LEVEL: i32 = 1;

/// Items pushed to a [`Packed`] that could not be read back: a bug, never the input's fault
/// (the bytes are ours, encoded from the same type).
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("a block of packed pages could not be decompressed: {0}")]
    Decompress(std::io::Error),
    #[error("a packed page could not be decoded: {0}")]
    Decode(serde_json::Error),
}

/// One compressed block, or an item kept as it is (one whose encoding failed).
enum Chunk<T> {
    Frame {
        bytes: Box<[u8]>,
        raw_len: usize,
        items: usize,
    },
    Raw(T),
}

/// An append-only sequence of `T`, compressed in blocks; read back once, in order.
pub struct Packed<T> {
    chunks: Vec<Chunk<T>>,
    /// JSON lines not compressed yet (at most about [`BLOCK`] bytes).
    open: Vec<u8>,
    open_items: usize,
    len: usize,
    _item: PhantomData<fn(T) -> T>,
}

impl<T> Default for Packed<T> {
    fn default() -> Self {
        Packed {
            chunks: Vec::new(),
            open: Vec::new(),
            open_items: 0,
            len: 0,
            _item: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Packed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packed")
            .field("len", &self.len)
            .field("bytes", &self.bytes())
            .finish()
    }
}

/// What [`Packed::unpack`] could read back.
#[derive(Debug)]
pub struct Unpacked<T> {
    pub items: Vec<T>,
    /// Items lost to `error` (0 when there is none).
    pub lost: usize,
    /// The first block that could not be read back, if any.
    pub error: Option<PackError>,
}

thread_local! {
    /// One compression context per thread, reused for every block.
    static COMPRESSOR: RefCell<Option<zstd::bulk::Compressor<'static>>> =
        RefCell::new(compressor());
}

/// A block carries a checksum: one damaged in memory is an error when read back, never
/// other facts.
fn compressor() -> Option<zstd::bulk::Compressor<'static>> {
    let mut c = zstd::bulk::Compressor::new(LEVEL).ok()?;
    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
        .ok()?;
    Some(c)
}

fn compress(raw: &[u8]) -> Option<Box<[u8]>> {
    COMPRESSOR
        .with(|c| {
            let mut c = c.try_borrow_mut().ok()?;
            c.as_mut()?.compress(raw).ok()
        })
        .map(Vec::into_boxed_slice)
}

impl<T> Packed<T> {
    /// Items pushed so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held for the items' contents (compressed blocks and the open block).
    pub fn bytes(&self) -> usize {
        self.open.capacity()
            + self
                .chunks
                .iter()
                .map(|c| match c {
                    Chunk::Frame { bytes, .. } => bytes.len(),
                    Chunk::Raw(_) => std::mem::size_of::<T>(),
                })
                .sum::<usize>()
    }
}

impl<T: Serialize + DeserializeOwned> Packed<T> {
    pub fn push(&mut self, item: T) {
        self.len += 1;
        if self.open.capacity() == 0 {
            self.open.reserve(OPEN_CAPACITY);
        }
        let mark = self.open.len();
        if serde_json::to_writer(&mut self.open, &item).is_err() {
            // Cannot happen for plain data; if it ever did, the item is kept as it is.
            self.open.truncate(mark);
            self.flush();
            self.chunks.push(Chunk::Raw(item));
            return;
        }
        self.open.push(b'\n');
        self.open_items += 1;
        if self.open.len() >= BLOCK {
            self.flush();
        }
    }

    /// Compress the open block (kept as it is, still readable, if compression failed).
    fn flush(&mut self) {
        if self.open_items == 0 {
            return;
        }
        let raw = std::mem::replace(&mut self.open, Vec::with_capacity(OPEN_CAPACITY));
        let (bytes, raw_len) = match compress(&raw) {
            Some(frame) => (frame, raw.len()),
            // 0: the block is stored as it is.
            None => (raw.into_boxed_slice(), 0),
        };
        self.chunks.push(Chunk::Frame {
            bytes,
            raw_len,
            items: std::mem::take(&mut self.open_items),
        });
    }

    /// Every item, in the order pushed. A block that cannot be read back (a bug) loses its
    /// items, counted in `lost`; the others are still returned.
    pub fn unpack(mut self) -> Unpacked<T> {
        self.flush();
        let mut out = Unpacked {
            items: Vec::with_capacity(self.len),
            lost: 0,
            error: None,
        };
        let mut decompressor = zstd::bulk::Decompressor::new().ok();
        for chunk in self.chunks {
            match chunk {
                Chunk::Raw(item) => out.items.push(item),
                Chunk::Frame {
                    bytes,
                    raw_len,
                    items,
                } => {
                    let raw = if raw_len == 0 {
                        Ok(bytes.into_vec())
                    } else {
                        match decompressor.as_mut() {
                            Some(d) => d.decompress(&bytes, raw_len),
                            None => zstd::bulk::decompress(&bytes, raw_len),
                        }
                    };
                    let decoded = raw.map_err(PackError::Decompress).and_then(|raw| {
                        serde_json::Deserializer::from_slice(&raw)
                            .into_iter::<T>()
                            .collect::<Result<Vec<T>, _>>()
                            .map_err(PackError::Decode)
                    });
                    match decoded {
                        Ok(v) if v.len() == items => out.items.extend(v),
                        Ok(v) => {
                            out.lost += items.saturating_sub(v.len());
                            out.items.extend(v);
                        }
                        Err(e) => {
                            out.lost += items;
                            out.error.get_or_insert(e);
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Evidence, ServiceFacts};

    fn service(i: usize) -> ServiceFacts {
        ServiceFacts {
            agency_id: "hanoi".into(),
            code: format!("1.{i:06}"),
            name: format!("Thủ tục cấp giấy phép số {i}"),
            url: format!("https://dichvucong.hanoi.gov.vn/thu-tuc/{i}"),
            evidence: vec![Evidence {
                kind: "label_value".into(),
                field: "level".into(),
                excerpt: "Mức độ: Toàn trình".into(),
                ..Evidence::default()
            }],
            ..ServiceFacts::default()
        }
    }

    #[test]
    fn items_come_back_in_order_and_smaller() {
        let items: Vec<ServiceFacts> = (0..3000).map(service).collect();
        let mut packed = Packed::default();
        for s in &items {
            packed.push(s.clone());
        }
        assert_eq!(packed.len(), items.len());
        let json: usize = items
            .iter()
            .map(|s| serde_json::to_vec(s).map_or(0, |v| v.len()))
            .sum();
        // Several blocks, and far less than the JSON alone.
        assert!(packed.chunks.len() > 2, "{} blocks", packed.chunks.len());
        assert!(packed.bytes() * 4 < json, "{} of {json}", packed.bytes());
        let back = packed.unpack();
        assert_eq!(back.lost, 0);
        assert!(back.error.is_none());
        assert_eq!(back.items, items);
    }

    #[test]
    fn empty_and_single() {
        let packed: Packed<ServiceFacts> = Packed::default();
        assert!(packed.is_empty());
        assert!(packed.unpack().items.is_empty());
        let mut packed = Packed::default();
        packed.push(service(7));
        assert_eq!(packed.unpack().items, vec![service(7)]);
    }

    #[test]
    fn a_damaged_block_is_counted_not_hidden() {
        let mut packed = Packed::default();
        for i in 0..2000 {
            packed.push(service(i));
        }
        packed.flush();
        let Some(Chunk::Frame { bytes, items, .. }) = packed.chunks.first_mut() else {
            panic!("no block");
        };
        let lost = *items;
        bytes[bytes.len() / 2] ^= 0xff;
        bytes[bytes.len() / 3] ^= 0xff;
        let back = packed.unpack();
        assert!(back.error.is_some());
        assert_eq!(back.lost, lost);
        assert_eq!(back.items.len(), 2000 - lost);
        assert_eq!(back.items.last(), Some(&service(1999)));
    }
}
