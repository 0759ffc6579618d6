//! The certificate status in an OCSP response (RFC 6960 §4.2.1), read minimally, and the
//! request that asks a responder for it (§4.1.1).
//!
//! No crate in the dependency tree parses OCSP responses, so this walks the DER with
//! asn1-rs's generic `Any` (already used by x509-parser) down to the `certStatus` of the
//! single response whose serial matches the leaf. The response's signature is not verified:
//! the fact says what the server stapled, not that the responder is authentic.

use x509_parser::asn1_rs::{Any, Class, FromDer};

/// A DER TLV with a definite length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    let len = n.to_be_bytes();
    let significant: Vec<u8> = len.iter().copied().skip_while(|b| *b == 0).collect();
    if n < 128 {
        out.push(n as u8);
    } else {
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(&significant);
    }
    out.extend_from_slice(content);
    out
}

/// An `OCSPRequest` for one certificate, identified (CertID, SHA-1 as responders expect) by
/// its issuer's name (`issuer_name`, the leaf's issuer field as DER), its issuer's public key
/// bits and its serial number (the INTEGER's content bytes as in the certificate).
pub fn request(issuer_name: &[u8], issuer_key_bits: &[u8], serial: &[u8]) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    // AlgorithmIdentifier { id-sha1, NULL }
    let mut alg = der(0x06, &[0x2b, 0x0e, 0x03, 0x02, 0x1a]);
    alg.extend_from_slice(&[0x05, 0x00]);
    let mut cert_id = der(0x30, &alg);
    cert_id.extend(der(0x04, &Sha1::digest(issuer_name)));
    cert_id.extend(der(0x04, &Sha1::digest(issuer_key_bits)));
    cert_id.extend(der(0x02, serial));
    let request = der(0x30, &der(0x30, &cert_id)); // Request { reqCert }
    let request_list = der(0x30, &request);
    let tbs = der(0x30, &request_list);
    der(0x30, &tbs)
}

/// `good`, `revoked` or `unknown` (also for unsuccessful or unreadable responses, and for a
/// `good` past its `nextUpdate`: a stale staple says the certificate *was* good, and clients
/// reject it; a revocation stays a revocation however old the response).
pub fn stapled_status(response: &[u8], leaf_serial: &[u8]) -> &'static str {
    status_at(response, leaf_serial, &generalized_now()).unwrap_or("unknown")
}

/// Now in UTC as the 14 digits `YYYYMMDDHHMMSS` a GeneralizedTime starts with (those compare
/// as text in time order).
fn generalized_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The 14 leading digits of a GeneralizedTime's content, if it has them and ends in `Z` (RFC
/// 6960 requires UTC).
fn generalized_digits(content: &[u8]) -> Option<&[u8]> {
    let digits = content.get(..14)?;
    (digits.iter().all(u8::is_ascii_digit) && content.last() == Some(&b'Z')).then_some(digits)
}

const GENERALIZED_TIME: u32 = 24;

/// DER TLV: (class, tag number, constructed content, rest).
fn tlv(i: &[u8]) -> Option<(Class, u32, &[u8], &[u8])> {
    let (rest, any) = Any::from_der(i).ok()?;
    Some((any.header.class(), any.header.tag().0, any.data, rest))
}

/// The children of a constructed value.
fn children(mut data: &[u8]) -> Vec<(Class, u32, &[u8])> {
    let mut out = Vec::new();
    while !data.is_empty() && out.len() < 64 {
        let Some((class, tag, content, rest)) = tlv(data) else {
            break;
        };
        out.push((class, tag, content));
        data = rest;
    }
    out
}

const SEQUENCE: u32 = 16;
const ENUMERATED: u32 = 10;
const INTEGER: u32 = 2;
const OCTET_STRING: u32 = 4;

fn status_at(response: &[u8], leaf_serial: &[u8], now: &str) -> Option<&'static str> {
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT ... }
    let (_, _, top, _) = tlv(response)?;
    let top = children(top);
    let (_, _, status) = top
        .iter()
        .find(|(c, t, _)| *c == Class::Universal && *t == ENUMERATED)?;
    if status.iter().any(|b| *b != 0) {
        return None; // not `successful`
    }
    let (_, _, explicit) = top
        .iter()
        .find(|(c, t, _)| *c == Class::ContextSpecific && *t == 0)?;
    // ResponseBytes ::= SEQUENCE { responseType OID, response OCTET STRING }
    let (_, _, rb, _) = tlv(explicit)?;
    let (_, _, basic) = children(rb)
        .into_iter()
        .find(|(c, t, _)| *c == Class::Universal && *t == OCTET_STRING)?;
    // BasicOCSPResponse ::= SEQUENCE { tbsResponseData ResponseData, ... }
    let (_, _, basic, _) = tlv(basic)?;
    let (_, _, tbs, _) = tlv(basic)?;
    // ResponseData: the only universal SEQUENCE child is `responses`.
    let (_, _, responses) = children(tbs)
        .into_iter()
        .find(|(c, t, _)| *c == Class::Universal && *t == SEQUENCE)?;
    // Only the response about this certificate counts: a staple left over from the
    // certificate before a renewal, or a responder answering for another serial, says
    // nothing about this one (no match: unknown).
    for (_, _, single) in children(responses) {
        // SingleResponse ::= SEQUENCE { certID CertID, certStatus CHOICE {[0] good, [1] revoked, [2] unknown}, ... }
        let parts = children(single);
        let serial = parts
            .first()
            .map(|(_, _, cert_id)| children(cert_id))
            .and_then(|id| {
                id.into_iter()
                    .find(|(c, t, _)| *c == Class::Universal && *t == INTEGER)
                    .map(|(_, _, s)| s)
            });
        let mut st = match parts.get(1) {
            Some((Class::ContextSpecific, 0, _)) => "good",
            Some((Class::ContextSpecific, 1, _)) => "revoked",
            _ => "unknown",
        };
        // SingleResponse continues { thisUpdate GeneralizedTime, nextUpdate [0] EXPLICIT
        // GeneralizedTime OPTIONAL, ... }. A `good` is current only from thisUpdate until
        // nextUpdate; an unreadable time makes it unknown, not good.
        if st == "good" {
            let this_update = parts
                .get(2)
                .filter(|(c, t, _)| *c == Class::Universal && *t == GENERALIZED_TIME)
                .and_then(|(_, _, v)| generalized_digits(v));
            let next_update = match parts.get(3) {
                Some((Class::ContextSpecific, 0, inner)) => Some(
                    tlv(inner)
                        .filter(|(c, t, _, _)| *c == Class::Universal && *t == GENERALIZED_TIME)
                        .and_then(|(_, _, v, _)| generalized_digits(v)),
                ),
                _ => None,
            };
            let now = now.as_bytes();
            let current = this_update.is_some_and(|t| t <= now)
                && next_update.is_none_or(|n| n.is_some_and(|n| now < n));
            if !current {
                st = "unknown";
            }
        }
        if serial.is_some_and(|s| strip_zeros(s) == strip_zeros(leaf_serial)) {
            return Some(st);
        }
    }
    None
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|x| **x == 0).count();
    b.get(n..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let n = u16::try_from(content.len()).expect("short test value");
        let mut out = vec![tag];
        match n {
            0..=127 => out.push(n as u8),
            128..=255 => out.extend([0x81, n as u8]),
            _ => out.extend([0x82, (n >> 8) as u8, n as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    /// A successful OCSP response with one SingleResponse per `(serial, revoked)`, current
    /// (thisUpdate 2026-12-03, no nextUpdate).
    fn response(singles: &[(&[u8], bool)]) -> Vec<u8> {
        response_updated(singles, b"20261203000000Z", None)
    }

    /// The same with these `thisUpdate` and `nextUpdate` times.
    fn response_updated(
        singles: &[(&[u8], bool)],
        this_update: &[u8],
        next_update: Option<&[u8]>,
    ) -> Vec<u8> {
        let responses: Vec<u8> = singles
            .iter()
            .flat_map(|(serial, revoked)| {
                let cert_id = der(
                    0x30,
                    &[
                        der(0x30, &[]),
                        der(0x04, &[1; 20]),
                        der(0x04, &[2; 20]),
                        der(0x02, serial),
                    ]
                    .concat(),
                );
                // good: [0] IMPLICIT NULL; revoked: [1] { revocationTime }.
                let status = if *revoked {
                    der(0xA1, &der(0x18, b"20261201000000Z"))
                } else {
                    der(0x80, &[])
                };
                let next = next_update
                    .map(|n| der(0xA0, &der(0x18, n)))
                    .unwrap_or_default();
                der(
                    0x30,
                    &[cert_id, status, der(0x18, this_update), next].concat(),
                )
            })
            .collect();
        let tbs = der(
            0x30,
            &[der(0x18, b"20261203000000Z"), der(0x30, &responses)].concat(),
        );
        let basic = der(0x30, &tbs);
        let bytes = der(
            0x30,
            &[der(0x06, &[0x2b, 6, 1]), der(0x04, &basic)].concat(),
        );
        der(0x30, &[der(0x0A, &[0]), der(0xA0, &bytes)].concat())
    }

    #[test]
    fn only_the_response_about_this_certificate_counts() {
        let stale = response(&[(b"\x05", true)]);
        assert_eq!(stapled_status(&stale, b"\x05"), "revoked");
        // A staple about another serial (the certificate before a renewal) says nothing.
        assert_eq!(stapled_status(&stale, b"\x07"), "unknown");
        let two = response(&[(b"\x05", true), (b"\x07", false)]);
        assert_eq!(stapled_status(&two, b"\x07"), "good");
        assert_eq!(stapled_status(&two, b"\x00\x05"), "revoked");
        assert_eq!(stapled_status(&two, b"\x09"), "unknown");
    }

    #[test]
    fn a_good_staple_counts_only_between_this_update_and_next_update() {
        let now = "20261205120000";
        let at = |this: &[u8], next: Option<&[u8]>, revoked: bool| {
            status_at(
                &response_updated(&[(b"\x05", revoked)], this, next),
                b"\x05",
                now,
            )
        };
        assert_eq!(
            at(b"20261205000000Z", Some(b"20261212000000Z"), false),
            Some("good")
        );
        assert_eq!(at(b"20261205000000Z", None, false), Some("good"));
        // Before: a staple that expired a month ago still read as good.
        assert_eq!(
            at(b"20261101000000Z", Some(b"20261108000000Z"), false),
            Some("unknown")
        );
        assert_eq!(
            at(b"20261204000000Z", Some(b"20261205120000Z"), false),
            Some("unknown")
        );
        // Issued in the future (a wrong clock somewhere): not a current answer.
        assert_eq!(at(b"20270101000000Z", None, false), Some("unknown"));
        // Unreadable times are no proof of freshness.
        assert_eq!(at(b"2026120500Z", None, false), Some("unknown"));
        assert_eq!(
            at(b"20261205000000Z", Some(b"soon"), false),
            Some("unknown")
        );
        // A revocation stays a revocation, however old the response.
        assert_eq!(
            at(b"20261101000000Z", Some(b"20261108000000Z"), true),
            Some("revoked")
        );
        // Fractions of a second (outside RFC 5280's profile, but seen): the 14 digits count.
        assert_eq!(
            at(b"20261205000000.5Z", Some(b"20261212000000Z"), false),
            Some("good")
        );
    }

    #[test]
    fn garbage_is_unknown() {
        assert_eq!(stapled_status(b"", b"\x01"), "unknown");
        assert_eq!(stapled_status(b"\x30\x03\x0a\x01\x01", b"\x01"), "unknown");
        for n in 0..200u8 {
            let v: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
            let _ = stapled_status(&v, b"\x01");
        }
    }
}
