//! What the fuzz targets in `fuzz/` exercise (feature `fuzzing`, not part of the API): the
//! code that reads bytes or text from outside, each run on any input against the properties
//! it must keep. Each function panics when a property breaks, which is what the fuzzer
//! reports; an error returned for bad input is fine.

use bytes::BytesMut;

use crate::copy::batch::{Built, target_tuple};
use crate::frames::{self, RowScanner, Tuple, TupleReader};
use crate::transform::keys;
use crate::{Config, Endpoint};

/// Cuts `data` into pieces at the offsets `cuts` (taken modulo its length, in order).
fn pieces<'a>(data: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&c| {
            if data.is_empty() {
                0
            } else {
                c as usize * data.len() / 256
            }
        })
        .collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for a in at.into_iter().chain([data.len()]) {
        out.push(&data[start..a]);
        start = a;
    }
    out
}

/// Every tuple a reader yields from `parts`, fed one after another, and the error that
/// stopped it, if one did.
fn read_all(parts: &[&[u8]]) -> (Vec<Tuple>, Option<String>, bool) {
    let mut r = TupleReader::new();
    let mut tuples = Vec::new();
    for p in parts {
        r.push(p);
        loop {
            match r.next_tuple() {
                Ok(Some(t)) => tuples.push(t),
                Ok(None) => break,
                Err(e) => return (tuples, Some(e.to_string()), false),
            }
        }
    }
    let finished = r.finished();
    (tuples, None, finished)
}

/// A binary COPY stream (`data`, after a valid header) arriving in pieces cut at `cuts`:
/// - [`TupleReader`] yields the same tuples, and the same error, however it is cut;
/// - every tuple's fields lie inside it and account for all its bytes;
/// - [`RowScanner`], on a stream the reader accepts, sees the same rows with the same key
///   (first field as an integer) and agrees on where the stream ends.
pub fn copy_frames(data: &[u8], cuts: &[u8]) {
    let mut stream = BytesMut::new();
    frames::write_header(&mut stream);
    stream.extend_from_slice(data);
    let whole = read_all(&[&stream]);
    let cut = read_all(&pieces(&stream, cuts));
    assert_eq!(whole.0, cut.0, "tuples depend on how the stream is cut");
    assert_eq!(whole.1, cut.1, "errors depend on how the stream is cut");
    assert_eq!(whole.2, cut.2, "the end depends on how the stream is cut");

    for t in &whole.0 {
        let mut at = 2;
        for f in &t.fields {
            at += 4;
            if let Some((a, b)) = *f {
                assert!(
                    a == at && a <= b && b <= t.raw.len(),
                    "field out of its tuple"
                );
                at = b;
            }
        }
        assert_eq!(at, t.raw.len(), "bytes outside every field");
    }

    if whole.1.is_some() {
        return;
    }
    let mut scanner = RowScanner::new(true, Some(0));
    let mut rows: Vec<(Vec<u8>, Option<i64>)> = Vec::new();
    for p in pieces(&stream, cuts) {
        scanner
            .push(p, &mut |row, key| rows.push((row.to_vec(), key)))
            .expect("the scanner refused a stream the reader accepted");
    }
    let expected: Vec<(Vec<u8>, Option<i64>)> = whole
        .0
        .iter()
        .map(|t| {
            let key = t
                .fields
                .first()
                .and_then(|_| t.field(0))
                .filter(|v| !v.is_empty())
                .and_then(|v| keys::binary_int(v).ok());
            (t.raw[2..].to_vec(), key)
        })
        .collect();
    assert_eq!(
        rows, expected,
        "the scanner and the reader see different rows"
    );
    // Past the trailer the reader stops reading; the scanner calls any byte left over an
    // unfinished stream (PostgreSQL sends none).
    if whole.2 {
        let trailer = stream.len() - whole.0.iter().map(|t| t.raw.len()).sum::<usize>() - 19;
        assert_eq!(scanner.finished(), trailer == 2, "the scanner's end");
    } else {
        assert!(
            !scanner.finished(),
            "the scanner ended a stream with no trailer"
        );
    }
}

/// Source tuples read from `data` rewritten for a DSQL target with UUID keys: a rewrite
/// either refuses the tuple or builds one that frames and reads back field for field,
/// with each integer key replaced by its UUID, the other fields unchanged and the key text
/// moved out of the row.
pub fn rewrite(data: &[u8]) {
    let mut stream = BytesMut::new();
    frames::write_header(&mut stream);
    stream.extend_from_slice(data);
    let (tuples, _, _) = read_all(&[&stream]);
    let t = crate::copy::batch::example_table();
    let ns = keys::default_namespace();
    for src in tuples {
        let Ok(Built { tuple, key, .. }) = target_tuple(&t, Some(&ns), None, &src) else {
            continue;
        };
        let mut framed = BytesMut::new();
        frames::write_header(&mut framed);
        framed.extend_from_slice(&tuple.raw);
        frames::write_trailer(&mut framed);
        let (back, err, finished) = read_all(&[&framed]);
        assert!(
            err.is_none() && finished,
            "a rewritten tuple does not frame"
        );
        assert_eq!(
            back,
            vec![tuple.clone()],
            "a rewritten tuple reads back otherwise"
        );
        assert_eq!(tuple.fields.len(), 3);
        for (i, prefix) in [(0, "public.users:"), (1, "public.orgs:")] {
            let expected = src
                .field(i)
                .map(|v| keys::key_uuid(&ns, prefix, keys::binary_int(v).expect("accepted")));
            assert_eq!(
                tuple.field(i),
                expected.as_ref().map(|u| &u.as_bytes()[..]),
                "key {i}"
            );
        }
        assert_eq!(tuple.field(2), src.field(2), "a plain field changed");
        assert_eq!(
            key,
            vec![String::from_utf8_lossy(src.field(3).unwrap_or_default()).into_owned()]
        );
    }
}

/// A connection string: parsing never panics; a refusal is one line; an accepted one
/// prints (without its password) as a string that parses back to the same user, hosts,
/// ports, database and TLS mode.
pub fn connection_string(input: &str) {
    let ep = match Endpoint::parse(input) {
        Err(e) => {
            assert!(!e.to_string().contains('\n'), "a two-line error: {e}");
            return;
        }
        Ok(ep) => ep,
    };
    let shown = ep.redacted();
    let again = Endpoint::parse(&shown)
        .unwrap_or_else(|e| panic!("the printed form {shown:?} does not parse: {e}"));
    let parts = |ep: &Endpoint| {
        let pg = ep.pg_config();
        let user = pg.get_user().unwrap_or_default().to_string();
        let ports: Vec<u16> = (0..pg.get_hosts().len())
            .map(|i| {
                pg.get_ports()
                    .get(i)
                    .or(pg.get_ports().first())
                    .copied()
                    .unwrap_or(5432)
            })
            .collect();
        (
            pg.get_dbname().unwrap_or(&user).to_string(),
            user,
            format!("{:?}", pg.get_hosts()),
            ports,
            ep.tls_mode(),
        )
    };
    assert_eq!(parts(&ep), parts(&again), "{input:?} printed as {shown:?}");
    assert!(again.pg_config().get_password().is_none(), "{shown:?}");
}

/// A config file: parsing never panics; a refusal is one line; an accepted config written
/// back out reads back to the same config.
pub fn config(input: &str) {
    match Config::from_toml(input) {
        Err(e) => assert!(!e.to_string().contains('\n'), "a two-line error: {e}"),
        Ok(c) => {
            let text = toml::to_string(&c).expect("an accepted config serializes");
            let again = Config::from_toml(&text).expect("a written config reads back");
            assert_eq!(
                toml::to_string(&again).expect("serializes"),
                text,
                "a config changes when written and read back"
            );
        }
    }
}
