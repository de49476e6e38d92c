//! The `resizer` sample function: a PNG or JPEG on STDIN, the same picture at
//! half its width and height, in the same format, on STDOUT. The seed's
//! `cat picture.jpg | faas func call --sync resizer > small.jpg`.
#![forbid(unsafe_code)]

use std::io::{Cursor, Read, Write};
use std::process::ExitCode;

use image::imageops::FilterType;
use image::ImageFormat;

fn main() -> ExitCode {
    match resize() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("resizer: {err}");
            ExitCode::FAILURE
        }
    }
}

fn resize() -> Result<(), String> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| format!("cannot read STDIN: {e}"))?;
    let format = image::guess_format(&input)
        .map_err(|_| "STDIN is not a PNG or JPEG picture".to_string())?;
    let picture = image::load_from_memory_with_format(&input, format)
        .map_err(|e| format!("cannot decode the picture: {e}"))?;
    let (width, height) = (picture.width().div_ceil(2), picture.height().div_ceil(2));
    let small = picture.resize_exact(width.max(1), height.max(1), FilterType::Triangle);
    let mut output = Cursor::new(Vec::new());
    let format = if format == ImageFormat::Jpeg { ImageFormat::Jpeg } else { ImageFormat::Png };
    small
        .write_to(&mut output, format)
        .map_err(|e| format!("cannot encode the picture: {e}"))?;
    std::io::stdout()
        .write_all(output.get_ref())
        .map_err(|e| format!("cannot write STDOUT: {e}"))
}
