//! The framed protocol between the gateway and `fwatchdog --once` (see
//! [`crate::once`]), spoken over a container's attached STDIN and STDOUT, so
//! it needs no network.
//!
//! A frame is a tag byte, a big-endian `u32` length and that many bytes.
//! The launcher says [`READY`] when it runs; the gateway sends one
//! [`START`] (the call's limits and `Http_*` variables), the input as
//! [`INPUT`] frames and an [`END`]; the launcher answers with [`STDOUT`]
//! and [`STDERR`] frames and one [`EXIT`], then exits.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::runner::Exit;

/// Launcher → gateway, once, when it waits for its call.
pub const READY: u8 = b'R';
/// Gateway → launcher: a [`Start`].
pub const START: u8 = b'S';
/// Gateway → launcher: a piece of the input.
pub const INPUT: u8 = b'I';
/// Gateway → launcher: the end of the input.
pub const END: u8 = b'E';
/// Launcher → gateway: a piece of STDOUT.
pub const STDOUT: u8 = b'1';
/// Launcher → gateway: a piece of STDERR.
pub const STDERR: u8 = b'2';
/// Launcher → gateway: how the run ended ([`encode_exit`]).
pub const EXIT: u8 = b'X';

/// The largest frame either side accepts; anything larger is a broken peer.
pub const MAX_FRAME: usize = 16 << 20;
/// The most bytes one data frame carries.
pub const CHUNK: usize = 64 << 10;

const HEAD: usize = 5;

/// One frame, as a tag and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    pub payload: Bytes,
}

/// The peer broke the protocol.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("a frame of {0} bytes, more than the protocol allows")]
    TooLarge(usize),
    #[error("a malformed {0} frame")]
    Malformed(&'static str),
}

/// Appends the frame `tag` + `payload` to `out`.
pub fn put(out: &mut BytesMut, tag: u8, payload: &[u8]) {
    out.reserve(HEAD + payload.len());
    out.put_u8(tag);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
}

/// Appends `data` as frames `tag` of at most [`CHUNK`] bytes each.
pub fn put_chunks(out: &mut BytesMut, tag: u8, data: &[u8]) {
    for chunk in data.chunks(CHUNK) {
        put(out, tag, chunk);
    }
}

/// Frames out of a byte stream that arrives in arbitrary pieces.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: BytesMut,
}

impl Decoder {
    /// Adds bytes as they arrived.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buffer.len() < HEAD {
            return Ok(None);
        }
        let len = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge(len));
        }
        if self.buffer.len() < HEAD + len {
            return Ok(None);
        }
        let tag = self.buffer[0];
        self.buffer.advance(HEAD);
        let payload = self.buffer.split_to(len).freeze();
        Ok(Some(Frame { tag, payload }))
    }
}

/// Reads one frame from `reader`; `None` at a clean end of the stream.
pub async fn read<R: AsyncRead + Unpin>(reader: &mut R) -> std::io::Result<Option<Frame>> {
    let mut head = [0u8; HEAD];
    match reader.read_exact(&mut head[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    reader.read_exact(&mut head[1..]).await?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_FRAME {
        let error = FrameError::TooLarge(len);
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
    }
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    Ok(Some(Frame {
        tag: head[0],
        payload: Bytes::from(payload),
    }))
}

/// What the launcher needs to run its one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// Larger STDOUT kills the process: [`Exit::OutputTooLarge`].
    pub max_output_bytes: u64,
    /// Variables added to the container's own (the request's `Http_*`).
    pub env: Vec<(String, String)>,
}

impl Start {
    pub fn encode(&self) -> BytesMut {
        let mut out = BytesMut::new();
        out.put_u64(self.max_output_bytes);
        for (key, value) in &self.env {
            put_text(&mut out, key);
            put_text(&mut out, value);
        }
        out
    }

    pub fn decode(mut payload: Bytes) -> Result<Start, FrameError> {
        let broken = FrameError::Malformed("start");
        if payload.remaining() < 8 {
            return Err(broken);
        }
        let max_output_bytes = payload.get_u64();
        let mut env = Vec::new();
        while payload.has_remaining() {
            let key = take_text(&mut payload).ok_or(broken.clone())?;
            let value = take_text(&mut payload).ok_or(broken.clone())?;
            env.push((key, value));
        }
        Ok(Start {
            max_output_bytes,
            env,
        })
    }
}

fn put_text(out: &mut BytesMut, text: &str) {
    out.put_u32(text.len() as u32);
    out.put_slice(text.as_bytes());
}

fn take_text(payload: &mut Bytes) -> Option<String> {
    if payload.remaining() < 4 {
        return None;
    }
    let len = payload.get_u32() as usize;
    if payload.remaining() < len {
        return None;
    }
    String::from_utf8(payload.split_to(len).to_vec()).ok()
}

/// How the run ended, or why the command could not start (`Err`).
pub fn encode_exit(exit: &Result<Exit, String>) -> BytesMut {
    let mut out = BytesMut::new();
    match exit {
        Ok(Exit::Code(code)) => {
            out.put_u8(0);
            out.put_i32(*code);
        }
        Ok(Exit::Signal(signal)) => {
            out.put_u8(1);
            out.put_i32(*signal);
        }
        Ok(Exit::TimedOut) => out.put_u8(2),
        Ok(Exit::OutputTooLarge) => out.put_u8(3),
        Ok(Exit::InputTooLarge) => out.put_u8(4),
        Ok(Exit::InputFailed(why)) => {
            out.put_u8(5);
            out.put_slice(why.as_bytes());
        }
        Err(why) => {
            out.put_u8(6);
            out.put_slice(why.as_bytes());
        }
    }
    out
}

/// The inverse of [`encode_exit`].
pub fn decode_exit(mut payload: Bytes) -> Result<Result<Exit, String>, FrameError> {
    let broken = FrameError::Malformed("exit");
    if !payload.has_remaining() {
        return Err(broken);
    }
    let kind = payload.get_u8();
    let number = |payload: &mut Bytes| {
        (payload.remaining() == 4)
            .then(|| payload.get_i32())
            .ok_or(broken.clone())
    };
    let text = |payload: &Bytes| String::from_utf8_lossy(payload).into_owned();
    Ok(match kind {
        0 => Ok(Exit::Code(number(&mut payload)?)),
        1 => Ok(Exit::Signal(number(&mut payload)?)),
        2 => Ok(Exit::TimedOut),
        3 => Ok(Exit::OutputTooLarge),
        4 => Ok(Exit::InputTooLarge),
        5 => Ok(Exit::InputFailed(text(&payload))),
        6 => Err(text(&payload)),
        _ => return Err(broken),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_whatever_the_pieces() {
        let mut out = BytesMut::new();
        put(&mut out, READY, b"");
        put_chunks(&mut out, STDOUT, &vec![7u8; CHUNK + 3]);
        let bytes = out.freeze();
        for piece in [1, 3, 4096, bytes.len()] {
            let mut decoder = Decoder::default();
            let mut frames = Vec::new();
            for part in bytes.chunks(piece) {
                decoder.push(part);
                while let Some(frame) = decoder.next_frame().expect("well formed") {
                    frames.push(frame);
                }
            }
            let sizes: Vec<_> = frames.iter().map(|f| (f.tag, f.payload.len())).collect();
            assert_eq!(sizes, [(READY, 0), (STDOUT, CHUNK), (STDOUT, 3)]);
        }
        let mut decoder = Decoder::default();
        decoder.push(&[STDOUT, 0xff, 0xff, 0xff, 0xff]);
        assert!(matches!(decoder.next_frame(), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn start_and_exit_round_trip() {
        let start = Start {
            max_output_bytes: 99,
            env: vec![
                ("Http_X".into(), "a b=c".into()),
                ("E".into(), String::new()),
            ],
        };
        assert_eq!(Start::decode(start.encode().freeze()), Ok(start));
        assert!(Start::decode(Bytes::from_static(b"\0\0\0\0\0\0\0\x01\0\0\0\x09k")).is_err());
        for exit in [
            Ok(Exit::Code(3)),
            Ok(Exit::Signal(9)),
            Ok(Exit::TimedOut),
            Ok(Exit::OutputTooLarge),
            Ok(Exit::InputTooLarge),
            Ok(Exit::InputFailed("x".into())),
            Err("cannot start".to_string()),
        ] {
            assert_eq!(decode_exit(encode_exit(&exit).freeze()), Ok(exit));
        }
        assert!(decode_exit(Bytes::from_static(b"\x09")).is_err());
    }

    #[tokio::test]
    async fn read_stops_cleanly_at_the_end() {
        let mut out = BytesMut::new();
        put(&mut out, INPUT, b"abc");
        let bytes = out.freeze();
        let mut reader = &bytes[..];
        let frame = read(&mut reader).await.expect("read").expect("a frame");
        assert_eq!((frame.tag, &frame.payload[..]), (INPUT, &b"abc"[..]));
        assert!(read(&mut reader).await.expect("read").is_none());
        let mut cut = &bytes[..6];
        assert!(read(&mut cut).await.is_err());
    }
}
