//! Fuzz the legacy probe's ServerHello-flight parser and the OCSP status reader: arbitrary
//! server bytes must never panic, and parsed facts must stay within their bounds.
#![no_main]

use dvc_audit::probe::{hello, ocsp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(hello::MAX_FLIGHT_BYTES)];
    if let Ok(flight) = hello::parse_server_flight(data) {
        assert!(flight.certificates.len() <= hello::MAX_CERTS);
        if let Some(bits) = flight.dhe_prime_bits {
            assert!(bits as usize <= data.len() * 8);
        }
    }
    let _ = ocsp::stapled_status(data, &[1]);
});
