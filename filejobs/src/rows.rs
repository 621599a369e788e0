//! Reading an uploaded sheet row by row, whatever its format: CSV (UTF-8) with the csv crate,
//! xlsx with calamine's streaming cell reader (a row at a time, never the whole sheet), and
//! the old xls (at most 65,536 rows by its format) through calamine's range. Every cell
//! becomes text as a person sees it; empty rows are left out.

use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;

use calamine::{Data, DataRef, Reader, Xls, Xlsx};

/// The formats accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SheetFormat {
    /// Comma-separated text, UTF-8.
    Csv,
    /// Office Open XML workbook.
    Xlsx,
    /// Excel 97–2003 workbook.
    Xls,
}

impl SheetFormat {
    /// The format a file name's extension names, `None` for any other.
    pub fn of_name(name: &str) -> Option<Self> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Self::Csv),
            "xlsx" => Some(Self::Xlsx),
            "xls" => Some(Self::Xls),
            _ => None,
        }
    }

    /// The extension, without its dot.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
            Self::Xls => "xls",
        }
    }
}

/// The most columns a row may have.
pub const MAX_COLUMNS: usize = 256;

/// Why a sheet could not be read, for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// A row of a sheet: its number as the sheet shows it (1 for the first) and its cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetRow {
    /// The row's number in the sheet.
    pub number: u64,
    /// Its cells as text.
    pub cells: Vec<String>,
}

/// Calls `each` with every non-empty row of `path` in order, until it breaks; refuses a sheet
/// that says it has more than `max_rows` rows, or has more, or a row with more than
/// [`MAX_COLUMNS`] columns.
pub fn for_each_row(
    path: &Path,
    format: SheetFormat,
    max_rows: u64,
    mut each: impl FnMut(SheetRow) -> ControlFlow<()>,
) -> Result<(), Unreadable> {
    let open = |e: std::io::Error| Unreadable(format!("the file cannot be opened: {e}"));
    let mut seen = 0u64;
    let mut counted = |row: SheetRow| -> Result<ControlFlow<()>, Unreadable> {
        if row.cells.iter().all(|c| c.trim().is_empty()) {
            return Ok(ControlFlow::Continue(()));
        }
        seen += 1;
        if seen > max_rows.saturating_add(1) {
            return Err(too_many_rows(max_rows));
        }
        Ok(each(row))
    };
    match format {
        SheetFormat::Csv => csv_rows(File::open(path).map_err(open)?, &mut counted),
        SheetFormat::Xlsx => xlsx_rows(File::open(path).map_err(open)?, max_rows, &mut counted),
        SheetFormat::Xls => xls_rows(File::open(path).map_err(open)?, &mut counted),
    }
}

fn too_many_rows(max_rows: u64) -> Unreadable {
    Unreadable(format!(
        "the sheet has more than {max_rows} rows, the most accepted"
    ))
}

fn too_many_columns() -> Unreadable {
    Unreadable(format!("a row has more than {MAX_COLUMNS} columns"))
}

type Each<'a> = dyn FnMut(SheetRow) -> Result<ControlFlow<()>, Unreadable> + 'a;

fn csv_rows(file: File, each: &mut Each<'_>) -> Result<(), Unreadable> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(256 * 1024, file));
    let mut record = csv::StringRecord::new();
    let mut number = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                return Err(Unreadable(match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => format!(
                        "the CSV is not UTF-8 text (row {}): save it as \"CSV UTF-8\"",
                        number + 1
                    ),
                    _ => format!("the CSV cannot be read: {e}"),
                }))
            }
        }
        number += 1;
        if record.len() > MAX_COLUMNS {
            return Err(too_many_columns());
        }
        let mut cells: Vec<String> = record.iter().map(str::to_owned).collect();
        if number == 1 {
            if let Some(first) = cells.first_mut() {
                if let Some(rest) = first.strip_prefix('\u{feff}') {
                    *first = rest.to_owned();
                }
            }
        }
        if each(SheetRow { number, cells })?.is_break() {
            return Ok(());
        }
    }
}

fn xlsx_rows(file: File, max_rows: u64, each: &mut Each<'_>) -> Result<(), Unreadable> {
    let bad = |e: calamine::XlsxError| Unreadable(format!("the workbook cannot be read: {e}"));
    let mut book = Xlsx::new(BufReader::with_capacity(256 * 1024, file)).map_err(bad)?;
    let Some(name) = book.sheet_names().into_iter().next() else {
        return Err(Unreadable("the workbook has no sheet".into()));
    };
    let mut cells = book.worksheet_cells_reader(&name).map_err(bad)?;
    let claimed = u64::from(cells.dimensions().end.0) + 1;
    if claimed > max_rows.saturating_add(1) {
        return Err(Unreadable(format!(
            "the sheet says it has {claimed} rows; at most {max_rows} are accepted"
        )));
    }
    let mut row: Option<SheetRow> = None;
    while let Some(cell) = cells.next_cell().map_err(bad)? {
        let (r, c) = cell.get_position();
        let number = u64::from(r) + 1;
        let column = c as usize;
        if column >= MAX_COLUMNS {
            return Err(too_many_columns());
        }
        if row.as_ref().is_some_and(|row| row.number != number) {
            if let Some(done) = row.take() {
                if each(done)?.is_break() {
                    return Ok(());
                }
            }
        }
        let current = row.get_or_insert_with(|| SheetRow {
            number,
            cells: Vec::new(),
        });
        if current.cells.len() <= column {
            current.cells.resize(column + 1, String::new());
        }
        current.cells[column] = text_of_ref(cell.get_value());
    }
    if let Some(done) = row {
        // The last row: whether the reader would stop after it changes nothing.
        let _ = each(done)?;
    }
    Ok(())
}

fn xls_rows(file: File, each: &mut Each<'_>) -> Result<(), Unreadable> {
    let bad = |e: calamine::XlsError| Unreadable(format!("the workbook cannot be read: {e}"));
    let mut book = Xls::new(BufReader::new(file)).map_err(bad)?;
    let Some(name) = book.sheet_names().into_iter().next() else {
        return Err(Unreadable("the workbook has no sheet".into()));
    };
    let range = book.worksheet_range(&name).map_err(bad)?;
    if range.width() > MAX_COLUMNS {
        return Err(too_many_columns());
    }
    let first = u64::from(range.start().map_or(0, |(r, _)| r));
    let left = range.start().map_or(0, |(_, c)| c) as usize;
    for (offset, cells) in (0u64..).zip(range.rows()) {
        let mut texts = vec![String::new(); left];
        texts.extend(cells.iter().map(text_of));
        let row = SheetRow {
            number: first + offset + 1,
            cells: texts,
        };
        if each(row)?.is_break() {
            return Ok(());
        }
    }
    Ok(())
}

/// A number as a person typed it: whole numbers without a decimal point (a phone number
/// typed into a number cell comes back as its digits).
fn number_text(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        value.to_string()
    }
}

fn date_text(value: &calamine::ExcelDateTime) -> String {
    value
        .as_datetime()
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| value.to_string())
}

fn text_of_ref(value: &DataRef<'_>) -> String {
    match value {
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        DataRef::DateTime(d) => date_text(d),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("#{e}"),
        DataRef::Empty => String::new(),
    }
}

fn text_of(value: &Data) -> String {
    match value {
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::String(s) => s.clone(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_owned(),
        Data::DateTime(d) => date_text(d),
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e}"),
        Data::Empty => String::new(),
    }
}

/// The first `limit` bytes of `path`.
pub fn head(path: &Path, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(limit);
    File::open(path)?
        .take(limit as u64)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
