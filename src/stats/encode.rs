//! Histograms as text: the HdrHistogram "V2 compressed" encoding in base64, the
//! form every HdrHistogram implementation reads (it is also the payload of an
//! interval-log line). The JSON report carries its histograms this way so that
//! reports of several runs merge exactly.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// The name of the encoding, as written into the JSON report.
pub const ENCODING: &str = "hdrhistogram-v2-deflate-base64";

/// `h` in the V2 compressed encoding, base64 (standard alphabet, padded).
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into memory cannot fail");
    STANDARD.encode(bytes)
}

/// Decodes what [`encode`] (or any HdrHistogram implementation's V2 or V2
/// compressed encoding, base64) produced.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("not an HdrHistogram encoding: {e:?}"))
}

/// Adds `src` into `dst` exactly when both share the recorder's bounds, else value by
/// value, clamping what does not fit into `dst`'s range.
pub fn add_clamped(dst: &mut Histogram<u64>, src: &Histogram<u64>) {
    if dst.add(src).is_ok() {
        return;
    }
    for v in src.iter_recorded() {
        let value = src.lowest_equivalent(v.value_iterated_to());
        dst.saturating_record_n(value.clamp(dst.low(), dst.high()), v.count_at_value());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Recorder;

    #[test]
    fn encoding_round_trips() {
        let mut h = Recorder::empty_histogram();
        for v in [1, 999, 12_345, 7_000_000, 3_000_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.max(), h.max());
        let empty = decode(&encode(&Recorder::empty_histogram())).unwrap();
        assert!(empty.is_empty());
        assert!(decode("not base64!").is_err());
        assert!(decode("AAAA").is_err());
    }
}
