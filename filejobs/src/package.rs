//! Recording packages (录音包, manual §8.2): the recordings of a filtered call-record list in
//! one zip, stored without compression (audio does not shrink), with an index sheet naming
//! each file's call, caller, called number and time. Pages of records are read while the
//! previous page's recordings are copied on a blocking thread, straight from their files
//! into the zip.

use std::fs::File;
use std::io::{BufWriter, Write};

use projections::CallRecordDoc;
use tokio::sync::mpsc;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::exports::{call_record_pages, local, recording_name};
use crate::job::{JobContext, JobFailure};
use crate::sheet::SheetWriter;
use crate::spec::CallRecordsSpec;

/// The index sheet's name inside the package.
pub const INDEX_NAME: &str = "索引.xlsx";

const INDEX_TITLES: &[&str] = &["通话ID", "主叫", "被叫", "通话时间", "时长(秒)", "文件名"];

fn zip_failure(error: zip::result::ZipError) -> JobFailure {
    JobFailure(format!("the package could not be written: {error}"))
}

/// Packs the recordings of the call records `spec` names; returns how many it packed.
pub async fn package(ctx: &JobContext, spec: &CallRecordsSpec) -> Result<u64, JobFailure> {
    let spec = CallRecordsSpec {
        recorded: Some(true),
        ..spec.clone()
    };
    let (sender, mut receiver) = mpsc::channel::<Vec<CallRecordDoc>>(2);
    let partial = ctx.partial.clone();
    let scratch = ctx.scratch.clone();
    let data_dir = ctx.node.data_dir.clone();
    let counter = ctx.counter.clone();
    let tz = ctx.time_zone;
    let writer = tokio::task::spawn_blocking(move || -> Result<u64, JobFailure> {
        let file = File::create(&partial).map_err(JobFailure::io)?;
        let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, file));
        let stored = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(true);
        let mut index =
            SheetWriter::new("录音索引", INDEX_TITLES, &scratch).map_err(JobFailure::sheet)?;
        let mut packed = 0u64;
        while let Some(records) = receiver.blocking_recv() {
            for record in &records {
                counter.add(1);
                let Some(recording) = &record.recording else {
                    continue;
                };
                if recording
                    .split('/')
                    .any(|part| part == ".." || part.is_empty())
                {
                    continue;
                }
                let Ok(mut audio) = File::open(data_dir.join(recording)) else {
                    continue;
                };
                let name = recording_name(tz, record);
                zip.start_file(name.as_str(), stored).map_err(zip_failure)?;
                std::io::copy(&mut audio, &mut zip).map_err(JobFailure::io)?;
                let row = [
                    record.id.to_string(),
                    record.caller.clone(),
                    record.called.clone(),
                    local(tz, record.started_at),
                    record.duration_seconds().to_string(),
                    name,
                ];
                index.push(&row).map_err(JobFailure::sheet)?;
                packed += 1;
            }
        }
        let index_path = scratch.join("index.xlsx");
        index.save(&index_path).map_err(JobFailure::sheet)?;
        zip.start_file(INDEX_NAME, stored).map_err(zip_failure)?;
        std::io::copy(
            &mut File::open(&index_path).map_err(JobFailure::io)?,
            &mut zip,
        )
        .map_err(JobFailure::io)?;
        let mut out = zip.finish().map_err(zip_failure)?;
        out.flush().map_err(JobFailure::io)?;
        Ok(packed)
    });
    let produced = call_record_pages(ctx, &spec, |records| {
        let sender = sender.clone();
        async move {
            sender
                .send(records)
                .await
                .map_err(|_| JobFailure("the package writer stopped".into()))
        }
    })
    .await;
    drop(sender);
    let packed = writer
        .await
        .map_err(|e| JobFailure(format!("the package writer stopped: {e}")))?;
    produced?;
    packed
}
