//! A minimal TLS ClientHello writer and ServerHello-flight parser for the legacy probe.
//!
//! rustls cannot speak TLS 1.0/1.1, RC4, 3DES, NULL, EXPORT or finite-field DHE, so asking a
//! server whether it *accepts* them needs a hand-written hello. This is deliberately tiny: we
//! write one ClientHello (RFC 5246 §7.4.1.2) and read the server's first flight only far enough
//! to learn the chosen version and suite, an alert, or the DHE prime size from the
//! ServerKeyExchange (RFC 5246 §7.4.3). No key exchange is ever completed.
//!
//! The parser reads untrusted bytes: it never indexes, every length is checked against the
//! input, and the total input is bounded by the caller ([`MAX_FLIGHT_BYTES`]). It is fuzzed
//! (`fuzz/fuzz_targets/server_hello.rs`) and unit-tested on random and truncated input.

/// Protocol versions as they appear on the wire.
pub const TLS1_0: u16 = 0x0301;
pub const TLS1_1: u16 = 0x0302;
pub const TLS1_2: u16 = 0x0303;

/// The most server-flight bytes the parser is given; the probe stops reading beyond this.
pub const MAX_FLIGHT_BYTES: usize = 64 * 1024;

const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const HS_SERVER_HELLO: u8 = 2;
const HS_CERTIFICATE: u8 = 11;
const HS_SERVER_KEY_EXCHANGE: u8 = 12;
const HS_SERVER_HELLO_DONE: u8 = 14;
/// Largest TLSPlaintext/TLSCiphertext fragment a record may carry (RFC 5246 §6.2.3).
const MAX_RECORD_LEN: usize = (1 << 14) + 2048;

/// A cipher suite with the names used in facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    pub id: u16,
    pub name: &'static str,
    pub class: SuiteClass,
}

/// Which weakness (if any) a suite carries; `Dhe` marks finite-field DHE key exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteClass {
    Modern,
    Dhe,
    TripleDes,
    Rc4,
    Null,
    Export,
    /// Anonymous (unauthenticated) key exchange: `DH_anon`, `ECDH_anon`.
    Anon,
}

impl SuiteClass {
    /// The class name used in facts (`tls.weak_classes`); empty for the non-weak classes.
    pub fn fact_name(self) -> &'static str {
        match self {
            SuiteClass::TripleDes => "3des",
            SuiteClass::Rc4 => "rc4",
            SuiteClass::Null => "null",
            SuiteClass::Export => "export",
            SuiteClass::Anon => "anon",
            SuiteClass::Modern | SuiteClass::Dhe => "",
        }
    }
}

macro_rules! suites {
    ($($id:literal $name:ident $class:ident,)*) => {
        /// Every suite the probe may offer (IANA TLS Cipher Suites registry names).
        pub const SUITES: &[Suite] = &[$(Suite { id: $id, name: stringify!($name), class: SuiteClass::$class },)*];
    };
}

suites! {
    0xc02f TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 Modern,
    0xc02b TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 Modern,
    0xc030 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 Modern,
    0xc02c TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 Modern,
    0xc013 TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA Modern,
    0xc014 TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA Modern,
    0xc009 TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA Modern,
    0xc00a TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA Modern,
    0x009c TLS_RSA_WITH_AES_128_GCM_SHA256 Modern,
    0x009d TLS_RSA_WITH_AES_256_GCM_SHA384 Modern,
    0x002f TLS_RSA_WITH_AES_128_CBC_SHA Modern,
    0x0035 TLS_RSA_WITH_AES_256_CBC_SHA Modern,
    0x003c TLS_RSA_WITH_AES_128_CBC_SHA256 Modern,
    0x009e TLS_DHE_RSA_WITH_AES_128_GCM_SHA256 Dhe,
    0x009f TLS_DHE_RSA_WITH_AES_256_GCM_SHA384 Dhe,
    0x0033 TLS_DHE_RSA_WITH_AES_128_CBC_SHA Dhe,
    0x0039 TLS_DHE_RSA_WITH_AES_256_CBC_SHA Dhe,
    0x0067 TLS_DHE_RSA_WITH_AES_128_CBC_SHA256 Dhe,
    0x006b TLS_DHE_RSA_WITH_AES_256_CBC_SHA256 Dhe,
    0xccaa TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256 Dhe,
    0x000a TLS_RSA_WITH_3DES_EDE_CBC_SHA TripleDes,
    0x0016 TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA TripleDes,
    0xc012 TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA TripleDes,
    0xc008 TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA TripleDes,
    0x0005 TLS_RSA_WITH_RC4_128_SHA Rc4,
    0x0004 TLS_RSA_WITH_RC4_128_MD5 Rc4,
    0xc011 TLS_ECDHE_RSA_WITH_RC4_128_SHA Rc4,
    0xc007 TLS_ECDHE_ECDSA_WITH_RC4_128_SHA Rc4,
    0x0001 TLS_RSA_WITH_NULL_MD5 Null,
    0x0002 TLS_RSA_WITH_NULL_SHA Null,
    0x003b TLS_RSA_WITH_NULL_SHA256 Null,
    0xc010 TLS_ECDHE_RSA_WITH_NULL_SHA Null,
    0xc006 TLS_ECDHE_ECDSA_WITH_NULL_SHA Null,
    0x0003 TLS_RSA_EXPORT_WITH_RC4_40_MD5 Export,
    0x0006 TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5 Export,
    0x0008 TLS_RSA_EXPORT_WITH_DES40_CBC_SHA Export,
    0x0014 TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA Export,
    0x0011 TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA Export,
    0x0034 TLS_DH_anon_WITH_AES_128_CBC_SHA Anon,
    0x003a TLS_DH_anon_WITH_AES_256_CBC_SHA Anon,
    0x00a6 TLS_DH_anon_WITH_AES_128_GCM_SHA256 Anon,
    0xc018 TLS_ECDH_anon_WITH_AES_128_CBC_SHA Anon,
    0xc019 TLS_ECDH_anon_WITH_AES_256_CBC_SHA Anon,
    0x001b TLS_DH_anon_WITH_3DES_EDE_CBC_SHA Anon,
    0x0018 TLS_DH_anon_WITH_RC4_128_MD5 Anon,
}

/// The suite with this id, if the probe knows it.
pub fn suite(id: u16) -> Option<&'static Suite> {
    SUITES.iter().find(|s| s.id == id)
}

/// Suite ids of the given classes, in table order.
pub fn suite_ids(classes: &[SuiteClass]) -> Vec<u16> {
    SUITES
        .iter()
        .filter(|s| classes.contains(&s.class))
        .map(|s| s.id)
        .collect()
}

/// Wire name of a protocol version (`TLSv1.0` ...), as used in facts.
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSLv3",
        TLS1_0 => "TLSv1.0",
        TLS1_1 => "TLSv1.1",
        TLS1_2 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => "unknown",
    }
}

/// Build a ClientHello record offering `version` and `suites`, with SNI `host` when it is a
/// DNS name. Extensions: server_name, supported_groups, ec_point_formats,
/// signature_algorithms (TLS 1.2 only; earlier versions must not send it) and
/// renegotiation_info, which is enough for common stacks to answer.
pub fn client_hello(version: u16, suites: &[u16], host: &str, random: [u8; 32]) -> Vec<u8> {
    let mut ext = Vec::new();
    let is_name = !host.is_empty() && host.parse::<std::net::IpAddr>().is_err();
    if is_name && host.len() < 256 {
        // server_name: list<2>{ type(0) name<2> }
        let name = host.as_bytes();
        let mut sni = Vec::new();
        put_u16(&mut sni, (name.len() + 3) as u16);
        sni.push(0);
        put_u16(&mut sni, name.len() as u16);
        sni.extend_from_slice(name);
        put_ext(&mut ext, 0x0000, &sni);
    }
    // supported_groups: x25519, secp256r1, secp384r1, secp521r1, ffdhe2048, ffdhe3072.
    put_ext(
        &mut ext,
        0x000a,
        &[0, 12, 0, 0x1d, 0, 0x17, 0, 0x18, 0, 0x19, 1, 0, 1, 1],
    );
    // ec_point_formats: uncompressed.
    put_ext(&mut ext, 0x000b, &[1, 0]);
    if version >= TLS1_2 {
        // signature_algorithms: common RSA/ECDSA schemes, then SHA-1 ones for old servers.
        let algs: [u16; 11] = [
            0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0201, 0x0203,
        ];
        let mut body = Vec::new();
        put_u16(&mut body, (algs.len() * 2) as u16);
        for a in algs {
            put_u16(&mut body, a);
        }
        put_ext(&mut ext, 0x000d, &body);
    }
    // renegotiation_info (empty): some servers refuse a hello without it.
    put_ext(&mut ext, 0xff01, &[0]);

    let mut hello = Vec::new();
    put_u16(&mut hello, version);
    hello.extend_from_slice(&random);
    hello.push(0); // empty session id
    put_u16(&mut hello, (suites.len() * 2) as u16);
    for s in suites {
        put_u16(&mut hello, *s);
    }
    hello.extend_from_slice(&[1, 0]); // compression: null only
    put_u16(&mut hello, ext.len() as u16);
    hello.extend_from_slice(&ext);

    let mut hs = vec![1u8]; // client_hello
    put_u24(&mut hs, hello.len());
    hs.extend_from_slice(&hello);

    // Record layer version: TLS 1.0 for maximum compatibility (as browsers did).
    let mut rec = vec![CT_HANDSHAKE, 0x03, 0x01];
    put_u16(&mut rec, hs.len() as u16);
    rec.extend_from_slice(&hs);
    rec
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, v: usize) {
    let b = (v as u32).to_be_bytes();
    out.extend_from_slice(&b[1..]);
}

fn put_ext(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    put_u16(out, kind);
    put_u16(out, body.len() as u16);
    out.extend_from_slice(body);
}

/// What the server chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    pub version: u16,
    pub suite: u16,
}

/// A TLS alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alert {
    pub level: u8,
    pub description: u8,
}

/// What has been read of the server's first flight so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFlight {
    pub hello: Option<ServerHello>,
    pub alert: Option<Alert>,
    /// Bit length of the DHE prime `p`, when a ServerKeyExchange for a DHE suite was read.
    pub dhe_prime_bits: Option<u32>,
    /// The Certificate message's chain (TLS 1.0–1.2 send it in clear), at most
    /// [`MAX_CERTS`] entries.
    pub certificates: Vec<Vec<u8>>,
    /// The flight is over for our purposes: an alert, ServerHelloDone, or a record type that
    /// ends the plaintext part of the handshake.
    pub ended: bool,
}

/// Why the bytes are not a server flight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("not a TLS record (content type {0})")]
    NotTls(u8),
    #[error("record of {0} bytes exceeds the TLS limit")]
    RecordTooLong(usize),
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// A bounds-checked reader over untrusted bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2)
            .map(|b| b.iter().fold(0u16, |a, x| (a << 8) | *x as u16))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| b.iter().fold(0usize, |a, x| (a << 8) | *x as usize))
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

/// Parse as much of a server's first flight as `buf` holds. Incomplete input is not an
/// error: the result simply has fewer fields set, and the caller reads more (up to
/// [`MAX_FLIGHT_BYTES`]). Bytes after the first non-handshake, non-alert record are ignored.
pub fn parse_server_flight(buf: &[u8]) -> Result<ServerFlight, HelloError> {
    let mut flight = ServerFlight::default();
    let mut hs = Vec::new(); // handshake bytes, possibly spanning records
    let mut r = Reader(buf);
    while let Some(ct) = r.u8() {
        let Some(_rec_version) = r.u16() else { break };
        let Some(len) = r.u16() else { break };
        let len = len as usize;
        if len > MAX_RECORD_LEN {
            return Err(HelloError::RecordTooLong(len));
        }
        match ct {
            CT_ALERT => {
                let Some(body) = r.take(len) else { break };
                let mut a = Reader(body);
                if let (Some(level), Some(description)) = (a.u8(), a.u8()) {
                    flight.alert = Some(Alert { level, description });
                }
                flight.ended = true;
                return Ok(flight);
            }
            CT_HANDSHAKE => {
                let Some(body) = r.take(len) else { break };
                hs.extend_from_slice(body);
                if hs.len() > MAX_FLIGHT_BYTES {
                    return Err(HelloError::Malformed("handshake larger than the bound"));
                }
            }
            20 | 23 => {
                // change_cipher_spec or application_data: the plaintext part is over.
                flight.ended = true;
                break;
            }
            other => return Err(HelloError::NotTls(other)),
        }
    }
    parse_handshakes(&hs, &mut flight)?;
    Ok(flight)
}

fn parse_handshakes(hs: &[u8], flight: &mut ServerFlight) -> Result<(), HelloError> {
    let mut r = Reader(hs);
    loop {
        let Some(kind) = r.u8() else { return Ok(()) };
        let Some(len) = r.u24() else { return Ok(()) };
        let Some(body) = r.take(len) else {
            return Ok(()); // the message continues in bytes not yet read
        };
        match kind {
            HS_SERVER_HELLO => flight.hello = Some(parse_server_hello(body)?),
            HS_SERVER_KEY_EXCHANGE => {
                let is_dhe = flight
                    .hello
                    .and_then(|h| suite(h.suite))
                    .is_some_and(|s| matches!(s.class, SuiteClass::Dhe) || is_dhe_suite(s));
                if is_dhe {
                    let p = Reader(body)
                        .vec16()
                        .ok_or(HelloError::Malformed("ServerKeyExchange"))?;
                    flight.dhe_prime_bits = Some(bit_length(p));
                }
            }
            HS_SERVER_HELLO_DONE => {
                flight.ended = true;
                return Ok(());
            }
            HS_CERTIFICATE => flight.certificates = parse_certificates(body),
            _ => {}
        }
    }
}

/// Most certificates kept from one Certificate message.
pub const MAX_CERTS: usize = 16;

/// `certificate_list<0..2^24-1>` of `ASN.1Cert<1..2^24-1>`; stops at the first malformed entry.
fn parse_certificates(body: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut r = Reader(body);
    let Some(total) = r.u24() else { return out };
    let Some(list) = r.take(total) else {
        return out;
    };
    let mut l = Reader(list);
    while out.len() < MAX_CERTS {
        let Some(n) = l.u24() else { break };
        let Some(cert) = l.take(n) else { break };
        out.push(cert.to_vec());
    }
    out
}

/// DHE suites outside the `Dhe` class (3DES/EXPORT with DHE key exchange).
fn is_dhe_suite(s: &Suite) -> bool {
    s.name.starts_with("TLS_DHE_")
}

fn parse_server_hello(body: &[u8]) -> Result<ServerHello, HelloError> {
    let bad = HelloError::Malformed("ServerHello");
    let mut r = Reader(body);
    let version = r.u16().ok_or(bad.clone())?;
    r.take(32).ok_or(bad.clone())?; // random
    let sid_len = r.u8().ok_or(bad.clone())? as usize;
    if sid_len > 32 {
        return Err(bad);
    }
    r.take(sid_len).ok_or(bad.clone())?;
    let suite = r.u16().ok_or(bad.clone())?;
    r.u8().ok_or(bad)?; // compression method
    Ok(ServerHello { version, suite })
}

/// Significant bits of a big-endian unsigned integer.
fn bit_length(n: &[u8]) -> u32 {
    let mut bytes = n.iter().skip_while(|b| **b == 0);
    match bytes.next() {
        None => 0,
        Some(first) => 8 - first.leading_zeros() + 8 * bytes.count() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn record(ct: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ct, 3, 3];
        put_u16(&mut v, body.len() as u16);
        v.extend_from_slice(body);
        v
    }

    fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![kind];
        put_u24(&mut v, body.len());
        v.extend_from_slice(body);
        v
    }

    fn server_hello(version: u16, suite: u16) -> Vec<u8> {
        let mut b = Vec::new();
        put_u16(&mut b, version);
        b.extend_from_slice(&[7u8; 32]);
        b.push(0);
        put_u16(&mut b, suite);
        b.push(0);
        handshake(HS_SERVER_HELLO, &b)
    }

    #[test]
    fn reads_version_and_suite() {
        let bytes = record(CT_HANDSHAKE, &server_hello(TLS1_0, 0x000a));
        let f = parse_server_flight(&bytes).expect("parse");
        assert_eq!(
            f.hello,
            Some(ServerHello {
                version: TLS1_0,
                suite: 0x000a
            })
        );
        assert_eq!(f.alert, None);
    }

    #[test]
    fn reads_alert() {
        let bytes = record(CT_ALERT, &[2, 70]);
        let f = parse_server_flight(&bytes).expect("parse");
        assert_eq!(
            f.alert,
            Some(Alert {
                level: 2,
                description: 70
            })
        );
        assert!(f.ended);
    }

    #[test]
    fn reads_dhe_prime_across_records() {
        let mut hs = server_hello(TLS1_2, 0x0033);
        hs.extend(handshake(
            HS_CERTIFICATE,
            &[0, 0, 8, 0, 0, 2, 0xaa, 0xbb, 0, 0, 0],
        ));
        let mut ske = Vec::new();
        let p = [0x00u8, 0x80].iter().chain([0xffu8; 127].iter()).copied();
        let p: Vec<u8> = p.collect(); // 128 significant bytes = 1024 bits after a leading zero
        put_u16(&mut ske, p.len() as u16);
        ske.extend_from_slice(&p);
        ske.extend_from_slice(&[0, 1, 2, 0, 1, 5]);
        hs.extend(handshake(HS_SERVER_KEY_EXCHANGE, &ske));
        hs.extend(handshake(HS_SERVER_HELLO_DONE, &[]));
        let (a, b) = hs.split_at(20);
        let mut bytes = record(CT_HANDSHAKE, a);
        bytes.extend(record(CT_HANDSHAKE, b));
        let f = parse_server_flight(&bytes).expect("parse");
        assert_eq!(f.dhe_prime_bits, Some(1024));
        assert_eq!(f.certificates, vec![vec![0xaa, 0xbb], vec![]]);
        assert!(f.ended);
        // Truncated: no prime yet, not ended, no error.
        let f = parse_server_flight(&bytes[..bytes.len() - 10]).expect("parse");
        assert_eq!(f.dhe_prime_bits, None);
        assert!(!f.ended);
    }

    #[test]
    fn client_hello_is_well_formed() {
        let h = client_hello(TLS1_1, &[0x000a, 0x002f], "dvc.example.gov.vn", [1; 32]);
        assert_eq!(h.first(), Some(&CT_HANDSHAKE));
        let rec_len = u16::from_be_bytes([h[3], h[4]]) as usize;
        assert_eq!(rec_len + 5, h.len());
        let hs_len = u32::from_be_bytes([0, h[6], h[7], h[8]]) as usize;
        assert_eq!(hs_len + 4, rec_len);
        assert_eq!(&h[9..11], &[0x03, 0x02]);
        assert!(h.windows(18).any(|w| w == b"dvc.example.gov.vn"));
        // No SNI for an IP literal.
        let h = client_hello(TLS1_2, &[0x002f], "127.0.0.1", [1; 32]);
        assert!(!h.windows(9).any(|w| w == b"127.0.0.1"));
    }

    #[test]
    fn bit_length_counts_significant_bits() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[0, 1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
    }

    #[test]
    fn never_panics_on_random_or_truncated_input() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut good = record(CT_HANDSHAKE, &server_hello(TLS1_2, 0x0033));
        good.extend(record(CT_ALERT, &[2, 40]));
        for cut in 0..=good.len() {
            let _ = parse_server_flight(&good[..cut]);
        }
        for _ in 0..20_000 {
            let len = rng.random_range(0..300);
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Make many inputs look like TLS so the deeper parsers are reached.
            if let Some(first) = bytes.first_mut() {
                *first = [CT_HANDSHAKE, CT_ALERT, 23, 99][rng.random_range(0..4)];
            }
            let _ = parse_server_flight(&bytes);
            // Mutate a valid flight.
            let mut m = good.clone();
            let i = rng.random_range(0..m.len());
            m[i] = rng.random();
            let _ = parse_server_flight(&m);
        }
    }
}
