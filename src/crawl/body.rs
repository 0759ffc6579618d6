//! Response bodies: bounded decompression and character decoding.
//!
//! reqwest's transparent decompression is turned off so the crawler can count bytes on the wire
//! and cap the **decompressed** size while streaming (a 10 kB gzip bomb never becomes 10 GB in
//! memory). Decoders are write-based so each network chunk is fed as it arrives.

use std::io::Write;

use encoding_rs::Encoding;

/// The decompressed body grew past the cap.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("body larger than {0} bytes")]
    TooLarge(u64),
    #[error("cannot decode {encoding} content: {message}")]
    Decode { encoding: String, message: String },
}

/// A `Write` sink that refuses to grow past `cap` bytes.
struct CappedVec {
    buf: Vec<u8>,
    cap: usize,
    overflow: bool,
}

impl Write for CappedVec {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.cap {
            self.overflow = true;
            return Err(std::io::Error::other("body cap reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Inner {
    Identity(CappedVec),
    Gzip(Box<flate2::write::MultiGzDecoder<CappedVec>>),
    Deflate(Box<flate2::write::ZlibDecoder<CappedVec>>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<CappedVec>>),
}

/// Streaming, capped decompressor for one response body.
pub struct BodySink {
    inner: Inner,
    encoding: String,
    cap: u64,
    wire_bytes: u64,
}

impl BodySink {
    /// `content_encoding` is the response's `Content-Encoding` (empty for identity).
    pub fn new(content_encoding: &str, cap: u64) -> Self {
        let sink = CappedVec {
            buf: Vec::new(),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            overflow: false,
        };
        let enc = content_encoding.trim().to_ascii_lowercase();
        let inner = match enc.as_str() {
            "gzip" | "x-gzip" => Inner::Gzip(Box::new(flate2::write::MultiGzDecoder::new(sink))),
            "deflate" => Inner::Deflate(Box::new(flate2::write::ZlibDecoder::new(sink))),
            "br" => Inner::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
                sink, 4096,
            ))),
            _ => Inner::Identity(sink),
        };
        BodySink {
            inner,
            encoding: enc,
            cap,
            wire_bytes: 0,
        }
    }

    pub fn wire_bytes(&self) -> u64 {
        self.wire_bytes
    }

    /// Reserve room for `len` decompressed bytes up front (bounded by the cap), so an identity
    /// body of known `Content-Length` is read into one allocation instead of a doubling series.
    pub fn reserve(&mut self, len: u64) {
        let room = usize::try_from(len.min(self.cap)).unwrap_or(0);
        let buf = match &mut self.inner {
            Inner::Identity(s) => &mut s.buf,
            Inner::Gzip(d) => &mut d.get_mut().buf,
            Inner::Deflate(d) => &mut d.get_mut().buf,
            Inner::Brotli(d) => &mut d.get_mut().buf,
        };
        buf.reserve(room.saturating_sub(buf.len()));
    }

    fn sink(&self) -> &CappedVec {
        match &self.inner {
            Inner::Identity(s) => s,
            Inner::Gzip(d) => d.get_ref(),
            Inner::Deflate(d) => d.get_ref(),
            Inner::Brotli(d) => d.get_ref(),
        }
    }

    /// Feed one chunk as received from the network.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        self.wire_bytes += chunk.len() as u64;
        let res = match &mut self.inner {
            Inner::Identity(s) => s.write_all(chunk),
            Inner::Gzip(d) => d.write_all(chunk),
            Inner::Deflate(d) => d.write_all(chunk),
            Inner::Brotli(d) => d.write_all(chunk),
        };
        self.check(res)
    }

    fn check(&self, res: std::io::Result<()>) -> Result<(), BodyError> {
        match res {
            Ok(()) => Ok(()),
            Err(_) if self.sink().overflow => Err(BodyError::TooLarge(self.cap)),
            Err(e) => Err(BodyError::Decode {
                encoding: self.encoding.clone(),
                message: e.to_string(),
            }),
        }
    }

    /// Finish the stream and return the decompressed bytes.
    pub fn finish(self) -> Result<Vec<u8>, BodyError> {
        let encoding = self.encoding.clone();
        let cap = self.cap;
        let map = |e: std::io::Error, overflow: bool| {
            if overflow {
                BodyError::TooLarge(cap)
            } else {
                BodyError::Decode {
                    encoding: encoding.clone(),
                    message: e.to_string(),
                }
            }
        };
        match self.inner {
            Inner::Identity(s) => Ok(s.buf),
            Inner::Gzip(d) => d.finish().map(|s| s.buf).map_err(|e| map(e, false)),
            Inner::Deflate(d) => d.finish().map(|s| s.buf).map_err(|e| map(e, false)),
            Inner::Brotli(d) => match d.into_inner() {
                Ok(s) => Ok(s.buf),
                Err(s) => Err(map(
                    std::io::Error::other("truncated brotli stream"),
                    s.overflow,
                )),
            },
        }
    }
}

/// How the text of a page was decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    /// Encoding name as encoding_rs spells it (`UTF-8`, `windows-1258`, ...).
    pub encoding: String,
    /// Where the encoding came from: `header`, `bom`, `meta`, `detected`, `default`.
    pub source: &'static str,
    /// Malformed sequences were replaced with U+FFFD.
    pub had_errors: bool,
}

/// Decode a body: BOM, then the HTTP header's charset, then `<meta charset>` in the first
/// 1024 bytes, then statistical detection (chardetng, tuned with the `.vn` TLD), then UTF-8.
pub fn decode_text(bytes: &[u8], content_type: &str, tld: Option<&[u8]>) -> Decoded {
    if let Some((enc, _)) = Encoding::for_bom(bytes) {
        return finish(enc, bytes, "bom");
    }
    if let Some(enc) = charset_param(content_type).and_then(|l| Encoding::for_label(l.as_bytes())) {
        return finish(enc, bytes, "header");
    }
    if let Some(enc) = meta_charset(bytes) {
        return finish(enc, bytes, "meta");
    }
    if std::str::from_utf8(bytes).is_ok() {
        return finish(encoding_rs::UTF_8, bytes, "default");
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(bytes, true);
    let enc = det.guess(tld, true);
    finish(enc, bytes, "detected")
}

/// [`decode_text`] taking the body by value: a UTF-8 body (the common case) becomes the text
/// without a copy, validated once; anything else is decoded exactly as `decode_text` does.
pub fn decode_text_owned(bytes: Vec<u8>, content_type: &str, tld: Option<&[u8]>) -> Decoded {
    if Encoding::for_bom(&bytes).is_some() {
        return decode_text(&bytes, content_type, tld);
    }
    let (enc, source) =
        match charset_param(content_type).and_then(|l| Encoding::for_label(l.as_bytes())) {
            Some(enc) => (Some(enc), "header"),
            None => match meta_charset(&bytes) {
                Some(enc) => (Some(enc), "meta"),
                None => (None, "default"),
            },
        };
    if enc.is_none_or(|e| e == encoding_rs::UTF_8) {
        match String::from_utf8(bytes) {
            Ok(text) => {
                return Decoded {
                    text,
                    encoding: encoding_rs::UTF_8.name().to_string(),
                    source,
                    had_errors: false,
                };
            }
            // Invalid UTF-8: the slow path decides (replacement characters or detection).
            Err(e) => return decode_text(e.as_bytes(), content_type, tld),
        }
    }
    decode_text(&bytes, content_type, tld)
}

fn finish(enc: &'static Encoding, bytes: &[u8], source: &'static str) -> Decoded {
    let (text, used, had_errors) = enc.decode(bytes);
    Decoded {
        text: text.into_owned(),
        encoding: used.name().to_string(),
        source,
        had_errors,
    }
}

/// The `charset=` parameter of a Content-Type header.
pub fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').trim_matches('\''))
    })
}

/// `<meta charset="...">` or `<meta http-equiv="Content-Type" content="...; charset=...">`
/// within the first 1024 bytes (the HTML prescan window), found without a full parse.
fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(1024)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut from = 0;
    while let Some(pos) = find(&lower[from..], b"charset") {
        let start = from + pos + b"charset".len();
        let rest = &lower[start..];
        let rest = rest.strip_prefix(b"=").or_else(|| {
            let trimmed = trim_ascii_start(rest);
            trimmed.strip_prefix(b"=")
        });
        if let Some(rest) = rest {
            let rest = trim_ascii_start(rest);
            let rest = rest
                .strip_prefix(b"\"")
                .or_else(|| rest.strip_prefix(b"'"))
                .unwrap_or(rest);
            let end = rest
                .iter()
                .position(|b| matches!(b, b'"' | b'\'' | b';' | b' ' | b'>' | b'/'))
                .unwrap_or(rest.len());
            if let Some(enc) = Encoding::for_label(&rest[..end]) {
                // A page that says UTF-16 in ASCII is lying; the standard maps it to UTF-8.
                if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
                    return Some(encoding_rs::UTF_8);
                }
                return Some(enc);
            }
        }
        from = start;
    }
    None
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_capped_on_decompressed_size() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b'a'; 1_000_000]).expect("write");
        let gz = enc.finish().expect("finish");
        assert!(gz.len() < 10_000);
        let mut sink = BodySink::new("gzip", 100_000);
        let res = gz.chunks(512).try_for_each(|c| sink.push(c));
        assert!(matches!(res, Err(BodyError::TooLarge(100_000))));

        let mut sink = BodySink::new("gzip", 2_000_000);
        for c in gz.chunks(512) {
            sink.push(c).expect("push");
        }
        assert_eq!(sink.wire_bytes(), gz.len() as u64);
        assert_eq!(sink.finish().expect("finish").len(), 1_000_000);
    }

    #[test]
    fn garbage_gzip_is_a_decode_error_not_a_panic() {
        let mut sink = BodySink::new("gzip", 1000);
        let r = sink
            .push(b"definitely not gzip")
            .and_then(|_| sink.finish().map(|_| ()));
        assert!(matches!(r, Err(BodyError::Decode { .. })), "{r:?}");
    }

    #[test]
    fn identity_cap() {
        let mut sink = BodySink::new("", 10);
        assert!(sink.push(b"12345").is_ok());
        assert!(matches!(sink.push(b"123456"), Err(BodyError::TooLarge(10))));
    }

    #[test]
    fn charset_from_header_then_meta_then_detection() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1258.encode("Thủ tục đăng ký");
        let d = decode_text(&bytes, "text/html; charset=windows-1258", None);
        assert_eq!(d.source, "header");
        assert_eq!(d.encoding, "windows-1258");
        assert!(!d.had_errors);

        let mut page = b"<html><head><meta charset=\"windows-1258\"></head><body>".to_vec();
        page.extend_from_slice(&bytes);
        let d = decode_text(&page, "text/html", None);
        assert_eq!(d.source, "meta");
        assert!(d.text.contains("đăng"));

        let d = decode_text("Mức độ 4".as_bytes(), "text/html", None);
        assert_eq!((d.source, d.encoding.as_str()), ("default", "UTF-8"));

        let mut http_equiv =
            b"<meta http-equiv='Content-Type' content='text/html; charset=windows-1258'>".to_vec();
        http_equiv.extend_from_slice(&bytes);
        assert_eq!(decode_text(&http_equiv, "", None).source, "meta");
    }

    #[test]
    fn owned_decoding_matches_borrowed_decoding() {
        let (w1258, _, _) = encoding_rs::WINDOWS_1258.encode("Thủ tục đăng ký");
        let mut meta = b"<meta charset=\"windows-1258\">".to_vec();
        meta.extend_from_slice(&w1258);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("Mức độ 4".as_bytes());
        let mut utf8_meta = b"<meta charset=utf-8>".to_vec();
        utf8_meta.extend_from_slice("Mức độ 4".as_bytes());
        let cases: [(&[u8], &str); 8] = [
            ("Mức độ 4".as_bytes(), "text/html"),
            ("Mức độ 4".as_bytes(), "text/html; charset=utf-8"),
            (&w1258, "text/html; charset=windows-1258"),
            (&w1258, "text/html"),
            (&meta, ""),
            (&bom, "text/html; charset=windows-1258"),
            (&utf8_meta, ""),
            (b"bad \xff\xfe utf-8 \xc3", "text/html; charset=utf-8"),
        ];
        for (bytes, ct) in cases {
            assert_eq!(
                decode_text_owned(bytes.to_vec(), ct, Some(b"vn")),
                decode_text(bytes, ct, Some(b"vn")),
                "{ct} {bytes:?}"
            );
        }
    }

    #[test]
    fn reserve_is_bounded_by_the_cap() {
        let mut sink = BodySink::new("", 10);
        sink.reserve(1 << 40);
        assert!(sink.push(b"12345").is_ok());
        assert!(matches!(sink.push(b"123456"), Err(BodyError::TooLarge(10))));
        let mut sink = BodySink::new("gzip", 1000);
        sink.reserve(100);
        assert_eq!(sink.wire_bytes(), 0);
    }

    #[test]
    fn charset_param_parsing() {
        assert_eq!(charset_param("text/html; Charset=\"UTF-8\""), Some("UTF-8"));
        assert_eq!(charset_param("text/html"), None);
    }
}
