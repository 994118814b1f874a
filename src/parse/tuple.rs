//! Parsing one comma-separated flow tuple.
//!
//! Why: tuples are the bulk of every blob (tens of millions a day), so this is the hot path:
//! no allocation, no regex, one pass over the bytes. Each field failure names its reason so a
//! rejected tuple can be explained.

use std::net::IpAddr;

use super::RejectReason;

/// Which tuple layout a record uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TupleFormat {
    /// NSG v1: `ts,src,dst,sport,dport,T|U,I|O,A|D` (8 fields).
    NsgV1,
    /// NSG v2: v1 plus `state,pkts_s2d,bytes_s2d,pkts_d2s,bytes_d2s` (13 fields).
    NsgV2,
    /// VNet v4: `ts,src,dst,sport,dport,proto,I|O,B|C|E|D,enc,pkts_s2d,bytes_s2d,pkts_d2s,bytes_d2s`.
    VnetV4,
}

impl TupleFormat {
    fn field_count(self) -> usize {
        match self {
            TupleFormat::NsgV1 => 8,
            TupleFormat::NsgV2 | TupleFormat::VnetV4 => 13,
        }
    }
}

/// Direction seen from the NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `I`
    Inbound,
    /// `O`
    Outbound,
}

/// Flow state of NSG v2 and VNet tuples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    /// `B`: the flow started; no counters yet.
    Begin,
    /// `C`: the flow goes on; counters are deltas since the previous tuple.
    Continuing,
    /// `E`: the flow ended; counters are deltas since the previous tuple.
    End,
    /// `D` (VNet only): the flow was denied.
    Deny,
}

impl FlowState {
    /// Every state, in declaration order: `ALL[s as usize] == s`.
    pub const ALL: [FlowState; 4] = [
        FlowState::Begin,
        FlowState::Continuing,
        FlowState::End,
        FlowState::Deny,
    ];

    /// Text stored in the lake.
    pub fn as_str(self) -> &'static str {
        match self {
            FlowState::Begin => "begin",
            FlowState::Continuing => "continuing",
            FlowState::End => "end",
            FlowState::Deny => "deny",
        }
    }
}

/// Four delta counters; `None` when the field was empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets source → destination.
    pub packets_s2d: Option<i64>,
    /// Bytes source → destination.
    pub bytes_s2d: Option<i64>,
    /// Packets destination → source.
    pub packets_d2s: Option<i64>,
    /// Bytes destination → source.
    pub bytes_d2s: Option<i64>,
}

/// One parsed tuple. Borrowed text points into the blob.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuple<'a> {
    /// Tuple time in microseconds since the epoch (UTC).
    pub time_us: i64,
    /// Source address text as written (canonical when `src` is IPv4).
    pub src_text: &'a str,
    /// Parsed source address.
    pub src: IpAddr,
    /// Destination address text as written.
    pub dst_text: &'a str,
    /// Parsed destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: i32,
    /// Destination port.
    pub dst_port: i32,
    /// IANA protocol number.
    pub protocol: i32,
    /// Inbound or outbound.
    pub direction: Direction,
    /// True when allowed.
    pub allowed: bool,
    /// Flow state (None for NSG v1).
    pub state: Option<FlowState>,
    /// VNet encryption status.
    pub encryption: Option<&'a str>,
    /// Delta counters.
    pub counters: Counters,
}

/// Earliest and latest accepted tuple time (2000-01-01 .. 2100-01-01), in seconds.
const MIN_TS_S: i64 = 946_684_800;
const MAX_TS_S: i64 = 4_102_444_800;

/// A tuple that failed, with the reason and a human explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TupleError {
    /// Machine-readable reason.
    pub reason: RejectReason,
    /// What was wrong, for humans.
    pub detail: String,
}

fn err(reason: RejectReason, detail: String) -> TupleError {
    TupleError { reason, detail }
}

/// Parses one tuple in the given layout: in one pass where it is well formed
/// ([`super::tuple_fast`]), else field by field, naming what is wrong.
#[inline]
pub fn parse_tuple(s: &str, fmt: TupleFormat) -> Result<Tuple<'_>, TupleError> {
    match super::tuple_fast::parse(s, fmt) {
        Some(t) => Ok(t),
        None => parse_checked(s, fmt),
    }
}

/// Parses one tuple field by field, checking each.
fn parse_checked(s: &str, fmt: TupleFormat) -> Result<Tuple<'_>, TupleError> {
    // Split on commas by hand: tuples are short, so a byte loop beats a searcher per field.
    let mut f: [&str; 13] = [""; 13];
    let mut n = 0;
    let mut start = 0;
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b',' {
            if n < 13 {
                f[n] = &s[start..i];
            }
            n += 1;
            start = i + 1;
        }
    }
    if n < 13 {
        f[n] = &s[start..];
    }
    n += 1;
    let want = fmt.field_count();
    if n != want {
        let got = n;
        return Err(err(
            RejectReason::WrongFieldCount,
            format!("expected {want} fields, found {got}"),
        ));
    }
    let time_us = parse_ts(f[0], fmt)?;
    let src = parse_ip(f[1], "source")?;
    let dst = parse_ip(f[2], "destination")?;
    let src_port = parse_port(f[3], "source")?;
    let dst_port = parse_port(f[4], "destination")?;
    let protocol = match fmt {
        TupleFormat::NsgV1 | TupleFormat::NsgV2 => match f[5] {
            "T" => 6,
            "U" => 17,
            other => {
                return Err(err(
                    RejectReason::InvalidProtocol,
                    format!("protocol {other:?} is not T or U"),
                ));
            }
        },
        TupleFormat::VnetV4 => match f[5].parse::<u8>() {
            Ok(p) => i32::from(p),
            Err(_) => {
                return Err(err(
                    RejectReason::InvalidProtocol,
                    format!("protocol {:?} is not a number 0..255", f[5]),
                ));
            }
        },
    };
    let direction = match f[6] {
        "I" => Direction::Inbound,
        "O" => Direction::Outbound,
        other => {
            return Err(err(
                RejectReason::InvalidField,
                format!("direction {other:?} is not I or O"),
            ));
        }
    };
    let (allowed, state, encryption, counters) = match fmt {
        TupleFormat::NsgV1 => (parse_decision(f[7])?, None, None, Counters::default()),
        TupleFormat::NsgV2 => {
            let allowed = parse_decision(f[7])?;
            let state = match f[8] {
                "B" => FlowState::Begin,
                "C" => FlowState::Continuing,
                "E" => FlowState::End,
                other => {
                    return Err(err(
                        RejectReason::InvalidField,
                        format!("flow state {other:?} is not B, C or E"),
                    ));
                }
            };
            (allowed, Some(state), None, parse_counters(&f[9..13])?)
        }
        TupleFormat::VnetV4 => {
            let state = match f[7] {
                "B" => FlowState::Begin,
                "C" => FlowState::Continuing,
                "E" => FlowState::End,
                "D" => FlowState::Deny,
                other => {
                    return Err(err(
                        RejectReason::InvalidField,
                        format!("flow state {other:?} is not B, C, E or D"),
                    ));
                }
            };
            let enc = if f[8].is_empty() { None } else { Some(f[8]) };
            (
                state != FlowState::Deny,
                Some(state),
                enc,
                parse_counters(&f[9..13])?,
            )
        }
    };
    Ok(Tuple {
        time_us,
        src_text: f[1],
        src,
        dst_text: f[2],
        dst,
        src_port,
        dst_port,
        protocol,
        direction,
        allowed,
        state,
        encryption,
        counters,
    })
}

fn parse_decision(s: &str) -> Result<bool, TupleError> {
    match s {
        "A" => Ok(true),
        "D" => Ok(false),
        other => Err(err(
            RejectReason::InvalidField,
            format!("decision {other:?} is not A or D"),
        )),
    }
}

/// Parses a run of ASCII digits (no sign, no blanks) into a u64, or None.
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for b in s.bytes() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

fn parse_ts(s: &str, fmt: TupleFormat) -> Result<i64, TupleError> {
    let Some(v) = digits(s) else {
        return Err(err(
            RejectReason::InvalidTimestamp,
            format!("timestamp {s:?} is not a number"),
        ));
    };
    timestamp_us(v, fmt).ok_or_else(|| {
        err(
            RejectReason::InvalidTimestamp,
            format!("timestamp {s} is outside 2000..2100"),
        )
    })
}

/// A tuple's timestamp `v` in microseconds, `None` outside 2000..2100. NSG timestamps are
/// seconds. VNet timestamps are milliseconds in practice and seconds in one documented
/// example: they are told apart by magnitude.
pub(super) fn timestamp_us(v: u64, fmt: TupleFormat) -> Option<i64> {
    let v = i64::try_from(v).ok()?;
    let us = match fmt {
        TupleFormat::VnetV4 if v >= 100_000_000_000 => v.checked_mul(1_000),
        _ => v.checked_mul(1_000_000),
    }?;
    (MIN_TS_S * 1_000_000..MAX_TS_S * 1_000_000)
        .contains(&us)
        .then_some(us)
}

fn parse_ip(s: &str, which: &str) -> Result<IpAddr, TupleError> {
    s.parse::<IpAddr>().map_err(|_| {
        err(
            RejectReason::InvalidIp,
            format!("{which} address {s:?} is not an IP address"),
        )
    })
}

fn parse_port(s: &str, which: &str) -> Result<i32, TupleError> {
    match digits(s) {
        Some(p) if p <= 65_535 => Ok(p as i32),
        Some(p) => Err(err(
            RejectReason::InvalidPort,
            format!("{which} port {p} is above 65535"),
        )),
        None => Err(err(
            RejectReason::InvalidPort,
            format!("{which} port {s:?} is not a number"),
        )),
    }
}

fn parse_counters(f: &[&str]) -> Result<Counters, TupleError> {
    let one = |s: &str, name: &str| -> Result<Option<i64>, TupleError> {
        if s.is_empty() {
            return Ok(None);
        }
        match digits(s).and_then(|v| i64::try_from(v).ok()) {
            Some(v) => Ok(Some(v)),
            None => Err(err(
                RejectReason::InvalidCounter,
                format!("{name} {s:?} is not a count"),
            )),
        }
    };
    Ok(Counters {
        packets_s2d: one(f[0], "packets source to destination")?,
        bytes_s2d: one(f[1], "bytes source to destination")?,
        packets_d2s: one(f[2], "packets destination to source")?,
        bytes_d2s: one(f[3], "bytes destination to source")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_states_are_listed_in_declaration_order() {
        for (i, s) in FlowState::ALL.into_iter().enumerate() {
            assert_eq!(s as usize, i, "{s:?}");
        }
        assert_eq!(FlowState::Deny as usize + 1, FlowState::ALL.len());
    }

    #[test]
    fn nsg_v2_begin_has_null_counters() {
        let t = parse_tuple(
            "1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A,B,,,,",
            TupleFormat::NsgV2,
        )
        .unwrap();
        assert_eq!(t.time_us, 1_542_110_377_000_000);
        assert_eq!(t.protocol, 6);
        assert_eq!(t.state, Some(FlowState::Begin));
        assert_eq!(t.counters, Counters::default());
    }

    #[test]
    fn vnet_seconds_and_millis_by_magnitude() {
        let ms = parse_tuple(
            "1663146003599,10.0.0.6,52.239.184.180,23956,443,6,O,B,NX,0,0,0,0",
            TupleFormat::VnetV4,
        )
        .unwrap();
        assert_eq!(ms.time_us, 1_663_146_003_599_000);
        assert_eq!(ms.counters.bytes_s2d, Some(0));
        let s = parse_tuple(
            "1708978215,203.0.113.105,10.0.0.5,35370,23,6,I,E,NX,52,29952,47,27072",
            TupleFormat::VnetV4,
        )
        .unwrap();
        assert_eq!(s.time_us, 1_708_978_215_000_000);
    }

    #[test]
    fn vnet_state_d_is_deny() {
        let t = parse_tuple(
            "1663145998065,101.33.218.153,10.0.0.6,55188,22,6,I,D,NX,0,0,0,0",
            TupleFormat::VnetV4,
        )
        .unwrap();
        assert!(!t.allowed);
        assert_eq!(t.state, Some(FlowState::Deny));
    }

    /// Well-formed tuples of each layout, and each as the one-pass parser must take it.
    const WELL_FORMED: [(&str, TupleFormat); 8] = [
        (
            "1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A",
            TupleFormat::NsgV1,
        ),
        (
            "1542110377,0.0.0.0,255.255.255.255,0,65535,U,I,D",
            TupleFormat::NsgV1,
        ),
        (
            "1542110377,10.5.16.4,13.67.143.118,59831,443,T,O,A,B,,,,",
            TupleFormat::NsgV2,
        ),
        (
            "1542110377,10.5.16.4,1.2.3.4,59831,443,U,I,D,E,12,3400,9,1200",
            TupleFormat::NsgV2,
        ),
        (
            "1663146003599,10.0.0.6,52.239.184.180,23956,443,6,O,B,NX,0,0,0,0",
            TupleFormat::VnetV4,
        ),
        (
            "1708978215,203.0.113.105,10.0.0.5,35370,23,17,I,D,,52,29952,,",
            TupleFormat::VnetV4,
        ),
        (
            "1708978215,203.0.113.105,10.0.0.5,35370,23,255,I,C,ENC,,,,7",
            TupleFormat::VnetV4,
        ),
        (
            "1708978215,10.0.0.5,10.0.0.6,1,2,6,O,E,X,123456789,1234567890123456789,12345678,87654321",
            TupleFormat::VnetV4,
        ),
    ];

    #[test]
    fn the_one_pass_parser_takes_well_formed_tuples_as_the_checked_one_does() {
        for (s, fmt) in WELL_FORMED {
            let fast = super::super::tuple_fast::parse(s, fmt);
            assert!(fast.is_some(), "the one-pass parser takes {s}");
            assert_eq!(fast.map(Ok), Some(parse_checked(s, fmt)), "{s}");
        }
    }

    #[test]
    fn the_one_pass_parser_leaves_what_it_cannot_read_to_the_checked_one() {
        // Every deletion, replacement and insertion of one byte in each well-formed tuple:
        // where the one-pass parser gives a tuple, the checked one gives the same.
        let bytes = b"0123456789.,:ABCDEINOTUX -+";
        let mut taken = 0;
        let mut left = 0;
        for (s, fmt) in WELL_FORMED {
            let mut variants = Vec::new();
            for i in 0..=s.len() {
                let (head, tail) = s.split_at(i);
                if !tail.is_empty() {
                    variants.push(format!("{head}{}", &tail[1..]));
                }
                for &b in bytes {
                    let b = char::from(b);
                    variants.push(format!("{head}{b}{tail}"));
                    if !tail.is_empty() {
                        variants.push(format!("{head}{b}{}", &tail[1..]));
                    }
                }
            }
            for v in variants {
                match super::super::tuple_fast::parse(&v, fmt) {
                    Some(fast) => {
                        taken += 1;
                        assert_eq!(Ok(fast), parse_checked(&v, fmt), "{v}");
                    }
                    None => left += 1,
                }
            }
        }
        assert!(taken > 1000 && left > 1000, "{taken} taken, {left} left");
        // Forms the one-pass parser leaves to the checked one, which reads the first four
        // (IPv6, long numbers, a signed protocol) and refuses the rest.
        let v1 = |s| (s, TupleFormat::NsgV1);
        let v4 = |s| (s, TupleFormat::VnetV4);
        let forms = [
            v1("1542110377,::1,10.0.0.1,1,2,T,O,A"),
            v1("1542110377,10.0.0.1,10.0.0.2,000443,2,T,O,A"),
            v4("1663146003599,10.0.0.6,1.2.3.4,1,443,+6,O,B,NX,0,0,0,0"),
            v4("1663146003599,10.0.0.6,1.2.3.4,1,443,0006,O,B,NX,0,0,0,0"),
            v1("1542110377,010.0.0.1,10.0.0.2,1,2,T,O,A"),
            v1("1542110377,10.0.0.256,10.0.0.2,1,2,T,O,A"),
            v1("1542110377,10.0.0,10.0.0.2,1,2,T,O,A"),
            v1("1542110377,10.0.0.1.1,10.0.0.2,1,2,T,O,A"),
            v1("1542110377,10.0.0.1,10.0.0.2,1,2,T,O,A,"),
            v1("99999999999999999999,10.0.0.1,10.0.0.2,1,2,T,O,A"),
            v4("1663146003599,10.0.0.6,1.2.3.4,1,443,6,O,B,NX,0,0,0,99999999999999999999"),
            v4("1663146003599,10.0.0.6,1.2.3.4,1,443,6,O,B,NX,99999999999999999999,0,0,0"),
        ];
        for (k, (s, fmt)) in forms.into_iter().enumerate() {
            assert_eq!(super::super::tuple_fast::parse(s, fmt), None, "{s}");
            assert_eq!(parse_tuple(s, fmt).is_ok(), k < 4, "{s}");
        }
    }

    #[test]
    fn bad_tuples_name_their_reason() {
        let cases = [
            ("1,2,3", TupleFormat::NsgV1, RejectReason::WrongFieldCount),
            (
                "1542110377,10.5.16.4,1.2.3.4,1,2,T,O,A,B,,,,,,",
                TupleFormat::NsgV2,
                RejectReason::WrongFieldCount,
            ),
            (
                "1542110377,10.5.16.999,1.2.3.4,1,2,T,O,A",
                TupleFormat::NsgV1,
                RejectReason::InvalidIp,
            ),
            (
                "1542110377,10.5.16.9,1.2.3.4,1,65536,T,O,A",
                TupleFormat::NsgV1,
                RejectReason::InvalidPort,
            ),
            (
                "1542110377,10.5.16.9,1.2.3.4,-1,22,T,O,A",
                TupleFormat::NsgV1,
                RejectReason::InvalidPort,
            ),
            (
                "1542110377,10.5.16.9,1.2.3.4,1,22,X,O,A",
                TupleFormat::NsgV1,
                RejectReason::InvalidProtocol,
            ),
            (
                "1542110377,10.5.16.9,1.2.3.4,1,22,T,O,A,E,1,x,1,1",
                TupleFormat::NsgV2,
                RejectReason::InvalidCounter,
            ),
            (
                "abc,10.5.16.9,1.2.3.4,1,22,T,O,A",
                TupleFormat::NsgV1,
                RejectReason::InvalidTimestamp,
            ),
            (
                "154211037,10.5.16.9,1.2.3.4,1,22,T,O,A",
                TupleFormat::NsgV1,
                RejectReason::InvalidTimestamp,
            ),
            (
                "1542110377,10.5.16.9,1.2.3.4,1,22,T,X,A",
                TupleFormat::NsgV1,
                RejectReason::InvalidField,
            ),
            (
                "1663146003599,10.0.0.6,1.2.3.4,1,443,300,O,B,NX,0,0,0,0",
                TupleFormat::VnetV4,
                RejectReason::InvalidProtocol,
            ),
        ];
        for (s, fmt, want) in cases {
            assert_eq!(parse_tuple(s, fmt).unwrap_err().reason, want, "{s}");
        }
    }
}
