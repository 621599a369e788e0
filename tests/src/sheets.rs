//! Spreadsheets for the file-management tests: workbooks written with rust_xlsxwriter, read
//! back with calamine, and hostile ones made by rewriting a real workbook's parts (a sheet
//! claiming a billion rows, broken XML) or by packing a zip bomb.

use std::io::{Cursor, Read, Write};

use calamine::{Data, Reader, Xlsx};
use rust_xlsxwriter::Workbook;
use zip::write::SimpleFileOptions;

/// A cell of a written workbook.
#[derive(Debug, Clone, Copy)]
pub enum Cell<'a> {
    /// Text.
    Text(&'a str),
    /// A number cell.
    Number(f64),
    /// Nothing.
    Empty,
}

/// An xlsx of one sheet holding `rows`.
pub fn xlsx_of(rows: &[Vec<Cell<'_>>]) -> anyhow::Result<Vec<u8>> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in (0u32..).zip(rows) {
        for (c, cell) in (0u16..).zip(row) {
            match cell {
                Cell::Text(t) => {
                    sheet.write_string(r, c, *t)?;
                }
                Cell::Number(n) => {
                    sheet.write_number(r, c, *n)?;
                }
                Cell::Empty => {}
            }
        }
    }
    Ok(book.save_to_buffer()?)
}

/// Every row of the first sheet of an xlsx, as text (numbers as calamine shows them).
pub fn rows_of(bytes: &[u8]) -> anyhow::Result<Vec<Vec<String>>> {
    let mut book = Xlsx::new(Cursor::new(bytes.to_vec()))?;
    let name = book
        .sheet_names()
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the workbook has no sheet"))?;
    let range = book.worksheet_range(&name)?;
    Ok(range
        .rows()
        .map(|row| {
            row.iter()
                .map(|cell| match cell {
                    Data::Empty => String::new(),
                    other => other.to_string(),
                })
                .collect()
        })
        .collect())
}

/// The xlsx `bytes` with part `part` changed by `change`.
pub fn rewrite_part(
    bytes: &[u8],
    part: &str,
    change: impl FnOnce(String) -> String,
) -> anyhow::Result<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes.to_vec()))?;
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut change = Some(change);
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        let name = entry.name()?.into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content)?;
        if name == part {
            if let Some(change) = change.take() {
                content = change(String::from_utf8(content)?).into_bytes();
            }
        }
        out.start_file(name, SimpleFileOptions::default())?;
        out.write_all(&content)?;
    }
    Ok(out.finish()?.into_inner())
}

/// A zip named like an xlsx whose one part unpacks to `size` zero bytes.
pub fn zip_bomb(size: usize) -> anyhow::Result<Vec<u8>> {
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    out.start_file(
        "xl/worksheets/sheet1.xml",
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
    )?;
    let block = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(block.len());
        out.write_all(&block[..n])?;
        left -= n;
    }
    Ok(out.finish()?.into_inner())
}
