//! One pass over a well-formed tuple.
//!
//! Why: tuples are the bulk of every blob, and the checked parser ([`super::tuple`]) first
//! splits a tuple at every comma, then reads each field again, IPv4 addresses through the
//! standard library's general address parser: a fifth of ingest's CPU time. Here each field
//! is read as it is met, in one pass, and addresses by a dotted-quad reader. It accepts a
//! strict subset of what the checked parser accepts (four decimal octets, numbers of the
//! usual lengths, the one-letter codes) and gives the same tuple for it; anything else
//! (IPv6, a bad field, a wrong field count) returns `None`, and the checked parser then
//! parses the tuple again, or names what is wrong with it.

use std::net::{IpAddr, Ipv4Addr};

use super::tuple::{Counters, Direction, FlowState, Tuple, TupleFormat, timestamp_us};

/// The tuple `s` in layout `fmt`, or `None` where the checked parser must look at it.
pub(super) fn parse(s: &str, fmt: TupleFormat) -> Option<Tuple<'_>> {
    let mut c = Cursor { s, at: 0 };
    let time_us = timestamp_us(c.number(19)?, fmt)?;
    let (src, src_text) = c.ipv4()?;
    let (dst, dst_text) = c.ipv4()?;
    let src_port = c.port()?;
    let dst_port = c.port()?;
    let protocol = match fmt {
        TupleFormat::NsgV1 | TupleFormat::NsgV2 => match c.letter()? {
            b'T' => 6,
            b'U' => 17,
            _ => return None,
        },
        TupleFormat::VnetV4 => i32::try_from(c.number(3)?).ok().filter(|p| *p <= 255)?,
    };
    let direction = match c.letter()? {
        b'I' => Direction::Inbound,
        b'O' => Direction::Outbound,
        _ => return None,
    };
    let decision = |l: u8| match l {
        b'A' => Some(true),
        b'D' => Some(false),
        _ => None,
    };
    let (allowed, state, encryption, counters) = match fmt {
        TupleFormat::NsgV1 => (decision(c.last_letter()?)?, None, None, Counters::default()),
        TupleFormat::NsgV2 => {
            let allowed = decision(c.letter()?)?;
            (allowed, Some(c.state(fmt)?), None, c.counters()?)
        }
        TupleFormat::VnetV4 => {
            let state = c.state(fmt)?;
            let enc = c.text()?;
            let enc = (!enc.is_empty()).then_some(enc);
            (state != FlowState::Deny, Some(state), enc, c.counters()?)
        }
    };
    Some(Tuple {
        time_us,
        src_text,
        src: IpAddr::V4(src),
        dst_text,
        dst: IpAddr::V4(dst),
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

/// The position in a tuple: fields are read in order, each with the comma after it.
struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn byte(&self, i: usize) -> Option<u8> {
        self.s.as_bytes().get(i).copied()
    }

    /// Moves past the comma at `i`, which ends a field.
    fn comma(&mut self, i: usize) -> Option<()> {
        (self.byte(i)? == b',').then(|| self.at = i + 1)
    }

    /// Decimal digits from `i` up to the first other byte: their value and the position
    /// after them; `None` unless there are 1 to `max` digits.
    fn digits(&self, mut i: usize, max: usize) -> Option<(u64, usize)> {
        let b = self.s.as_bytes();
        let start = i;
        let mut v: u64 = 0;
        while i < b.len() {
            let d = b[i].wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            if i - start == max {
                return None;
            }
            v = v * 10 + u64::from(d);
            i += 1;
        }
        (i > start).then_some((v, i))
    }

    /// A field of 1 to `max` digits (`max` ≤ 19, so the value fits).
    fn number(&mut self, max: usize) -> Option<u64> {
        let (v, end) = self.digits(self.at, max)?;
        self.comma(end)?;
        Some(v)
    }

    fn port(&mut self) -> Option<i32> {
        let p = self.number(5)?;
        (p <= 65_535).then_some(p as i32)
    }

    /// A field of one letter.
    fn letter(&mut self) -> Option<u8> {
        let l = self.byte(self.at)?;
        self.comma(self.at + 1)?;
        Some(l)
    }

    /// A flow state's letter (`D`, deny, in VNet tuples only).
    fn state(&mut self, fmt: TupleFormat) -> Option<FlowState> {
        Some(match self.letter()? {
            b'B' => FlowState::Begin,
            b'C' => FlowState::Continuing,
            b'E' => FlowState::End,
            b'D' if fmt == TupleFormat::VnetV4 => FlowState::Deny,
            _ => return None,
        })
    }

    /// The last field, of one letter.
    fn last_letter(&mut self) -> Option<u8> {
        (self.s.len() == self.at + 1).then(|| self.s.as_bytes()[self.at])
    }

    /// A field's text, up to the next comma.
    fn text(&mut self) -> Option<&'a str> {
        let rest = &self.s[self.at..];
        let len = rest.bytes().position(|b| b == b',')?;
        self.at += len + 1;
        Some(&rest[..len])
    }

    /// The four counter fields, which end the tuple.
    #[inline(always)]
    fn counters(&mut self) -> Option<Counters> {
        Some(Counters {
            packets_s2d: self.counter()?,
            bytes_s2d: self.counter()?,
            packets_d2s: self.counter()?,
            bytes_d2s: self.last_counter()?,
        })
    }

    /// A counter field: empty (`None`) or 1 to 19 digits.
    fn counter(&mut self) -> Option<Option<i64>> {
        if self.byte(self.at)? == b',' {
            self.at += 1;
            return Some(None);
        }
        let v = self.number(19)?;
        Some(Some(i64::try_from(v).ok()?))
    }

    /// The last field, a counter.
    fn last_counter(&mut self) -> Option<Option<i64>> {
        if self.at == self.s.len() {
            return Some(None);
        }
        let (v, end) = self.digits(self.at, 19)?;
        (end == self.s.len()).then_some(())?;
        Some(Some(i64::try_from(v).ok()?))
    }

    /// A field holding an IPv4 address as the standard library reads one (four decimal
    /// octets of one to three digits, none above 255, no leading zero), and its text.
    /// The field and its comma are at most 16 bytes, read from a fixed window of 16 (so no
    /// byte is bounds-checked); where fewer are left the checked parser reads the tuple,
    /// which never happens in a tuple of any layout (ports and codes follow).
    fn ipv4(&mut self) -> Option<(Ipv4Addr, &'a str)> {
        let start = self.at;
        let w: &[u8; 16] = self.s.as_bytes().get(start..start + 16)?.try_into().ok()?;
        // The digit at `j` (10 or more for any other byte); `j` is below 16 throughout (an
        // octet starts at 12 at the latest and reads three bytes), the mask tells the compiler.
        let digit = |j: usize| u32::from(w[j & 15].wrapping_sub(b'0'));
        let mut i = 0;
        let mut octets = [0u8; 4];
        for (k, octet) in octets.iter_mut().enumerate() {
            let (d0, d1, d2) = (digit(i), digit(i + 1), digit(i + 2));
            let (v, len) = if d0 > 9 {
                return None;
            } else if d1 > 9 {
                (d0, 1)
            } else if d0 == 0 {
                return None;
            } else if d2 > 9 {
                (d0 * 10 + d1, 2)
            } else {
                (d0 * 100 + d1 * 10 + d2, 3)
            };
            *octet = u8::try_from(v).ok()?;
            i += len;
            // A dot after each octet but the last, a comma after it (a fourth digit fails
            // here too).
            if w[i & 15] != if k == 3 { b',' } else { b'.' } {
                return None;
            }
            i += 1;
        }
        self.at = start + i;
        Some((Ipv4Addr::from(octets), self.s.get(start..start + i - 1)?))
    }
}
