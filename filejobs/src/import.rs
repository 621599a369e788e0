//! Imports (导入, manual §8.1.3): the rows of an uploaded sheet into a target, through a
//! column mapping. Each row is checked against the target's fields (a required value missing,
//! a number that is not a phone number, a value too long), its phone number is its key for
//! duplicates (skip, or overwrite), and the target takes it. Rejected rows go to a sheet of
//! their own with the reason, which is the import's file. Rows are streamed; what grows with
//! the file is one 8-byte key per distinct number.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::path::Path;

use uuid::Uuid;

use crate::job::{JobContext, JobFailure, JobOutput};
use crate::rows::{for_each_row, SheetFormat, SheetRow};
use crate::sheet::SheetWriter;
use crate::spec::{ColumnMapping, Duplicates};
use domain::data_file::ImportCounts;

/// What a target field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A phone number, normalized; the first such field is the row's key.
    Phone,
    /// Free text.
    Text,
}

/// A field a target takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetField {
    /// Its name in the API's mapping.
    pub name: &'static str,
    /// Its title, as the screens show it.
    pub title: &'static str,
    /// Whether a row must have it.
    pub required: bool,
    /// What it holds.
    pub kind: FieldKind,
    /// Longest value, in characters.
    pub max_chars: usize,
}

/// What a target did with a valid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Imported (or overwrote what was there).
    Imported,
    /// Skipped, with the reason.
    Skipped(String),
    /// Refused, with the reason.
    Rejected(String),
}

/// Where imported rows go. Targets run on a blocking thread; one that writes through the
/// node batches its rows and blocks on the runtime's handle.
pub trait ImportTarget: Send {
    /// Its fields, in the order `take` gets their values.
    fn fields(&self) -> &'static [TargetField];
    /// Takes a checked row: its key (the normalized phone number) and its values.
    fn take(&mut self, key: &str, values: &[String], duplicates: Duplicates) -> Taken;
    /// Called once every row was offered.
    fn finish(&mut self) -> Result<(), JobFailure> {
        Ok(())
    }
}

/// A target's description, for the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetInfo {
    /// Its name.
    pub name: &'static str,
    /// Its title.
    pub title: &'static str,
    /// Its fields.
    pub fields: &'static [TargetField],
}

const CHECK_FIELDS: &[TargetField] = &[
    TargetField {
        name: "number",
        title: "号码",
        required: true,
        kind: FieldKind::Phone,
        max_chars: 32,
    },
    TargetField {
        name: "name",
        title: "姓名",
        required: false,
        kind: FieldKind::Text,
        max_chars: 50,
    },
    TargetField {
        name: "remark",
        title: "备注",
        required: false,
        kind: FieldKind::Text,
        max_chars: 200,
    },
];

/// The targets there are. `check` takes nothing: it reports what an import of numbers would
/// do (a dry run); the CRM and outbound tasks add theirs.
pub const TARGETS: &[TargetInfo] = &[TargetInfo {
    name: "check",
    title: "检查（不写入）",
    fields: CHECK_FIELDS,
}];

/// The dry run: every valid row counts as imported.
struct Check;

impl ImportTarget for Check {
    fn fields(&self) -> &'static [TargetField] {
        CHECK_FIELDS
    }

    fn take(&mut self, _key: &str, _values: &[String], _duplicates: Duplicates) -> Taken {
        Taken::Imported
    }
}

/// The target named `name`.
pub fn target(name: &str) -> Option<Box<dyn ImportTarget>> {
    match name {
        "check" => Some(Box::new(Check)),
        _ => None,
    }
}

/// Whether `mapping` fits `target` and a file of `columns`; the error names the problem.
pub fn check_mapping(
    target: &TargetInfo,
    mapping: &[ColumnMapping],
    columns: usize,
) -> Result<(), String> {
    let mut mapped = HashSet::new();
    for m in mapping {
        let Some(field) = target.fields.iter().find(|f| f.name == m.field) else {
            return Err(format!("{} has no field {}", target.name, m.field));
        };
        if m.column >= columns {
            return Err(format!(
                "{} is mapped to column {}, but the file has {columns} columns",
                field.name,
                m.column + 1
            ));
        }
        if !mapped.insert(field.name) {
            return Err(format!("{} is mapped twice", field.name));
        }
    }
    match target
        .fields
        .iter()
        .find(|f| f.required && !mapped.contains(f.name))
    {
        Some(missing) => Err(format!(
            "the required field {} ({}) is not mapped to a column",
            missing.name, missing.title
        )),
        None => Ok(()),
    }
}

/// The first `rows` rows of a sheet, the titles included.
pub fn preview(path: &Path, format: SheetFormat, rows: usize) -> Result<Vec<SheetRow>, String> {
    let mut found = Vec::new();
    for_each_row(path, format, u64::MAX - 1, |row| {
        found.push(row);
        if found.len() > rows {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .map_err(|e| e.0)?;
    Ok(found)
}

/// The key of a normalized number: its digits as one integer (E.164 has at most 15).
fn key_of(e164: &str) -> Option<u64> {
    e164.trim_start_matches('+').parse().ok()
}

/// Checks a row's mapped values against the fields: the values in field order and the key,
/// or the reason it is rejected.
fn checked(
    fields: &[TargetField],
    mapping: &[Option<usize>],
    cells: &[String],
) -> Result<(Vec<String>, Option<String>), String> {
    let mut values = Vec::with_capacity(fields.len());
    let mut key = None;
    for (field, column) in fields.iter().zip(mapping) {
        let raw = column
            .and_then(|c| cells.get(c))
            .map(|s| s.trim())
            .unwrap_or_default();
        if raw.is_empty() {
            if field.required {
                return Err(format!("缺少必填项：{}", field.title));
            }
            values.push(String::new());
            continue;
        }
        if raw.chars().count() > field.max_chars {
            return Err(format!("{}超过 {} 个字符", field.title, field.max_chars));
        }
        match field.kind {
            FieldKind::Phone => {
                let number = domain::phone::normalize(field.name, raw)
                    .map_err(|_| format!("{}不是有效的电话号码：{raw}", field.title))?;
                if key.is_none() {
                    key = Some(number.clone());
                }
                values.push(number);
            }
            FieldKind::Text => values.push(raw.to_owned()),
        }
    }
    Ok((values, key))
}

/// Runs an import of file `source` of `tenant` into `target_name`.
pub async fn run_import(
    ctx: &JobContext,
    tenant: Uuid,
    source: Uuid,
    target_name: &str,
    mapping: &[ColumnMapping],
    duplicates: Duplicates,
) -> Result<JobOutput, JobFailure> {
    let doc = ctx
        .node
        .models
        .of(projections::DATA_FILES)
        .by_id(source)
        .filter(|d| d.enterprise_id == tenant)
        .ok_or_else(|| JobFailure("the uploaded file was deleted".into()))?;
    let file = doc
        .file
        .clone()
        .ok_or_else(|| JobFailure("the uploaded file has no content".into()))?;
    let format = SheetFormat::of_name(&file)
        .ok_or_else(|| JobFailure("the uploaded file is not a sheet".into()))?;
    let mut target = crate::import::target(target_name)
        .ok_or_else(|| JobFailure(format!("there is no import target {target_name}")))?;
    let fields = target.fields();
    let columns: Vec<Option<usize>> = fields
        .iter()
        .map(|f| mapping.iter().find(|m| m.field == f.name).map(|m| m.column))
        .collect();
    ctx.counter.total(doc.rows);
    let path = ctx.node.data_dir.join(&file);
    let partial = ctx.partial.clone();
    let scratch = ctx.scratch.clone();
    let counter = ctx.counter.clone();
    let max_rows = ctx.max_rows;
    let source_titles = doc.columns.clone();
    tokio::task::spawn_blocking(move || -> Result<JobOutput, JobFailure> {
        let mut titles: Vec<String> = vec!["行号".to_owned()];
        titles.extend(source_titles);
        titles.push("原因".to_owned());
        let width = titles.len();
        let mut report =
            SheetWriter::new("未导入的行", &titles, &scratch).map_err(JobFailure::sheet)?;
        let mut counts = ImportCounts::default();
        let mut seen: HashSet<u64> = HashSet::new();
        let mut first = true;
        let mut pending = 0u64;
        let mut failure: Option<JobFailure> = None;
        let reject = |row: &SheetRow, reason: String, report: &mut SheetWriter| {
            let mut cells = Vec::with_capacity(row.cells.len() + 2);
            cells.push(row.number.to_string());
            cells.extend(row.cells.iter().cloned());
            cells.resize(width - 1, String::new());
            cells.push(reason);
            report.push(&cells).map_err(JobFailure::sheet)
        };
        let read = for_each_row(&path, format, max_rows, |row| {
            if first {
                first = false;
                return ControlFlow::Continue(());
            }
            pending += 1;
            if pending == 1_000 {
                counter.add(pending);
                pending = 0;
            }
            let outcome = match checked(fields, &columns, &row.cells) {
                Err(reason) => Err(reason),
                Ok((values, key)) => {
                    let key = key.unwrap_or_default();
                    let fresh = key_of(&key).is_none_or(|k| seen.insert(k));
                    if !fresh && duplicates == Duplicates::Skip {
                        Ok(Taken::Skipped("号码重复".into()))
                    } else {
                        Ok(target.take(&key, &values, duplicates))
                    }
                }
            };
            let written = match outcome {
                Ok(Taken::Imported) => {
                    counts.imported += 1;
                    Ok(())
                }
                Ok(Taken::Skipped(_)) => {
                    counts.skipped += 1;
                    Ok(())
                }
                Ok(Taken::Rejected(reason)) | Err(reason) => {
                    counts.rejected += 1;
                    reject(&row, reason, &mut report)
                }
            };
            match written {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        });
        counter.add(pending);
        read.map_err(|e| JobFailure(e.0))?;
        if let Some(failure) = failure {
            return Err(failure);
        }
        target.finish()?;
        report.save(&partial).map_err(JobFailure::sheet)?;
        Ok(JobOutput {
            rows: counts.rejected,
            counts: Some(counts),
        })
    })
    .await
    .map_err(|e| JobFailure(format!("the import stopped: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn each_kind_of_bad_row_is_named() {
        let mapping = [Some(0), Some(1), None];
        assert_eq!(
            checked(CHECK_FIELDS, &mapping, &row(&["", "张三"])),
            Err("缺少必填项：号码".to_owned())
        );
        assert_eq!(
            checked(CHECK_FIELDS, &mapping, &row(&["abc", "张三"])),
            Err("号码不是有效的电话号码：abc".to_owned())
        );
        let long = "名".repeat(51);
        assert_eq!(
            checked(CHECK_FIELDS, &mapping, &row(&["13800138000", &long])),
            Err("姓名超过 50 个字符".to_owned())
        );
        assert_eq!(
            checked(CHECK_FIELDS, &mapping, &row(&["013800138000", "张三"])),
            Ok((
                row(&["+8613800138000", "张三", ""]),
                Some("+8613800138000".to_owned())
            ))
        );
    }

    #[test]
    fn a_mapping_must_name_known_fields_existing_columns_and_every_required_field() {
        let check = &TARGETS[0];
        let m = |field: &str, column| ColumnMapping {
            field: field.into(),
            column,
        };
        assert!(check_mapping(check, &[m("number", 0)], 2).is_ok());
        assert!(check_mapping(check, &[m("name", 0)], 2)
            .is_err_and(|e| e.contains("required field number")));
        assert!(check_mapping(check, &[m("number", 2)], 2).is_err_and(|e| e.contains("column 3")));
        assert!(check_mapping(check, &[m("age", 0)], 2).is_err_and(|e| e.contains("no field age")));
        assert!(check_mapping(check, &[m("number", 0), m("number", 1)], 2)
            .is_err_and(|e| e.contains("twice")));
    }
}
