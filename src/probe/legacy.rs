//! The legacy probe: one ClientHello per question, read the answer, hang up.
//!
//! Questions: does the host accept TLS 1.0? TLS 1.1? (and TLS 1.2 with any suite, asked only
//! when rustls could not complete a 1.2 handshake, e.g. CBC-only or DHE-only servers); does it
//! choose a 3DES, RC4, NULL or EXPORT suite when only those are offered; and when only DHE
//! suites are offered, how large is its prime? Each question is one TCP connection, bounded
//! by the connect and handshake timeouts and by [`hello::MAX_FLIGHT_BYTES`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::hello::{self, ServerFlight, SuiteClass};
use super::net::{Failure, connect};

/// One legacy question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Accepts this protocol version (with any suite the probe knows).
    Version(u16),
    /// Chooses a suite of this class when offered only those.
    Weak(SuiteClass),
    /// The DHE prime size when offered only DHE suites.
    Dhe,
}

impl Question {
    /// The question in words, for the reason of an unknown answer.
    fn describe(self) -> String {
        match self {
            Question::Version(v) => format!("{} version", hello::version_name(v)),
            Question::Weak(class) => format!("{class:?} suite"),
            Question::Dhe => "DHE prime".to_string(),
        }
    }
}

/// The answer to one question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// The server accepted what was asked (version matched / a suite of the class chosen).
    pub accepted: bool,
    /// Name of the chosen suite, when accepted.
    pub suite: String,
    /// The protocol version of the ServerHello, when accepted (wire value).
    pub version: u16,
    pub dhe_prime_bits: Option<u32>,
    /// Chain seen in the Certificate message (TLS ≤ 1.2 only).
    pub certificates: Vec<Vec<u8>>,
}

/// Ask one question of `addr`. A refusal (alert, close, garbage) is `Ok` with
/// `accepted = false`; only an unreachable host is `Err`.
pub async fn ask(
    q: Question,
    addr: SocketAddr,
    host: &str,
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<Answer, Failure> {
    let (version, classes): (u16, &[SuiteClass]) = match q {
        Question::Version(v) => (
            v,
            &[
                SuiteClass::Modern,
                SuiteClass::Dhe,
                SuiteClass::TripleDes,
                SuiteClass::Rc4,
            ],
        ),
        Question::Weak(SuiteClass::TripleDes) => (hello::TLS1_2, &[SuiteClass::TripleDes]),
        Question::Weak(SuiteClass::Rc4) => (hello::TLS1_2, &[SuiteClass::Rc4]),
        Question::Weak(SuiteClass::Null) => (hello::TLS1_2, &[SuiteClass::Null]),
        Question::Weak(SuiteClass::Export) => (hello::TLS1_2, &[SuiteClass::Export]),
        Question::Weak(SuiteClass::Anon) => (hello::TLS1_2, &[SuiteClass::Anon]),
        Question::Weak(_) | Question::Dhe => (hello::TLS1_2, &[SuiteClass::Dhe]),
    };
    let offered = hello::suite_ids(classes);
    let wire = hello::client_hello(version, &offered, host, rand::random());
    let mut tcp = connect(addr, connect_timeout).await?;
    let want_dhe = matches!(q, Question::Dhe);
    // What was read so far survives the timeout: a ServerHello answers the question even when
    // the rest of the flight (a large chain, the key exchange) did not arrive in time.
    let mut flight = ServerFlight::default();
    let read = tokio::time::timeout(read_timeout, async {
        if tcp.write_all(&wire).await.is_ok() {
            read_flight(&mut tcp, want_dhe, &mut flight).await;
        }
    })
    .await;
    // Silence is not a refusal: a host (or a filter before it) that never answers an old
    // hello has not said it does not speak the version or suite, so the answer is unknown.
    if read.is_err() && flight.hello.is_none() && flight.alert.is_none() {
        return Err(Failure::timeout(format!(
            "no answer to the {} question within {} ms",
            q.describe(),
            read_timeout.as_millis()
        )));
    }

    let mut answer = Answer {
        certificates: flight.certificates,
        dhe_prime_bits: flight.dhe_prime_bits,
        ..Answer::default()
    };
    if let Some(h) = flight.hello
        && offered.contains(&h.suite)
    {
        answer.accepted = match q {
            Question::Version(v) => h.version == v,
            _ => true,
        };
        if answer.accepted {
            answer.version = h.version;
            answer.suite = hello::suite(h.suite)
                .map(|s| s.name.to_string())
                .unwrap_or_default();
        }
    }
    Ok(answer)
}

/// Read until the flight says enough: a ServerHello (plus, for DHE, the key exchange), an
/// alert, the end of the flight, EOF, a parse error, or the byte bound. `last` holds the
/// flight as parsed so far (the caller keeps it when its timeout cuts the read short).
async fn read_flight(tcp: &mut tokio::net::TcpStream, want_dhe: bool, last: &mut ServerFlight) {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        match hello::parse_server_flight(&buf) {
            Err(_) => return,
            Ok(f) => {
                let enough = f.ended
                    || f.alert.is_some()
                    || (f.hello.is_some()
                        && if want_dhe {
                            f.dhe_prime_bits.is_some()
                        } else {
                            !f.certificates.is_empty()
                        });
                *last = f;
                if enough || buf.len() >= hello::MAX_FLIGHT_BYTES {
                    return;
                }
            }
        }
    }
}
