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

#[cfg(test)]
pub(crate) mod tests {
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
