//! What `faas` lets reach a terminal. Text that a function, a caller or a
//! deployer chose is printed with its control characters spelled out, so it
//! can neither drive the terminal (clear it, retitle it, move the cursor) nor
//! forge a line of output.
//!
//! The rule: C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F) are
//! written as text — `\n`, `\r` and `\t` by name, the other C0 and DEL as
//! `\xHH`, C1 as `\u{HH}`. One-line fields ([`line`]: log fields, table
//! cells, names, messages) keep none of them, tab and newline included. A
//! multi-line body ([`Body`]: a call's output on a terminal) keeps newline,
//! tab and a CR directly before a newline, and shows bytes that are not UTF-8
//! as `\xHH`. Everything else, backslashes included, is printed as it is: the
//! escapes are for reading, not a reversible encoding.

use std::fmt::Write as _;
use std::io::{self, Write};

/// `s` as one line: every control character escaped.
pub fn line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push(&mut out, c);
    }
    out
}

/// JSON text with DEL and C1 written as `\u00HH`: the same JSON (they can only
/// be inside its strings), printable. C0 is escaped by the JSON writer.
pub fn json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\u{7f}'..='\u{9f}') {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// C0, DEL and C1.
fn is_control(c: char) -> bool {
    matches!(c, '\0'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Pushes `c`, escaped if it is a control character.
fn push(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if c.is_ascii_control() => {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        }
        c if is_control(c) => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
        c => out.push(c),
    }
}

/// A multi-line body escaped as it streams: bytes in, printable text out.
/// A UTF-8 character or a `\r\n` split across chunks is held until the next
/// chunk; the output is the same however the body is cut.
#[derive(Debug, Default)]
pub struct Body {
    /// The end of the last chunk: an unfinished character or a lone CR.
    pending: Vec<u8>,
}

impl Body {
    /// The text for `chunk`, less what must wait for the next one.
    pub fn push(&mut self, chunk: &[u8]) -> String {
        let mut bytes = std::mem::take(&mut self.pending);
        bytes.extend_from_slice(chunk);
        let mut out = String::with_capacity(bytes.len());
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let (valid, after) = match std::str::from_utf8(rest) {
                Ok(s) => (s, &rest[rest.len()..]),
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // The prefix is valid UTF-8, as the error says.
                    (std::str::from_utf8(valid).unwrap_or_default(), after)
                }
            };
            let at_end = after.is_empty();
            let mut chars = valid.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, chars.peek()) {
                    ('\r', Some('\n')) => out.push('\r'),
                    ('\r', None) if at_end => self.pending.push(b'\r'),
                    ('\n' | '\t', _) => out.push(c),
                    (c, _) => push(&mut out, c),
                }
            }
            rest = after;
            if rest.is_empty() {
                break;
            }
            match std::str::from_utf8(rest) {
                // An unfinished character at the end: wait for the rest.
                Err(e) if e.error_len().is_none() && e.valid_up_to() == 0 => {
                    self.pending.extend_from_slice(rest);
                    break;
                }
                _ => {
                    let _ = write!(out, "\\x{:02x}", rest[0]);
                    rest = &rest[1..];
                }
            }
        }
        out
    }

    /// What was held back, now that the body has ended.
    pub fn finish(&mut self) -> String {
        let pending = std::mem::take(&mut self.pending);
        let mut out = String::new();
        for b in pending {
            match b {
                b'\r' => out.push_str("\\r"),
                b => {
                    let _ = write!(out, "\\x{b:02x}");
                }
            }
        }
        out
    }
}

/// A writer that escapes what goes through it as a [`Body`]; call
/// [`Terminal::finish`] at the end of the body.
pub struct Terminal<'a> {
    inner: &'a mut dyn Write,
    body: Body,
}

impl<'a> Terminal<'a> {
    pub fn new(inner: &'a mut dyn Write) -> Terminal<'a> {
        Terminal {
            inner,
            body: Body::default(),
        }
    }

    /// Writes what was held back and flushes.
    pub fn finish(mut self) -> io::Result<()> {
        let rest = self.body.finish();
        self.inner.write_all(rest.as_bytes())?;
        self.inner.flush()
    }
}

impl Write for Terminal<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = self.body.push(buf);
        self.inner.write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &[u8]) -> String {
        let mut b = Body::default();
        let mut out = b.push(bytes);
        out.push_str(&b.finish());
        out
    }

    #[test]
    fn one_line_keeps_no_control_character() {
        assert_eq!(
            line("plain text, ünïcode ✓ \\x1b"),
            "plain text, ünïcode ✓ \\x1b"
        );
        assert_eq!(
            line("\x1b]0;owned\x07\x1b[2J\rA\nB\tC\x08\x7f\0"),
            "\\x1b]0;owned\\x07\\x1b[2J\\rA\\nB\\tC\\x08\\x7f\\x00"
        );
        assert_eq!(
            line("\u{80}\u{9b}2J\u{9f}\u{a0}"),
            "\\u{80}\\u{9b}2J\\u{9f}\u{a0}"
        );
        let forged = line("x\n2017-03-16T15:05:58Z [FINISHED] CallId: fake");
        assert!(!forged.contains('\n'), "{forged}");
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            let shown = line(&c.to_string());
            assert!(!shown.chars().any(is_control), "{c:?} gave {shown:?}");
        }
    }

    #[test]
    fn json_stays_json_and_printable() {
        let value = serde_json::json!({"k\u{9b}": "a\u{7f}\u{85}\x1b\nb"});
        let text = json(&serde_json::to_string_pretty(&value).unwrap());
        assert!(!text.chars().any(|c| is_control(c) && c != '\n'), "{text}");
        assert!(
            text.contains("\\u009b") && text.contains("\\u007f"),
            "{text}"
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn a_body_keeps_its_lines_and_tabs() {
        assert_eq!(body(b"a\tb\nc\r\nd\n"), "a\tb\nc\r\nd\n");
        assert_eq!(
            body(b"\x1b[2Jprogress\r50%\x07\x08\x7f"),
            "\\x1b[2Jprogress\\r50%\\x07\\x08\\x7f"
        );
        assert_eq!(body("\u{9b}31m é".as_bytes()), "\\u{9b}31m é");
        // Not UTF-8: each such byte shown, the rest kept.
        assert_eq!(body(b"\x9b\xff ok \xe2\x82"), "\\x9b\\xff ok \\xe2\\x82");
        assert_eq!(body(b"end\r"), "end\\r");
    }

    #[test]
    fn a_body_reads_the_same_however_it_is_cut() {
        let whole = "a\r\nb\rc é ✓ \u{9b}\x1b\n".as_bytes();
        let mut bytes = whole.to_vec();
        bytes.extend_from_slice(b"\xe2\x82 z\r");
        let expected = body(&bytes);
        for cut in 0..=bytes.len() {
            for second in cut..=bytes.len() {
                let mut b = Body::default();
                let mut out = b.push(&bytes[..cut]);
                out.push_str(&b.push(&bytes[cut..second]));
                out.push_str(&b.push(&bytes[second..]));
                out.push_str(&b.finish());
                assert_eq!(out, expected, "cut at {cut} and {second}");
            }
        }
    }

    #[test]
    fn the_terminal_writer_escapes_and_finishes() {
        let mut out = Vec::new();
        let mut tty = Terminal::new(&mut out);
        tty.write_all(b"hi\x1b[2J\r").unwrap();
        tty.write_all(b"\nbye\r").unwrap();
        tty.finish().unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "hi\\x1b[2J\r\nbye\\r");
    }
}
