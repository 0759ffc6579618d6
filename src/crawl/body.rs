//! Response bodies: bounded decompression and character decoding.
//!
//! reqwest's transparent decompression is turned off so the crawler can count bytes on the wire
//! and cap the **decompressed** size (a 10 kB gzip bomb never becomes 10 GB in memory). Deflate
//! and brotli decoders are write-based, fed each network chunk as it arrives. A gzip body (what
//! portals and the sandbox send) is kept compressed as it arrives and inflated once at the end,
//! straight into one buffer of the size its trailer announces (bounded by the cap): no
//! decoder-side buffer, no copy out of it, no regrowing of the page (issue 20: CPU per page).

use std::io::Write;

use encoding_rs::{DecoderResult, Encoding};

use super::tcvn3;

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
    /// The compressed bytes, inflated by [`inflate_gzip`] when the body is complete.
    Gzip(CappedVec),
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
            // The compressed bytes are held under a cap of their own: a gzip stream longer than
            // this cannot inflate to less than `cap` (deflate adds at most 5 bytes per 64 KiB
            // stored block, gzip 18 bytes per member), so nothing is refused that would fit.
            "gzip" | "x-gzip" => Inner::Gzip(CappedVec {
                cap: sink.cap.saturating_add(sink.cap / 64).saturating_add(1024),
                ..sink
            }),
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
            // The output is sized from the trailer at the end; nothing to reserve now.
            Inner::Gzip(_) => return,
            Inner::Deflate(d) => &mut d.get_mut().buf,
            Inner::Brotli(d) => &mut d.get_mut().buf,
        };
        buf.reserve(room.saturating_sub(buf.len()));
    }

    /// Reserve room for `len` bytes as they come over the wire (`Content-Length`), bounded by
    /// the cap: the compressed bytes of a gzip body, the body itself otherwise.
    pub fn reserve_wire(&mut self, len: u64) {
        match &mut self.inner {
            Inner::Gzip(s) => {
                let room = usize::try_from(len).unwrap_or(usize::MAX).min(s.cap);
                s.buf.reserve(room.saturating_sub(s.buf.len()));
            }
            Inner::Identity(_) => self.reserve(len),
            Inner::Deflate(_) | Inner::Brotli(_) => {}
        }
    }

    fn sink(&self) -> &CappedVec {
        match &self.inner {
            Inner::Identity(s) => s,
            Inner::Gzip(s) => s,
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
            Inner::Gzip(s) => inflate_gzip(&s.buf, cap).map_err(|e| match e {
                Inflate::TooLarge => BodyError::TooLarge(cap),
                Inflate::Corrupt(message) => BodyError::Decode { encoding, message },
            }),
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

/// Room left past a gzip body's announced size (see [`inflate_gzip`]).
const INFLATE_SLACK: usize = 512;

enum Inflate {
    TooLarge,
    Corrupt(String),
}

/// Inflate a complete gzip body (one member or several, as `MultiGzDecoder` reads them) into
/// one buffer, refusing to produce more than `cap` bytes. The buffer starts at the size the
/// last member's trailer announces (`ISIZE`, bounded by the cap: a lying trailer costs a
/// regrowth or a refusal, never more memory than the cap), so a page is written once, where
/// it stays.
fn inflate_gzip(wire: &[u8], cap: u64) -> Result<Vec<u8>, Inflate> {
    use flate2::{Decompress, FlushDecompress, Status};
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let announced = wire
        .len()
        .checked_sub(4)
        .and_then(|at| wire.get(at..))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize);
    // One byte over the cap is room enough to see that the body does not fit.
    let limit = cap.saturating_add(1);
    // The inflater's fast loop needs 258 bytes of room past what it writes: a buffer of the
    // exact size would inflate each page's last 258 bytes one symbol at a time (measured with
    // callgrind: more instructions than the copy this buffer saves).
    let room = announced.saturating_add(INFLATE_SLACK).clamp(256, limit);
    let mut out: Vec<u8> = Vec::with_capacity(room);
    let mut input = wire;
    let mut dec = Decompress::new_gzip(15);
    loop {
        if out.len() == out.capacity() {
            if out.len() >= limit {
                return Err(Inflate::TooLarge);
            }
            let more = out.len().max(4096).min(limit - out.len());
            out.reserve_exact(more);
        }
        let (in0, out0) = (dec.total_in(), out.len());
        let status = dec
            .decompress_vec(input, &mut out, FlushDecompress::Finish)
            .map_err(|e| Inflate::Corrupt(e.to_string()))?;
        let used = usize::try_from(dec.total_in() - in0).unwrap_or(usize::MAX);
        input = input.get(used..).unwrap_or_default();
        if out.len() > cap {
            return Err(Inflate::TooLarge);
        }
        match status {
            Status::StreamEnd if input.is_empty() => return Ok(out),
            // Another member follows.
            Status::StreamEnd => dec = Decompress::new_gzip(15),
            Status::Ok | Status::BufError => {
                let stuck = used == 0 && out.len() == out0;
                if stuck && out.len() < out.capacity() {
                    return Err(Inflate::Corrupt("truncated gzip stream".into()));
                }
            }
        }
    }
}

/// How the text of a page was decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    /// Encoding name as encoding_rs spells it (`UTF-8`, `windows-1258`, ...), or `TCVN3`.
    pub encoding: String,
    /// Where the encoding came from: `header`, `bom`, `meta`, `detected`, `default`.
    pub source: &'static str,
    /// Malformed sequences were replaced with U+FFFD (at most [`MAX_MALFORMED_PERCENT`] of the
    /// non-ASCII bytes; more than that is never a page's text).
    pub had_errors: bool,
    /// Why the first choice (BOM, then header, then `<meta>`) was not used, e.g. the header said
    /// UTF-8 but the bytes are not: empty when it was used.
    pub note: String,
}

/// No charset reads the body: every one tried, with where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// In the order tried; the first is the page's own choice (BOM, header or meta), or UTF-8
    /// when it declares none.
    pub tried: Vec<Attempt>,
}

/// One charset tried on a body and what was wrong with the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub encoding: &'static str,
    pub source: &'static str,
    /// Malformed byte sequences (each became a U+FFFD).
    pub malformed: usize,
    /// Characters no page text contains (C0 controls other than whitespace, C1 controls):
    /// the sign of a single-byte charset reading bytes that are not in it.
    pub controls: usize,
    /// Byte offset of the first malformed sequence or control character.
    pub first_bad: Option<usize>,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.encoding, self.source)?;
        let at = self
            .first_bad
            .map(|b| format!(", first at byte {b}"))
            .unwrap_or_default();
        match (self.malformed, self.controls) {
            (0, 0) => Ok(()),
            (m, 0) => write!(f, ": {m} malformed{at}"),
            (0, c) => write!(f, ": {c} control chars{at}"),
            (m, c) => write!(f, ": {m} malformed, {c} control chars{at}"),
        }
    }
}

impl std::fmt::Display for DecodeFailure {
    /// Short enough for an evidence excerpt: the byte offset and the charsets tried come first.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no charset decodes the page cleanly; tried ")?;
        for (i, a) in self.tried.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeFailure {}

/// A page's own charset may leave at most this share (in percent) of its non-ASCII bytes in
/// malformed sequences (a truncated character in a long page); above it, the charset is wrong
/// and the others are tried.
pub const MAX_MALFORMED_PERCENT: usize = 1;

/// At most this much of a body is given to charset detection.
pub const SNIFF_MAX_BYTES: usize = 1 << 20;

/// Decode a body honestly. The first choice is as browsers make it: BOM, then the HTTP
/// header's charset, then `<meta charset>` in the first 1024 bytes, then (nothing declared)
/// UTF-8 if the bytes are valid UTF-8, else statistical detection (chardetng, tuned with the
/// `.vn` TLD). A declared charset is checked against the bytes:
/// - bytes that are valid UTF-8 with non-ASCII content are UTF-8, whatever a legacy charset
///   declaration says (no Vietnamese text in a single-byte charset is valid UTF-8);
/// - a first choice leaving more than [`MAX_MALFORMED_PERCENT`] of the non-ASCII bytes malformed
///   is wrong: the other declarations, UTF-8 and the detected charset are tried, and the first
///   that decodes cleanly is used (with a [`Decoded::note`] saying what the page claimed);
/// - when none does, the page is undecodable ([`DecodeFailure`]), never text full of U+FFFD.
///
/// A fallback must be clean: no malformed sequence (UTF-8 alone keeps the tolerance, being
/// self-checking) and no control character a page's text never holds (a single-byte charset
/// reads any byte, so that is how a wrong one shows).
///
/// TCVN3 ([`tcvn3`]) is read when a label names it, and detected (source `detected`, the
/// reason in the note) over a declared windows-1252, windows-1258 or x-user-defined, over no
/// declaration, and in place of chardetng's guess: see [`tcvn3::detect`].
pub fn decode_text(
    bytes: &[u8],
    content_type: &str,
    tld: Option<&[u8]>,
) -> Result<Decoded, DecodeFailure> {
    let bom = Encoding::for_bom(bytes);
    let header = charset_param(content_type).and_then(|l| charset_for_label(l.as_bytes()));
    let meta = meta_charset(bytes);
    let declared: Vec<(Charset, &'static str)> = [
        bom.map(|(e, _)| (Charset::Enc(e), "bom")),
        header.map(|c| (c, "header")),
        meta.map(|c| (c, "meta")),
    ]
    .into_iter()
    .flatten()
    .collect();

    let non_ascii = bytes.iter().filter(|b| !b.is_ascii()).count();
    let tolerated = non_ascii * MAX_MALFORMED_PERCENT / 100;
    let utf8_valid = std::str::from_utf8(bytes).is_ok();

    let Some(&(first, first_source)) = declared.first() else {
        // Nothing declared: valid UTF-8 is UTF-8; otherwise detection, checked like a fallback.
        if utf8_valid {
            return Ok(plain(bytes, encoding_rs::UTF_8, "default"));
        }
        return pick(
            bytes,
            tld,
            &[(Some(UTF8), "default"), (None, "detected")],
            None,
            tolerated,
        );
    };

    if bom.is_none() && first != UTF8 && first.is_ascii_compatible() && utf8_valid && non_ascii > 0
    {
        let mut d = plain(bytes, encoding_rs::UTF_8, "detected");
        d.note = format!(
            "{first_source} said {} but the bytes are valid UTF-8",
            first.name()
        );
        return Ok(d);
    }

    // A declared single-byte Latin charset reads TCVN3 bytes without one error (every byte is a
    // letter in it): only the words show that the page is TCVN3.
    if let Charset::Enc(declared_enc) = first
        && MAYBE_TCVN3.contains(&declared_enc)
        && let Some(why) = tcvn3::detect(bytes, &[declared_enc])
    {
        return Ok(Decoded {
            text: tcvn3::decode(bytes),
            encoding: tcvn3::NAME.to_string(),
            source: "detected",
            had_errors: false,
            note: format!(
                "{first_source} said {} but the text is TCVN3 ({why})",
                declared_enc.name()
            ),
        });
    }

    let bom_len = bom.map_or(0, |(_, n)| n);
    let scan = scan(
        first,
        bytes,
        if first_source == "bom" { bom_len } else { 0 },
    );
    // The `replacement` encoding (labels such as `iso-2022-kr`) reads any body as one U+FFFD.
    if first != Charset::Enc(encoding_rs::REPLACEMENT) && scan.malformed <= tolerated {
        return Ok(Decoded {
            had_errors: scan.malformed > 0,
            text: scan.text,
            encoding: first.name().to_string(),
            source: first_source,
            note: String::new(),
        });
    }
    let mut rest: Vec<(Option<Charset>, &'static str)> = declared
        .iter()
        .skip(1)
        .map(|&(e, source)| (Some(e), source))
        .collect();
    rest.push((Some(UTF8), "default"));
    rest.push((None, "detected"));
    pick(
        bytes,
        tld,
        &rest,
        Some(scan.attempt(first, first_source)),
        tolerated,
    )
}

/// [`decode_text`] taking the body by value: a UTF-8 body (the common case) becomes the text
/// without a copy, validated once; anything else is decoded exactly as `decode_text` does.
pub fn decode_text_owned(
    bytes: Vec<u8>,
    content_type: &str,
    tld: Option<&[u8]>,
) -> Result<Decoded, DecodeFailure> {
    if Encoding::for_bom(&bytes).is_some() {
        return decode_text(&bytes, content_type, tld);
    }
    let (enc, source) =
        match charset_param(content_type).and_then(|l| charset_for_label(l.as_bytes())) {
            Some(enc) => (Some(enc), "header"),
            None => match meta_charset(&bytes) {
                Some(enc) => (Some(enc), "meta"),
                None => (None, "default"),
            },
        };
    if enc.is_none_or(|e| e == UTF8) {
        return match String::from_utf8(bytes) {
            Ok(text) => Ok(Decoded {
                text,
                encoding: encoding_rs::UTF_8.name().to_string(),
                source,
                had_errors: false,
                note: String::new(),
            }),
            // Invalid UTF-8: the slow path decides (a few errors tolerated, another charset,
            // or undecodable).
            Err(e) => decode_text(e.as_bytes(), content_type, tld),
        };
    }
    decode_text(&bytes, content_type, tld)
}

/// The first candidate that decodes cleanly (UTF-8 within the tolerance), or every attempt.
/// A candidate without an encoding is detection, run only when reached.
fn pick(
    bytes: &[u8],
    tld: Option<&[u8]>,
    candidates: &[(Option<Charset>, &'static str)],
    first: Option<Attempt>,
    tolerated: usize,
) -> Result<Decoded, DecodeFailure> {
    let note = first.as_ref().map(ToString::to_string);
    let mut tried: Vec<Attempt> = first.into_iter().collect();
    for &(enc, source) in candidates {
        let (enc, why) = match enc {
            Some(enc) => (enc, None),
            None => detect(bytes, tld),
        };
        if tried.iter().any(|t| t.encoding == enc.name()) {
            continue;
        }
        let s = scan(enc, bytes, 0);
        let a = s.attempt(enc, source);
        let clean =
            a.controls == 0 && (a.malformed == 0 || (enc == UTF8 && a.malformed <= tolerated));
        if clean {
            // Only a declaration that was wrong is worth a note, not a failed guess; TCVN3
            // always is (no browser reads it, so an inspector must see why it was chosen).
            let why = why.map(|w| format!("the text is TCVN3 ({w})"));
            let note = match (note.as_ref(), why) {
                (Some(t), Some(w)) => format!("{t}; read as TCVN3 ({source}): {w}"),
                (Some(t), None) => format!("{t}; read as {} ({source})", enc.name()),
                (None, Some(w)) => format!("no charset declared; {w}"),
                (None, None) => String::new(),
            };
            return Ok(Decoded {
                had_errors: s.malformed > 0,
                text: s.text,
                encoding: enc.name().to_string(),
                source,
                note,
            });
        }
        tried.push(a);
    }
    Err(DecodeFailure { tried })
}

fn sniff(bytes: &[u8], tld: Option<&[u8]>) -> &'static Encoding {
    let mut det = chardetng::EncodingDetector::new();
    det.feed(bytes.get(..SNIFF_MAX_BYTES).unwrap_or(bytes), true);
    det.guess(tld, true)
}

/// Detection: TCVN3 when its words say so against chardetng's guess (and windows-1252/1258,
/// see [`tcvn3::detect`]), otherwise the guess.
fn detect(bytes: &[u8], tld: Option<&[u8]>) -> (Charset, Option<tcvn3::Detection>) {
    let guess = sniff(bytes, tld);
    let others: &[&'static Encoding] = if guess.is_single_byte() {
        &[guess]
    } else {
        &[]
    };
    match tcvn3::detect(bytes, others) {
        Some(why) => (Charset::Tcvn3, Some(why)),
        None => (Charset::Enc(guess), None),
    }
}

/// A charset a page is read in: one of encoding_rs's (the WHATWG set), or TCVN3, which no
/// browser knows ([`tcvn3`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Charset {
    Enc(&'static Encoding),
    Tcvn3,
}

const UTF8: Charset = Charset::Enc(encoding_rs::UTF_8);

/// Declared single-byte charsets that a TCVN3 page may carry: what editors of the `.VnTime` era
/// wrote (`windows-1252`, to which `iso-8859-1` and `us-ascii` map; `x-user-defined`, "do not
/// transcode") and the Vietnamese code page a server may add.
const MAYBE_TCVN3: [&Encoding; 3] = [
    encoding_rs::WINDOWS_1252,
    encoding_rs::WINDOWS_1258,
    encoding_rs::X_USER_DEFINED,
];

impl Charset {
    fn name(self) -> &'static str {
        match self {
            Charset::Enc(e) => e.name(),
            Charset::Tcvn3 => tcvn3::NAME,
        }
    }

    fn is_ascii_compatible(self) -> bool {
        match self {
            Charset::Enc(e) => e.is_ascii_compatible(),
            Charset::Tcvn3 => true,
        }
    }
}

/// The charset a label names: TCVN3's labels ([`tcvn3::LABELS`]), then the WHATWG ones.
fn charset_for_label(label: &[u8]) -> Option<Charset> {
    if tcvn3::is_label(label) {
        return Some(Charset::Tcvn3);
    }
    Encoding::for_label(label).map(Charset::Enc)
}

fn plain(bytes: &[u8], enc: &'static Encoding, source: &'static str) -> Decoded {
    let (text, used, had_errors) = enc.decode(bytes);
    Decoded {
        text: text.into_owned(),
        encoding: used.name().to_string(),
        source,
        had_errors,
        note: String::new(),
    }
}

/// A body decoded with one charset, counting what went wrong.
struct Scan {
    text: String,
    malformed: usize,
    controls: usize,
    first_bad: Option<usize>,
}

impl Scan {
    fn attempt(&self, enc: Charset, source: &'static str) -> Attempt {
        Attempt {
            encoding: enc.name(),
            source,
            malformed: self.malformed,
            controls: self.controls,
            first_bad: self.first_bad,
        }
    }
}

/// A character no page's text holds: C0 controls other than tab, newline, form feed and
/// carriage return, DEL, and the C1 controls.
fn is_stray_control(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\x0C' | '\r')) || ('\u{7F}'..='\u{9F}').contains(&c)
}

/// Decode `bytes[skip..]` with `enc` (no BOM sniffing), replacing malformed sequences with
/// U+FFFD, counting them and stray control characters, and locating the first of either.
/// Control characters are located exactly for UTF-8 and single-byte charsets (one byte per
/// character) and by their byte value otherwise.
fn scan(charset: Charset, bytes: &[u8], skip: usize) -> Scan {
    let input = bytes.get(skip..).unwrap_or_default();
    let enc = match charset {
        Charset::Enc(enc) => enc,
        // One character a byte, every byte read: nothing malformed, controls located exactly.
        Charset::Tcvn3 => {
            let text = tcvn3::decode(input);
            return count_controls(text, |i, _, _| Some(skip + i), None, 0);
        }
    };
    let mut decoder = enc.new_decoder_without_bom_handling();
    let room = |d: &encoding_rs::Decoder, n: usize| {
        d.max_utf8_buffer_length_without_replacement(n)
            .unwrap_or(n)
            .saturating_add(16)
    };
    let mut text = String::with_capacity(room(&decoder, input.len()));
    let mut malformed = 0usize;
    let mut first_malformed: Option<usize> = None;
    let mut read = 0usize;
    // Each round consumes input or grows the buffer, so this ends.
    loop {
        let rest = input.get(read..).unwrap_or_default();
        let (result, n) = decoder.decode_to_string_without_replacement(rest, &mut text, true);
        read += n;
        match result {
            DecoderResult::InputEmpty => break,
            DecoderResult::OutputFull => {
                let more = room(&decoder, input.len().saturating_sub(read));
                text.reserve(more);
            }
            DecoderResult::Malformed(bad, after) => {
                malformed += 1;
                let at = read.saturating_sub(usize::from(bad) + usize::from(after));
                first_malformed.get_or_insert(skip + at);
                text.push('\u{FFFD}');
            }
        }
    }
    if enc == encoding_rs::UTF_8 {
        return count_controls(text, |_, at, _| Some(skip + at), first_malformed, malformed);
    }
    if enc.is_single_byte() {
        return count_controls(text, |i, _, _| Some(skip + i), first_malformed, malformed);
    }
    let by_value = |_, _, c: char| {
        u8::try_from(u32::from(c))
            .ok()
            .and_then(|b| input.iter().position(|x| *x == b))
            .map(|p| skip + p)
    };
    count_controls(text, by_value, first_malformed, malformed)
}

/// Count the stray control characters of a decoded text; `locate(char index, byte offset in
/// the text, character)` gives the first one's byte offset in the body.
fn count_controls(
    text: String,
    locate: impl Fn(usize, usize, char) -> Option<usize>,
    first_malformed: Option<usize>,
    malformed: usize,
) -> Scan {
    let mut controls = 0usize;
    let mut first_control: Option<usize> = None;
    for (i, (at, c)) in text.char_indices().enumerate() {
        if !is_stray_control(c) {
            continue;
        }
        controls += 1;
        if first_control.is_none() {
            first_control = locate(i, at, c);
        }
    }
    let first_bad = match (first_malformed, first_control) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Scan {
        text,
        malformed,
        controls,
        first_bad,
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
fn meta_charset(bytes: &[u8]) -> Option<Charset> {
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
            if let Some(charset) = charset_for_label(&rest[..end]) {
                // A page that says UTF-16 in ASCII is lying; the standard maps it to UTF-8.
                if charset == Charset::Enc(encoding_rs::UTF_16LE)
                    || charset == Charset::Enc(encoding_rs::UTF_16BE)
                {
                    return Some(UTF8);
                }
                return Some(charset);
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
        // Refused when complete (the compressed bytes are few): never inflated past the cap.
        let mut sink = BodySink::new("gzip", 100_000);
        for c in gz.chunks(512) {
            sink.push(c).expect("push");
        }
        assert!(matches!(sink.finish(), Err(BodyError::TooLarge(100_000))));
        // Compressed bytes that could only inflate to more than the cap are refused as they
        // arrive.
        let mut sink = BodySink::new("gzip", 1_000);
        let res = (0..10).try_for_each(|_| sink.push(&[0u8; 512]));
        assert!(matches!(res, Err(BodyError::TooLarge(1_000))));

        let mut sink = BodySink::new("gzip", 2_000_000);
        for c in gz.chunks(512) {
            sink.push(c).expect("push");
        }
        assert_eq!(sink.wire_bytes(), gz.len() as u64);
        assert_eq!(sink.finish().expect("finish").len(), 1_000_000);
    }

    fn gz(members: &[&[u8]]) -> Vec<u8> {
        members
            .iter()
            .flat_map(|m| {
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                enc.write_all(m).expect("write");
                enc.finish().expect("finish")
            })
            .collect()
    }

    fn gunzip(body: &[u8], cap: u64, chunk: usize) -> Result<Vec<u8>, BodyError> {
        let mut sink = BodySink::new("gzip", cap);
        sink.reserve_wire(body.len() as u64);
        for c in body.chunks(chunk.max(1)) {
            sink.push(c)?;
        }
        sink.finish()
    }

    #[test]
    fn gzip_bodies_inflate_whatever_their_trailer_says() {
        let page = "<p>Thủ tục hành chính</p>".repeat(2_000);
        let body = gz(&[page.as_bytes()]);
        for chunk in [1, 7, 512, body.len()] {
            assert_eq!(
                gunzip(&body, 1 << 20, chunk).expect("inflate"),
                page.as_bytes()
            );
        }
        // Exactly at the cap fits; one byte less does not.
        let n = page.len() as u64;
        assert_eq!(gunzip(&body, n, 512).expect("at cap").len(), page.len());
        assert!(matches!(gunzip(&body, n - 1, 512), Err(BodyError::TooLarge(c)) if c == n - 1));
        // Several members are one body, as `MultiGzDecoder` reads them; the trailer announces
        // only the last member's size, so the buffer grows.
        let two = gz(&[page.as_bytes(), b"<p>end</p>"]);
        let mut both = page.as_bytes().to_vec();
        both.extend_from_slice(b"<p>end</p>");
        assert_eq!(gunzip(&two, 1 << 20, 512).expect("members"), both);
        // A trailer announcing more (or less) than the body holds changes nothing but the
        // first allocation.
        for lie in [0u32, 1, u32::MAX] {
            let mut lying = body.clone();
            let at = lying.len() - 4;
            lying[at..].copy_from_slice(&lie.to_le_bytes());
            // The trailer's size is checked by the inflater: a lie is a corrupt stream.
            assert!(
                matches!(gunzip(&lying, 1 << 20, 512), Err(BodyError::Decode { .. })),
                "ISIZE {lie}"
            );
        }
        // Truncated streams, empty bodies and trailing garbage are decode errors.
        for bad in [&body[..body.len() / 2], &body[..body.len() - 1], &[][..]] {
            assert!(matches!(
                gunzip(bad, 1 << 20, 512),
                Err(BodyError::Decode { .. })
            ));
        }
        let mut trailing = body.clone();
        trailing.extend_from_slice(b"garbage");
        assert!(matches!(
            gunzip(&trailing, 1 << 20, 512),
            Err(BodyError::Decode { .. })
        ));
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

    fn dec(bytes: &[u8], ct: &str) -> Decoded {
        match decode_text(bytes, ct, Some(b"vn")) {
            Ok(d) => d,
            Err(e) => panic!("{ct}: {e}"),
        }
    }

    /// Vietnamese text as a Windows-1258 page holds it: shape marks composed (â ư ơ ...), tone
    /// marks as combining characters (the sandbox serves it the same way).
    fn w1258(nfc: &str) -> Vec<u8> {
        use unicode_normalization::UnicodeNormalization;
        use unicode_normalization::char::compose;
        let mut prepared = String::new();
        for c in nfc.chars() {
            let mut parts = std::iter::once(c).nfd();
            let Some(mut base) = parts.next() else {
                continue;
            };
            let mut tones = Vec::new();
            for m in parts {
                match compose(base, m) {
                    Some(c) if ['\u{302}', '\u{306}', '\u{31b}'].contains(&m) => base = c,
                    _ => tones.push(m),
                }
            }
            prepared.push(base);
            prepared.extend(tones);
        }
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1258.encode(&prepared);
        assert!(!unmappable, "{nfc}");
        bytes.into_owned()
    }

    const BODY: &str = "<h4>Đăng ký thường trú</h4><div>Mức độ cung cấp dịch vụ công trực tuyến</div>\
        <div>Dịch vụ công trực tuyến toàn trình</div><p>Thành phần hồ sơ: Tờ khai thay đổi \
        thông tin cư trú; giấy tờ chứng minh chỗ ở hợp pháp.</p>";

    fn nfc(s: &str) -> String {
        use unicode_normalization::UnicodeNormalization;
        s.nfc().collect()
    }

    #[test]
    fn charset_from_header_then_meta_then_detection() {
        let bytes = w1258(BODY);
        let d = dec(&bytes, "text/html; charset=windows-1258");
        assert_eq!((d.source, d.encoding.as_str()), ("header", "windows-1258"));
        assert!(!d.had_errors && d.note.is_empty());
        assert_eq!(nfc(&d.text), BODY);

        let mut page = b"<html><head><meta charset=\"windows-1258\"></head><body>".to_vec();
        page.extend_from_slice(&bytes);
        let d = dec(&page, "text/html");
        assert_eq!(d.source, "meta");
        assert!(nfc(&d.text).contains("Đăng ký thường trú"));

        let d = dec("Mức độ 4".as_bytes(), "text/html");
        assert_eq!((d.source, d.encoding.as_str()), ("default", "UTF-8"));

        let mut http_equiv =
            b"<meta http-equiv='Content-Type' content='text/html; charset=windows-1258'>".to_vec();
        http_equiv.extend_from_slice(&bytes);
        assert_eq!(dec(&http_equiv, "").source, "meta");

        // Nothing declared and not UTF-8: detection.
        let d = dec(&bytes, "text/html");
        assert_eq!(
            (d.source, d.encoding.as_str()),
            ("detected", "windows-1258")
        );
        assert!(d.note.is_empty(), "{}", d.note);
    }

    #[test]
    fn a_lying_utf8_header_is_overruled_by_the_meta_charset() {
        let head = b"<html><head><meta charset=\"windows-1258\"></head><body>".to_vec();
        let mut page = head.clone();
        page.extend_from_slice(&w1258(BODY));
        let first_bad = page.iter().position(|b| !b.is_ascii()).expect("non-ASCII");
        assert!(std::str::from_utf8(&page).is_err());
        for ct in ["text/html; charset=utf-8", "text/html; charset=\"UTF-8\""] {
            let d = dec(&page, ct);
            assert_eq!((d.source, d.encoding.as_str()), ("meta", "windows-1258"));
            assert!(!d.had_errors);
            assert!(nfc(&d.text).contains(BODY), "{}", d.text);
            assert!(!d.text.contains('\u{FFFD}'));
            // The fetch record says the header lied, where, and what was used instead.
            assert!(d.note.starts_with("UTF-8 (header): "), "{}", d.note);
            assert!(
                d.note.contains(&format!("first at byte {first_bad}")),
                "{}",
                d.note
            );
            assert!(
                d.note.ends_with("read as windows-1258 (meta)"),
                "{}",
                d.note
            );
        }
    }

    #[test]
    fn a_lying_utf8_header_without_meta_is_overruled_by_detection() {
        let page = w1258(BODY);
        let d = dec(&page, "text/html; charset=utf-8");
        assert_eq!(
            (d.source, d.encoding.as_str()),
            ("detected", "windows-1258")
        );
        assert_eq!(nfc(&d.text), BODY);
        assert!(d.note.contains("UTF-8 (header)"), "{}", d.note);
    }

    #[test]
    fn a_legacy_declaration_on_utf8_bytes_is_overruled() {
        let page = format!("<meta charset=windows-1258>{BODY}");
        for ct in ["text/html; charset=iso-8859-1", "text/html"] {
            let d = dec(page.as_bytes(), ct);
            assert_eq!(
                (d.source, d.encoding.as_str()),
                ("detected", "UTF-8"),
                "{ct}"
            );
            assert!(d.text.ends_with(BODY));
            assert!(d.note.contains("bytes are valid UTF-8"), "{}", d.note);
        }
        // Pure ASCII is the same text in every ASCII-compatible charset: nothing to overrule.
        let d = dec(b"<p>Muc do 4</p>", "text/html; charset=windows-1258");
        assert_eq!((d.source, d.encoding.as_str()), ("header", "windows-1258"));
    }

    #[test]
    fn the_bom_wins_over_header_and_meta() {
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(b"<meta charset=windows-1258>");
        bom.extend_from_slice(BODY.as_bytes());
        let d = dec(&bom, "text/html; charset=windows-1258");
        assert_eq!((d.source, d.encoding.as_str()), ("bom", "UTF-8"));
        assert!(d.text.ends_with(BODY) && !d.text.starts_with('\u{FEFF}'));
        assert!(d.note.is_empty());

        let mut le = vec![0xFF, 0xFE];
        for u in "Mức độ 4".encode_utf16() {
            le.extend_from_slice(&u.to_le_bytes());
        }
        let d = dec(&le, "text/html; charset=utf-8");
        assert_eq!(
            (d.source, d.encoding.as_str(), d.text.as_str()),
            ("bom", "UTF-16LE", "Mức độ 4")
        );
    }

    #[test]
    fn a_few_bad_bytes_in_a_long_utf8_page_are_tolerated() {
        // One character cut in half among hundreds of good ones: still the page's text.
        let mut page = BODY.repeat(4).into_bytes();
        let cut = page.iter().position(|b| *b == 0xC4).expect("đ");
        page.remove(cut + 1);
        let d = dec(&page, "text/html; charset=utf-8");
        assert_eq!((d.source, d.encoding.as_str()), ("header", "UTF-8"));
        assert!(d.had_errors && d.note.is_empty());
        assert_eq!(d.text.matches('\u{FFFD}').count(), 1);
        // Undeclared, the same.
        assert_eq!(dec(&page, "text/html").encoding, "UTF-8");
    }

    #[test]
    fn mixed_charsets_are_undecodable_with_the_offset_and_the_charsets_tried() {
        // A UTF-8 template around Windows-1258 service text: no one charset reads it.
        let mut page = "<html><body><div>Yêu cầu, điều kiện thực hiện</div><div>Mức độ</div><h4>"
            .as_bytes()
            .to_vec();
        let service = w1258(BODY);
        let first_bad = page.len()
            + service
                .iter()
                .position(|b| !b.is_ascii())
                .expect("non-ASCII");
        page.extend_from_slice(&service);
        page.extend_from_slice("</h4><div>Cổng dịch vụ công</div></body></html>".as_bytes());
        let e = decode_text(&page, "text/html; charset=utf-8", Some(b"vn"))
            .expect_err("mixed charsets");
        let first = e.tried.first().expect("the header's charset was tried");
        assert_eq!((first.encoding, first.source), ("UTF-8", "header"));
        assert_eq!(first.first_bad, Some(first_bad));
        assert!(first.malformed > 10, "{first}");
        assert!(
            e.tried.iter().any(|a| a.source == "detected"),
            "detection was tried: {e}"
        );
        assert!(e.tried.iter().skip(1).all(|a| a.controls + a.malformed > 0));
        let msg = e.to_string();
        assert!(msg.contains(&format!("first at byte {first_bad}")), "{msg}");
        // The evidence excerpt keeps the whole message.
        assert!(
            msg.chars().count() <= crate::facts::EXCERPT_MAX_CHARS,
            "{msg}"
        );
        // Undeclared, the same verdict.
        assert!(decode_text(&page, "text/html", Some(b"vn")).is_err());
        assert!(decode_text_owned(page, "text/html; charset=utf-8", Some(b"vn")).is_err());
    }

    #[test]
    fn binary_garbage_is_undecodable() {
        let garbage: Vec<u8> = (0u32..4096)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for ct in [
            "text/html; charset=utf-8",
            "text/html",
            "text/html; charset=iso-2022-kr",
        ] {
            let e = decode_text(&garbage, ct, Some(b"vn")).expect_err(ct);
            assert!(e.tried.iter().all(|a| a.first_bad.is_some()), "{e}");
        }
    }

    /// Deterministic pseudo-random bytes (xorshift64*), no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    #[test]
    fn decoding_any_bytes_never_panics_and_is_bounded() {
        const CTS: [&str; 8] = [
            "",
            "text/html",
            "text/html; charset=utf-8",
            "text/html; charset=windows-1258",
            "text/html; charset=utf-16",
            "text/html; charset=shift_jis",
            "text/html; charset=iso-2022-kr",
            "text/html; charset=no-such-thing",
        ];
        const PREFIXES: [&[u8]; 5] = [
            b"",
            b"\xEF\xBB\xBF",
            b"\xFF\xFE",
            b"<meta charset=windows-1258>",
            b"<meta charset=gbk>",
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..3000 {
            let len = (rng.next() % 600) as usize;
            let pick = rng.next();
            let mut bytes = PREFIXES[(pick % 5) as usize].to_vec();
            // Mostly ASCII, mostly high bytes, or anything: the three regimes of real bodies.
            let regime = (pick >> 8) % 3;
            bytes.extend((0..len).map(|_| {
                let r = rng.next();
                match regime {
                    0 if !r.is_multiple_of(8) => b'a' + (r >> 8) as u8 % 26,
                    1 => 0x80 | (r >> 8) as u8,
                    _ => (r >> 8) as u8,
                }
            }));
            let ct = CTS[((pick >> 16) % 8) as usize];
            let borrowed = decode_text(&bytes, ct, Some(b"vn"));
            assert_eq!(
                decode_text_owned(bytes.clone(), ct, Some(b"vn")),
                borrowed,
                "round {round}"
            );
            match borrowed {
                Ok(d) => {
                    assert!(d.text.len() <= 3 * bytes.len() + 3, "round {round}");
                    assert!(d.note.len() <= 200, "round {round}: {}", d.note);
                }
                Err(e) => {
                    assert!((1..=5).contains(&e.tried.len()), "round {round}: {e}");
                    assert!(e.to_string().len() <= 400, "round {round}: {e}");
                }
            }
        }
    }

    #[test]
    fn owned_decoding_matches_borrowed_decoding() {
        let w1258 = w1258("Thủ tục đăng ký");
        let mut meta = b"<meta charset=\"windows-1258\">".to_vec();
        meta.extend_from_slice(&w1258);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice("Mức độ 4".as_bytes());
        let mut utf8_meta = b"<meta charset=utf-8>".to_vec();
        utf8_meta.extend_from_slice("Mức độ 4".as_bytes());
        let cases: [(&[u8], &str); 10] = [
            ("Mức độ 4".as_bytes(), "text/html"),
            ("Mức độ 4".as_bytes(), "text/html; charset=utf-8"),
            ("Mức độ 4".as_bytes(), "text/html; charset=windows-1258"),
            (&w1258, "text/html; charset=windows-1258"),
            (&w1258, "text/html"),
            (&w1258, "text/html; charset=utf-8"),
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

    /// `BODY` as a `.VnTime` site served it: TCVN3 bytes after `head`. Without a font named,
    /// twice: detection then wants more words (at least 40 non-ASCII letters).
    fn tcvn3_page(head: &str) -> Vec<u8> {
        let mut page = head.as_bytes().to_vec();
        page.extend(tcvn3::encode_html(BODY));
        if !head.contains(".Vn") {
            page.extend(tcvn3::encode_html(BODY));
        }
        page.extend_from_slice(b"</font></body></html>");
        page
    }

    const VNTIME: &str = "<html><head><title>TTHC</title></head><body><font face=\".VnTime\">";

    #[test]
    fn tcvn3_declared_by_header_or_meta_is_read_as_tcvn3() {
        let page = tcvn3_page(VNTIME);
        for ct in ["text/html; charset=tcvn3", "text/html; charset=TCVN5712-1"] {
            let d = dec(&page, ct);
            assert_eq!((d.source, d.encoding.as_str()), ("header", "TCVN3"), "{ct}");
            assert!(d.text.contains(BODY) && d.note.is_empty() && !d.had_errors);
        }
        let page = tcvn3_page(
            "<meta http-equiv='Content-Type' content='text/html; charset=x-viet-tcvn5712'><p>",
        );
        let d = dec(&page, "text/html");
        assert_eq!((d.source, d.encoding.as_str()), ("meta", "TCVN3"));
        assert!(d.text.contains(BODY));
        // A TCVN3 label on UTF-8 bytes is overruled like any legacy label.
        let d = dec(BODY.as_bytes(), "text/html; charset=tcvn");
        assert_eq!((d.source, d.encoding.as_str()), ("detected", "UTF-8"));
    }

    #[test]
    fn tcvn3_under_a_single_byte_declaration_or_none_is_detected() {
        let cases = [
            (
                VNTIME,
                "text/html; charset=windows-1252",
                "header said windows-1252",
            ),
            (
                VNTIME,
                "text/html; charset=iso-8859-1",
                "header said windows-1252",
            ),
            (
                "<meta charset=windows-1258><font face='.VnArial'>",
                "text/html",
                "meta said windows-1258",
            ),
            (
                "<meta charset=x-user-defined><font face='.VnTime'>",
                "",
                "meta said x-user-defined",
            ),
            (VNTIME, "text/html", "no charset declared"),
            // No font named: the words alone, which BODY has enough of.
            (
                "<p>",
                "text/html; charset=windows-1252",
                "header said windows-1252",
            ),
            ("<p>", "text/html", "no charset declared"),
        ];
        for (head, ct, said) in cases {
            let page = tcvn3_page(head);
            let d = dec(&page, ct);
            assert_eq!(
                (d.source, d.encoding.as_str()),
                ("detected", "TCVN3"),
                "{head} {ct}"
            );
            assert!(d.text.contains(BODY), "{}", d.text);
            assert!(d.text.contains("Mức độ cung cấp dịch vụ công trực tuyến"));
            assert!(!d.had_errors);
            // The fetch record says what the page claimed and why TCVN3 was used.
            assert!(d.note.starts_with(said), "{}", d.note);
            assert!(d.note.contains("the text is TCVN3 ("), "{}", d.note);
            assert!(d.note.contains("letters in Vietnamese words"), "{}", d.note);
            assert_eq!(d.note.contains(".Vn"), head.contains(".Vn"), "{}", d.note);
            assert!(d.note.len() <= 200, "{}", d.note);
            assert_eq!(
                decode_text_owned(page.clone(), ct, Some(b"vn")),
                Ok(d),
                "{ct}"
            );
        }
        // A lying UTF-8 header: the page's bytes are not UTF-8; detection finds TCVN3.
        let page = tcvn3_page(VNTIME);
        let d = dec(&page, "text/html; charset=utf-8");
        assert_eq!((d.source, d.encoding.as_str()), ("detected", "TCVN3"));
        assert!(d.note.starts_with("UTF-8 (header): "), "{}", d.note);
        assert!(
            d.note
                .contains("read as TCVN3 (detected): the text is TCVN3 (.VnTime font"),
            "{}",
            d.note
        );
    }

    #[test]
    fn windows_1258_windows_1252_and_utf8_pages_are_never_tcvn3() {
        // The Windows-1258 fixtures of the tests above, and with a .Vn font in their CSS.
        let w = w1258(BODY);
        let styled = [
            b"<style>td { font-family: Tahoma, .VnTime }</style>".as_slice(),
            &w,
        ]
        .concat();
        for bytes in [&w, &styled] {
            for (ct, source) in [
                ("text/html; charset=windows-1258", "header"),
                ("text/html; charset=windows-1252", "header"),
                ("text/html", "detected"),
                ("text/html; charset=utf-8", "detected"),
            ] {
                let d = dec(bytes, ct);
                assert_ne!(d.encoding, "TCVN3", "{ct}");
                assert_eq!(d.source, source, "{ct}");
                if ct != "text/html; charset=windows-1252" {
                    assert_eq!(d.encoding, "windows-1258", "{ct}");
                    assert!(nfc(&d.text).contains(BODY), "{ct}");
                }
            }
        }
        // French and English in windows-1252, declared or not, .Vn font or not.
        let french = "<p>L'été dernier, nous sommes allés à Paris voir le musée; déjà très \
            fréquenté, le café était complet. Après la visite, une crêpe à la crème et un thé \
            glacé. Où êtes-vous né ? À bientôt, chère amie, répondez-moi s'il vous plaît.</p>\
            <p>Copyright © 2009 – “Online public services”, résumé, naïve façade.</p>";
        let (fr, _, unmappable) = encoding_rs::WINDOWS_1252.encode(french);
        assert!(!unmappable);
        for head in ["", "<font face=\".VnTime\">"] {
            let page = [head.as_bytes(), &fr].concat();
            for ct in ["text/html; charset=windows-1252", "text/html"] {
                let d = dec(&page, ct);
                assert_eq!(d.encoding, "windows-1252", "{head} {ct}");
                assert!(d.text.ends_with(french) && d.note.is_empty(), "{}", d.note);
            }
        }
        // UTF-8 stays UTF-8, whatever it declares or names.
        let page = format!("{VNTIME}{BODY}");
        for ct in [
            "text/html",
            "text/html; charset=utf-8",
            "text/html; charset=windows-1252",
        ] {
            let d = dec(page.as_bytes(), ct);
            assert_eq!(d.encoding, "UTF-8", "{ct}");
            assert!(d.text.contains(BODY));
        }
    }

    #[test]
    fn tcvn3_labels_decode_any_bytes_the_same_owned_or_borrowed() {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        for round in 0..500 {
            let len = (rng.next() % 400) as usize;
            let pick = rng.next();
            let mut bytes = if pick.is_multiple_of(2) {
                b"<meta charset=tcvn3>".to_vec()
            } else {
                Vec::new()
            };
            bytes.extend((0..len).map(|_| (rng.next() >> 8) as u8));
            let ct = [
                "",
                "text/html; charset=tcvn",
                "text/html; charset=windows-1252",
            ][((pick >> 8) % 3) as usize];
            let borrowed = decode_text(&bytes, ct, Some(b"vn"));
            assert_eq!(
                decode_text_owned(bytes.clone(), ct, Some(b"vn")),
                borrowed,
                "round {round}"
            );
            if let Ok(d) = borrowed {
                assert!(d.text.len() <= 3 * bytes.len() + 3, "round {round}");
                assert!(d.note.len() <= 200, "round {round}: {}", d.note);
            }
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
