//! COPY's binary format, as a stream: a header, tuples (a field count, then each field as a
//! length and that many bytes, length -1 for NULL), and a trailer (field count -1).
//! [`TupleReader`] cuts an arbitrary byte stream (COPY data messages in any sizes) into
//! whole tuples without copying field data; [`write_header`]/[`write_trailer`] frame them
//! again for `COPY ... FROM STDIN (FORMAT binary)`.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{Error, Result};

/// The 11-byte signature that opens every binary COPY stream.
pub(crate) const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// One tuple: its raw bytes (field count included) and the byte range of each field's data
/// within them (`None` for NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tuple {
    pub raw: Bytes,
    pub fields: Vec<Option<(usize, usize)>>,
}

impl Tuple {
    /// A field's data, `None` for NULL.
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        self.fields[i].map(|(start, end)| &self.raw[start..end])
    }
}

/// Cuts a binary COPY byte stream into tuples.
#[derive(Debug, Default)]
pub(crate) struct TupleReader {
    buf: BytesMut,
    header_done: bool,
    finished: bool,
}

impl TupleReader {
    pub fn new() -> TupleReader {
        TupleReader::default()
    }

    /// Adds bytes received from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether the trailer has been read.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The next whole tuple, if the buffered bytes hold one.
    pub fn next_tuple(&mut self) -> Result<Option<Tuple>> {
        if self.finished {
            return Ok(None);
        }
        if !self.header_done {
            if self.buf.len() < 19 {
                return Ok(None);
            }
            if &self.buf[..11] != SIGNATURE {
                return Err(Error::internal("COPY stream: bad binary signature"));
            }
            let ext = u32::from_be_bytes([self.buf[15], self.buf[16], self.buf[17], self.buf[18]])
                as usize;
            if self.buf.len() < 19 + ext {
                return Ok(None);
            }
            self.buf.advance(19 + ext);
            self.header_done = true;
        }
        if self.buf.len() < 2 {
            return Ok(None);
        }
        let count = i16::from_be_bytes([self.buf[0], self.buf[1]]);
        if count == -1 {
            self.buf.advance(2);
            self.finished = true;
            return Ok(None);
        }
        if count < 0 {
            return Err(Error::internal(format!(
                "COPY stream: bad field count {count}"
            )));
        }
        let mut pos = 2usize;
        let mut fields = Vec::with_capacity(count as usize);
        for _ in 0..count {
            if self.buf.len() < pos + 4 {
                return Ok(None);
            }
            let len = i32::from_be_bytes([
                self.buf[pos],
                self.buf[pos + 1],
                self.buf[pos + 2],
                self.buf[pos + 3],
            ]);
            pos += 4;
            if len == -1 {
                fields.push(None);
                continue;
            }
            if len < 0 {
                return Err(Error::internal(format!(
                    "COPY stream: bad field length {len}"
                )));
            }
            let len = len as usize;
            if self.buf.len() < pos + len {
                return Ok(None);
            }
            fields.push(Some((pos, pos + len)));
            pos += len;
        }
        let raw = self.buf.split_to(pos).freeze();
        Ok(Some(Tuple { raw, fields }))
    }
}

/// Walks a COPY stream (binary or text) row by row as it arrives, without keeping it: for
/// each row, the bytes of its fields (binary: every field's length and data; text: the
/// line) and the integer value of one field, if asked. A row cut across two pieces of the
/// stream is carried over.
#[derive(Debug)]
pub(crate) struct RowScanner {
    binary: bool,
    key_field: Option<usize>,
    header_done: bool,
    finished: bool,
    carry: Vec<u8>,
}

impl RowScanner {
    pub fn new(binary: bool, key_field: Option<usize>) -> RowScanner {
        RowScanner {
            binary,
            key_field,
            header_done: !binary,
            finished: false,
            carry: Vec::new(),
        }
    }

    /// Feeds the next piece of the stream; `each` gets every row it completes.
    pub fn push(&mut self, data: &[u8], each: &mut impl FnMut(&[u8], Option<i64>)) -> Result<()> {
        if self.carry.is_empty() {
            let used = self.scan(data, each)?;
            self.carry.extend_from_slice(&data[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.carry);
            buf.extend_from_slice(data);
            let used = self.scan(&buf, each)?;
            buf.drain(..used);
            self.carry = buf;
        }
        Ok(())
    }

    /// Whether the stream ended where it should: the binary trailer seen, no partial row.
    pub fn finished(&self) -> bool {
        self.carry.is_empty() && (self.finished || !self.binary)
    }

    /// Scans whole rows of `buf`; returns the bytes consumed.
    fn scan(&mut self, buf: &[u8], each: &mut impl FnMut(&[u8], Option<i64>)) -> Result<usize> {
        let mut pos = 0;
        if !self.binary {
            while let Some(end) = buf[pos..].iter().position(|&b| b == b'\n') {
                let line = &buf[pos..pos + end];
                let key = self.key_field.and_then(|k| {
                    line.split(|&b| b == b'\t')
                        .nth(k)
                        .and_then(|f| std::str::from_utf8(f).ok())
                        .and_then(|f| f.parse().ok())
                });
                each(line, key);
                pos += end + 1;
            }
            return Ok(pos);
        }
        if !self.header_done {
            if buf.len() < 19 {
                return Ok(0);
            }
            if &buf[..11] != SIGNATURE {
                return Err(Error::internal("COPY stream: bad binary signature"));
            }
            let ext = u32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]) as usize;
            if buf.len() < 19 + ext {
                return Ok(0);
            }
            pos = 19 + ext;
            self.header_done = true;
        }
        while !self.finished && buf.len() >= pos + 2 {
            let count = i16::from_be_bytes([buf[pos], buf[pos + 1]]);
            if count == -1 {
                self.finished = true;
                return Ok(pos + 2);
            }
            let mut at = pos + 2;
            let mut key = None;
            for i in 0..count.max(0) as usize {
                if buf.len() < at + 4 {
                    return Ok(pos);
                }
                let len = i32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
                at += 4;
                let len = len.max(0) as usize;
                if buf.len() < at + len {
                    return Ok(pos);
                }
                if self.key_field == Some(i) && len > 0 {
                    key = binary_int(&buf[at..at + len]).ok();
                }
                at += len;
            }
            each(&buf[pos + 2..at], key);
            pos = at;
        }
        Ok(pos)
    }
}

/// The bytes of a binary tuple's first `n` fields (their lengths and data), as
/// [`RowScanner`] gives them for a row of exactly those fields.
pub(crate) fn leading_fields(raw: &[u8], n: usize) -> &[u8] {
    let mut at = 2;
    for _ in 0..n {
        let len = i32::from_be_bytes([raw[at], raw[at + 1], raw[at + 2], raw[at + 3]]);
        at += 4 + len.max(0) as usize;
    }
    &raw[2..at]
}

/// The header of a binary COPY stream (no flags, no extension).
pub(crate) fn write_header(out: &mut BytesMut) {
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
}

/// The trailer of a binary COPY stream.
pub(crate) fn write_trailer(out: &mut BytesMut) {
    out.extend_from_slice(&(-1i16).to_be_bytes());
}

/// Reads an `int2`/`int4`/`int8` value in COPY's binary form.
pub(crate) fn binary_int(field: &[u8]) -> Result<i64> {
    Ok(match field.len() {
        2 => i16::from_be_bytes([field[0], field[1]]) as i64,
        4 => i32::from_be_bytes([field[0], field[1], field[2], field[3]]) as i64,
        8 => i64::from_be_bytes(field.try_into().expect("8 bytes")),
        n => {
            return Err(Error::internal(format!(
                "a key field of {n} bytes is not an integer"
            )));
        }
    })
}

#[cfg(test)]
pub(crate) mod tests {
    #[test]
    fn the_scanner_sees_the_rows_the_reader_sees_however_the_stream_is_cut() {
        let mut all = BytesMut::new();
        write_header(&mut all);
        for i in 0..50i64 {
            let text = format!("row {i}");
            write_tuple(
                &mut all,
                [
                    Some(&i.to_be_bytes()[..]),
                    if i % 7 == 0 {
                        None
                    } else {
                        Some(text.as_bytes())
                    },
                ]
                .into_iter(),
            );
        }
        write_trailer(&mut all);
        let mut reader = TupleReader::new();
        reader.push(&all);
        let mut want = Vec::new();
        while let Some(t) = reader.next_tuple().unwrap() {
            want.push((
                leading_fields(&t.raw, 2).to_vec(),
                Some(i64::from_be_bytes(t.field(0).unwrap().try_into().unwrap())),
            ));
        }
        assert_eq!(want.len(), 50);
        for step in [1, 3, 17, 1000] {
            let mut got = Vec::new();
            let mut s = RowScanner::new(true, Some(0));
            for piece in all.chunks(step) {
                s.push(piece, &mut |row, key| got.push((row.to_vec(), key)))
                    .unwrap();
            }
            assert!(s.finished());
            assert_eq!(got, want, "pieces of {step} bytes");
        }
        let text = b"1\tann\n2\t\\N\n30\tbob\n";
        let mut got = Vec::new();
        let mut s = RowScanner::new(false, Some(0));
        for piece in text.chunks(4) {
            s.push(piece, &mut |row, key| got.push((row.to_vec(), key)))
                .unwrap();
        }
        assert!(s.finished());
        assert_eq!(
            got,
            vec![
                (b"1\tann".to_vec(), Some(1)),
                (b"2\t\\N".to_vec(), Some(2)),
                (b"30\tbob".to_vec(), Some(30))
            ]
        );
    }

    use super::*;

    /// Writes a tuple made of the given fields (`None` = NULL).
    pub(crate) fn write_tuple<'a>(
        out: &mut BytesMut,
        fields: impl ExactSizeIterator<Item = Option<&'a [u8]>>,
    ) {
        out.extend_from_slice(&(fields.len() as i16).to_be_bytes());
        for f in fields {
            match f {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(d) => {
                    out.extend_from_slice(&(d.len() as i32).to_be_bytes());
                    out.extend_from_slice(d);
                }
            }
        }
    }

    fn stream(tuples: &[Vec<Option<&[u8]>>]) -> Vec<u8> {
        let mut out = BytesMut::new();
        write_header(&mut out);
        for t in tuples {
            write_tuple(&mut out, t.iter().copied());
        }
        write_trailer(&mut out);
        out.to_vec()
    }

    #[test]
    fn tuples_survive_any_split() {
        let data = stream(&[
            vec![Some(b"abc"), None, Some(b"")],
            vec![Some(&[0u8, 1, 2, 3]), Some(b"x")],
            vec![],
        ]);
        for step in [1, 2, 3, 7, 19, 20, 1000] {
            let mut r = TupleReader::new();
            let mut got = Vec::new();
            for piece in data.chunks(step) {
                r.push(piece);
                while let Some(t) = r.next_tuple().unwrap() {
                    got.push(t);
                }
            }
            assert!(r.finished(), "step {step}");
            assert_eq!(got.len(), 3, "step {step}");
            assert_eq!(got[0].field(0), Some(&b"abc"[..]));
            assert_eq!(got[0].field(1), None);
            assert_eq!(got[0].field(2), Some(&b""[..]));
            assert_eq!(got[1].field(0), Some(&[0u8, 1, 2, 3][..]));
            assert!(got[2].fields.is_empty());
        }
    }

    #[test]
    fn rejects_garbage() {
        let mut r = TupleReader::new();
        r.push(b"NOTPGCOPY\n\0\0\0\0\0\0\0\0\0\0");
        assert!(r.next_tuple().is_err());
        let mut r = TupleReader::new();
        let mut out = BytesMut::new();
        write_header(&mut out);
        out.extend_from_slice(&1i16.to_be_bytes());
        out.extend_from_slice(&(-7i32).to_be_bytes());
        r.push(&out);
        assert!(r.next_tuple().is_err());
    }
}
