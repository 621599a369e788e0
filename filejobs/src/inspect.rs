//! Checking an uploaded sheet before it is kept (文件上传, manual §8.1.1): the name's
//! extension must be one accepted and the content must be that format (a PNG renamed .xlsx is
//! refused); an xlsx is unpacked once into nothing, counting, so a zip bomb is refused before
//! calamine reads it; then every row is read once, which finds malformed XML, a sheet claiming
//! more rows than allowed and rows beyond the limit. What passes is described by its rows and
//! its column titles (the first row).

use std::io::Read;
use std::ops::ControlFlow;
use std::path::Path;

use crate::rows::{for_each_row, head, SheetFormat, Unreadable};

/// What an upload may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest file in bytes.
    pub max_bytes: u64,
    /// Most data rows (the title row not counted).
    pub max_rows: u64,
    /// Most bytes an xlsx may unpack to, all its parts together.
    pub max_unpacked_bytes: u64,
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self {
            max_bytes: 100 * 1024 * 1024,
            max_rows: 1_000_000,
            max_unpacked_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}

/// A sheet that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Its format.
    pub format: SheetFormat,
    /// Data rows (non-empty rows after the first).
    pub rows: u64,
    /// The first row's cells: the column titles.
    pub columns: Vec<String>,
}

const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// Checks the file at `path`, uploaded as `name`; the error says what is wrong.
pub fn inspect(path: &Path, name: &str, limits: UploadLimits) -> Result<Inspected, Unreadable> {
    let format = SheetFormat::of_name(name)
        .ok_or_else(|| Unreadable("only .xlsx, .xls and .csv files are accepted".into()))?;
    let size = std::fs::metadata(path)
        .map_err(|e| Unreadable(format!("the upload cannot be read: {e}")))?
        .len();
    if size > limits.max_bytes {
        return Err(Unreadable(format!(
            "the file is larger than {} MiB",
            limits.max_bytes >> 20
        )));
    }
    let start =
        head(path, 8192).map_err(|e| Unreadable(format!("the upload cannot be read: {e}")))?;
    let named = format.extension();
    let content_ok = match format {
        SheetFormat::Xlsx => start.starts_with(&ZIP_MAGIC),
        SheetFormat::Xls => start.starts_with(&OLE_MAGIC),
        SheetFormat::Csv => !start.contains(&0) && !start.is_empty(),
    };
    if !content_ok {
        return Err(Unreadable(format!(
            "the file is named .{named} but is not {}",
            match format {
                SheetFormat::Xlsx => "an xlsx workbook",
                SheetFormat::Xls => "an Excel 97-2003 workbook",
                SheetFormat::Csv => "CSV text",
            }
        )));
    }
    if format == SheetFormat::Xlsx {
        unpack_counting(path, limits.max_unpacked_bytes)?;
    }
    let mut columns: Option<Vec<String>> = None;
    let mut rows = 0u64;
    for_each_row(path, format, limits.max_rows, |row| {
        if columns.is_none() {
            columns = Some(row.cells);
        } else {
            rows += 1;
        }
        ControlFlow::Continue(())
    })?;
    let mut columns = columns.ok_or_else(|| Unreadable("the sheet is empty".into()))?;
    while columns.last().is_some_and(|c| c.trim().is_empty()) {
        columns.pop();
    }
    Ok(Inspected {
        format,
        rows,
        columns,
    })
}

/// Unpacks every part of the zip at `path` into nothing, refusing it once the parts together
/// declare or unpack to more than `max` bytes.
fn unpack_counting(path: &Path, max: u64) -> Result<(), Unreadable> {
    let bomb = || {
        Unreadable(format!(
            "the workbook unpacks to more than {} MiB (a zip bomb?)",
            max >> 20
        ))
    };
    let file = std::fs::File::open(path)
        .map_err(|e| Unreadable(format!("the upload cannot be read: {e}")))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| Unreadable(format!("the workbook is not a valid xlsx (zip): {e}")))?;
    if archive.len() > 10_000 {
        return Err(Unreadable("the workbook has more than 10000 parts".into()));
    }
    let mut declared = 0u64;
    for index in 0..archive.len() {
        let part = archive
            .by_index_raw(index)
            .map_err(|e| Unreadable(format!("the workbook is not a valid xlsx (zip): {e}")))?;
        declared = declared.saturating_add(part.size());
    }
    if declared > max {
        return Err(bomb());
    }
    let mut unpacked = 0u64;
    let mut buffer = vec![0u8; 64 * 1024];
    for index in 0..archive.len() {
        let mut part = archive
            .by_index(index)
            .map_err(|e| Unreadable(format!("the workbook is not a valid xlsx (zip): {e}")))?;
        loop {
            let n = part
                .read(&mut buffer)
                .map_err(|e| Unreadable(format!("the workbook is damaged: {e}")))?;
            if n == 0 {
                break;
            }
            unpacked += n as u64;
            if unpacked > max {
                return Err(bomb());
            }
        }
    }
    Ok(())
}
